//! Builds the small C bridge to FFmpeg's libraries (`csrc/gas_av.c`) when the `ffmpeg-libs`
//! feature is on, linking libavformat/libavcodec/libavfilter/libavutil found by pkg-config
//! (Debian: `apt-get install libavformat-dev libavfilter-dev pkg-config`).

fn main() {
    println!("cargo:rerun-if-changed=csrc/gas_av.c");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_FFMPEG_LIBS").is_none() {
        return;
    }
    let mut build = cc::Build::new();
    for lib in ["libavformat", "libavcodec", "libavfilter", "libavutil"] {
        let found = pkg_config::Config::new()
            .atleast_version(match lib {
                "libavformat" => "58.29.100", // FFmpeg 4.2 or newer
                _ => "0",
            })
            .probe(lib)
            .unwrap_or_else(|e| {
                panic!(
                    "gas-media's `ffmpeg-libs` feature needs FFmpeg's development files ({lib}: \
                     {e}). Install them (Debian/Ubuntu: `apt-get install pkg-config \
                     libavformat-dev libavcodec-dev libavfilter-dev libavutil-dev`) or build \
                     with `--no-default-features --features jpeg-simd` to use the ffmpeg \
                     command instead."
                )
            });
        for p in found.include_paths {
            build.include(p);
        }
    }
    build
        .file("csrc/gas_av.c")
        .flag_if_supported("-std=c11")
        .warnings(true)
        .compile("gas_av");
}
