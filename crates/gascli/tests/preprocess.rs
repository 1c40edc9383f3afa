//! `gascli d preprocess`: writes the model's batch tensor as .npy; bad input fails clearly.

use std::path::Path;
use std::process::Command;

use gas_media::npy::{self, NpyData};

fn gascli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gascli"))
}

fn write_config(dir: &Path, modality: &str, pre: &str) {
    std::fs::write(
        dir.join("model_config.yaml"),
        format!(
            "name: test-model\nversion: 1.0.0\nmodality: {modality}\npreprocessing:\n{pre}model:\n  num_classes: 2\n"
        ),
    )
    .unwrap();
}

fn png(path: &Path, w: u32, h: u32, seed: u8) {
    let mut data = Vec::new();
    for y in 0..h {
        for x in 0..w {
            data.extend([
                (x as u8).wrapping_mul(3),
                (y as u8).wrapping_add(seed),
                seed,
            ]);
        }
    }
    gas_media::RgbImage::from_raw(w, h, data)
        .unwrap()
        .save(path)
        .unwrap();
}

#[test]
fn image_batch_matches_library_and_shape() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "image", "  resize: [48, 64]\n");
    let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
    png(&a, 120, 90, 1);
    png(&b, 33, 77, 200);
    let out = dir.path().join("batch.npy");
    let o = gascli()
        .args(["d", "preprocess", "--model"])
        .arg(dir.path())
        .arg(&a)
        .arg(&b)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("[2, 3, 48, 64]"));
    let t = npy::read(&out).unwrap();
    assert_eq!(t.shape, vec![2, 3, 48, 64]);
    let NpyData::U8(data) = t.data else {
        panic!("dtype")
    };
    let opts = gas_media::ImageOptions {
        size: [48, 64],
        ..Default::default()
    };
    let mut want = gas_media::preprocess_image(&std::fs::read(&a).unwrap(), &opts).unwrap();
    want.extend(gas_media::preprocess_image(&std::fs::read(&b).unwrap(), &opts).unwrap());
    assert_eq!(data, want);
}

#[test]
fn corrupt_file_fails_with_its_name_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "image", "  resize: [32, 32]\n");
    let good = dir.path().join("good.png");
    png(&good, 40, 40, 9);
    let bad = dir.path().join("bad.jpg");
    std::fs::write(&bad, b"\xFF\xD8\xFF\xE0 truncated").unwrap();
    let out = dir.path().join("x.npy");
    let o = gascli()
        .args(["d", "preprocess", "--model"])
        .arg(dir.path().join("model_config.yaml"))
        .arg(&good)
        .arg(&bad)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.jpg") && err.contains("JPEG"), "{err}");
    assert!(!err.contains("good.png"), "{err}");
    assert!(!out.exists());
}

#[test]
fn missing_config_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("a.png");
    png(&img, 10, 10, 0);
    let o = gascli()
        .args(["d", "preprocess", "--model"])
        .arg(dir.path())
        .arg(&img)
        .arg("-o")
        .arg(dir.path().join("o.npy"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("model_config.yaml"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn audio_batch_is_float32_n_by_samples() {
    if Command::new("ffmpeg").arg("-version").output().is_err() {
        if std::env::var_os("CI").is_some() {
            panic!("CI is set but ffmpeg is missing");
        }
        eprintln!("skipped: no ffmpeg");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "audio",
        "  sample_rate: 8000\n  duration_seconds: 0.5\n",
    );
    let wav = dir.path().join("tone.wav");
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
        .arg("sine=frequency=300:sample_rate=44100:duration=1")
        .arg(&wav)
        .status()
        .unwrap();
    assert!(st.success());
    let out = dir.path().join("a.npy");
    let o = gascli()
        .args(["d", "preprocess", "--model"])
        .arg(dir.path())
        .arg(&wav)
        .arg(&wav)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = npy::read(&out).unwrap();
    // the network always feeds 16 kHz × 6 s, whatever the config says (8000 Hz × 0.5 s here)
    assert_eq!(t.shape, vec![2, 96_000]);
    let NpyData::F32(v) = t.data else {
        panic!("dtype")
    };
    assert_eq!(v[..96_000], v[96_000..]);
    // a 1 s tone: 16 000 samples of signal, then zero padding
    assert!(v[16_000..96_000].iter().all(|&x| x == 0.0));
    assert!(v.iter().any(|x| x.abs() > 0.05));
}

/// `--augment` on a video model: the robustness pass's degraded clip tensor, as the library
/// computes it (parity with the network's chain is gas-media's `av_parity` test); refused for
/// audio, which the network gives no such pass.
#[test]
fn augment_writes_the_degraded_video_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("c.mp4");
    let st = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=640x360:rate=25")
        .args(["-frames:v", "6", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&clip)
        .status();
    if !matches!(st, Ok(s) if s.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "ffmpeg with libx264 is required in CI"
        );
        return;
    }
    write_config(
        dir.path(),
        "video",
        "  resize: [64, 80]
  num_frames: 4
",
    );
    let out = dir.path().join("batch.npy");
    let o = gascli()
        .args(["d", "preprocess", "--augment", "--model"])
        .arg(dir.path())
        .arg(&clip)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = npy::read(&out).unwrap();
    assert_eq!(t.shape, vec![1, 4, 3, 64, 80]);
    let NpyData::U8(data) = t.data else {
        panic!("dtype")
    };
    let opts = gas_media::VideoOptions {
        size: [64, 80],
        num_frames: 4,
        frame_rate: None,
    };
    assert_eq!(
        data,
        gas_media::preprocess_video_augmented(&clip, &opts).unwrap()
    );
    assert_ne!(data, gas_media::preprocess_video(&clip, &opts).unwrap());

    write_config(dir.path(), "audio", "");
    let o = gascli()
        .args(["d", "preprocess", "--augment", "--model"])
        .arg(dir.path())
        .arg(&clip)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("no robustness pass for audio"));
}
