//! `gascli d preprocess --model PATH MEDIA... -o OUT.npy`: the exact batch tensor a model
//! receives for some media files, as NumPy `.npy` (`gas_bench::preprocess`).

use std::path::PathBuf;
use std::process::ExitCode;

use gas_bench::media_options::{DecodeFlags, Dtype};
use gas_bench::preprocess::{PreprocessError, PreprocessOptions, preprocess_files};
use gas_package::Modality;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model package directory or ZIP, or its `model_config.yaml`: supplies the modality and
    /// `preprocessing` as the network reads it (resize; video num_frames / max_frames, capped at
    /// 64, frame_rate; audio is always 16 kHz × 6 s).
    #[arg(long)]
    pub model: PathBuf,
    /// Media files, in batch order.
    #[arg(required = true)]
    pub media: Vec<PathBuf>,
    /// Output `.npy` file (written atomically).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Images: faster decode for local iteration. NOT network-exact.
    #[arg(long)]
    pub fast_decode: bool,
    /// Images: apply the EXIF orientation tag. NOT what the network does.
    #[arg(long)]
    pub exif: bool,
    /// Images: skip the network's cache step (JPEG/WebP re-encoded as Pillow's save() before
    /// decoding) and decode the original bytes. NOT network-exact.
    #[arg(long)]
    pub no_reencode: bool,
    /// The robustness pass's degraded tensor instead of the base one: images through the
    /// network's chain (INTER_AREA ×0.5 and back, JPEG q55, WebP q75, JPEG q80), videos through
    /// its H.264 round trip (INTER_AREA ×0.5, libx264 CRF 23 via the ffmpeg command), then the
    /// crop + resize. Audio has no such pass (refused).
    #[arg(long)]
    pub augment: bool,
}

fn shape_str(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = PreprocessOptions {
        model: args.model,
        media: args.media,
        output: args.output,
        decode: DecodeFlags {
            fast_decode: args.fast_decode,
            apply_exif: args.exif,
            reencode: !args.no_reencode,
        },
        augment: args.augment,
    };
    let out = match preprocess_files(&opts) {
        Ok(out) => out,
        Err(PreprocessError::Samples(failures)) => {
            for (p, e) in &failures {
                eprintln!("error: {}: {e}", p.display());
            }
            eprintln!("{}", PreprocessError::Samples(failures));
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    let o = &out.options;
    let shape = shape_str(&out.shape);
    let path = opts.output.display();
    match (o.modality, out.dtype) {
        (Modality::Audio, _) | (_, Dtype::F32) => println!(
            "wrote {path}: float32 {shape} (audio, {} Hz × {} s)",
            o.audio.sample_rate, o.audio.duration_seconds
        ),
        (modality, Dtype::U8) => {
            if modality == Modality::Video && (opts.decode != DecodeFlags::default()) {
                eprintln!(
                    "note: --fast-decode / --exif / --no-reencode apply to images only; ignored"
                );
            }
            let image = modality == Modality::Image;
            let how = if image && opts.decode.fast_decode {
                "fast decode: NOT network-exact"
            } else if image && !opts.decode.reencode {
                "direct path without the cache step: NOT network-exact"
            } else if opts.augment {
                "the robustness pass's degraded input"
            } else {
                "network preprocessing"
            };
            println!("wrote {path}: uint8 {shape} ({modality} {how})");
        }
    }
    Ok(ExitCode::SUCCESS)
}
