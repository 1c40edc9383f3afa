//! Video and audio against the Python reference (same FFmpeg commands + numpy / cv2).
mod common;

use std::ffi::OsStr;

use common::*;
use gas_media::npy::{self, NpyData};
use gas_media::{AudioOptions, VideoOptions, preprocess_audio, preprocess_video};

#[test]
fn video_matches_reference() {
    let Some(py) = venv_python() else { return };
    if !have_ffmpeg() {
        return;
    }
    let fx = fixtures(&py, &["--video"]);
    let script = reference_script("gas_reference.py");
    // (file, T, fps): first-T, padding by repetition (short30.avi has 9 frames), stepping.
    let cases: [(&str, u32, Option<f64>); 5] = [
        ("clip25.mp4", 8, None),
        ("clip25.mp4", 6, Some(5.0)),
        ("short30.avi", 16, None),
        ("short30.avi", 4, Some(12.0)),
        ("clip10.webm", 5, Some(4.0)),
    ];
    for (name, t, fps) in cases {
        let size = [112u32, 128u32];
        let file = fx.path().join(name);
        let out = fx.path().join("ref.npy");
        let ts = t.to_string();
        let fps_s = fps.map(|f| f.to_string());
        let mut args: Vec<&OsStr> = vec![
            script.as_os_str(),
            OsStr::new("video"),
            OsStr::new("--size"),
            OsStr::new("112"),
            OsStr::new("128"),
            OsStr::new("--frames"),
            OsStr::new(&ts),
        ];
        if let Some(f) = &fps_s {
            args.extend([OsStr::new("--fps"), OsStr::new(f)]);
        }
        args.extend([OsStr::new("-o"), out.as_os_str(), file.as_os_str()]);
        run_py(&py, &args);
        let want = npy::read(&out).unwrap();
        assert_eq!(want.shape, vec![1, t as usize, 3, 112, 128]);
        let NpyData::U8(want) = want.data else {
            panic!("dtype")
        };
        let got = preprocess_video(
            &file,
            &VideoOptions {
                size,
                max_frames: t,
                fps,
            },
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            got == want,
            "{name} T={t} fps={fps:?}: {:?}",
            diff_stats(&got, &want)
        );
    }
}

#[test]
fn video_short_clip_repeats_last_frame() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("three.mp4");
    let st = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
        .args([
            "testsrc2=size=64x48:rate=10",
            "-frames:v",
            "3",
            "-c:v",
            "mpeg4",
        ])
        .arg(&file)
        .status()
        .unwrap();
    assert!(st.success());
    let opts = VideoOptions {
        size: [32, 32],
        max_frames: 6,
        fps: None,
    };
    let v = preprocess_video(&file, &opts).unwrap();
    let f = 3 * 32 * 32;
    assert_eq!(v.len(), 6 * f);
    assert_ne!(v[..f], v[f..2 * f], "testsrc2 frames differ");
    for i in 3..6 {
        assert_eq!(
            v[2 * f..3 * f],
            v[i * f..(i + 1) * f],
            "frame {i} repeats frame 2"
        );
    }
}

#[test]
fn audio_matches_reference() {
    let Some(py) = venv_python() else { return };
    if !have_ffmpeg() {
        return;
    }
    let fx = fixtures(&py, &["--audio"]);
    let script = reference_script("gas_reference.py");
    let names = ["stereo44k.wav", "short22k.mp3", "mono48k.flac"];
    let out = fx.path().join("ref.npy");
    let files: Vec<_> = names.iter().map(|n| fx.path().join(n)).collect();
    let mut args: Vec<&OsStr> = vec![
        script.as_os_str(),
        OsStr::new("audio"),
        OsStr::new("--rate"),
        OsStr::new("16000"),
        OsStr::new("--seconds"),
        OsStr::new("6.0"),
        OsStr::new("-o"),
        out.as_os_str(),
    ];
    args.extend(files.iter().map(|f| f.as_os_str()));
    run_py(&py, &args);
    let want = npy::read(&out).unwrap();
    assert_eq!(want.shape, vec![3, 96_000]);
    let NpyData::F32(want) = want.data else {
        panic!("dtype")
    };
    let opts = AudioOptions::default();
    for (i, f) in files.iter().enumerate() {
        let got = preprocess_audio(f, &opts).unwrap();
        assert_eq!(got.len(), 96_000);
        let w = &want[i * 96_000..(i + 1) * 96_000];
        // Same FFmpeg binary and command: bit-identical samples.
        assert!(
            got.iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits()),
            "{}: samples differ",
            names[i]
        );
        assert!(got.iter().any(|v| *v != 0.0), "{}: silent", names[i]);
    }
    // The 2 s mp3 is zero-padded on the right; the 7.5 s wav is centre-cropped.
    let raw = gas_media::audio::decode_audio(&files[1], 16_000).unwrap();
    assert!(raw.len() > 30_000 && raw.len() < 96_000, "{}", raw.len());
    let mp3 = preprocess_audio(&files[1], &opts).unwrap();
    assert_eq!(mp3[..raw.len()], raw[..]);
    assert!(mp3[raw.len()..].iter().all(|v| *v == 0.0));
    let raw = gas_media::audio::decode_audio(&files[0], 16_000).unwrap();
    assert_eq!(raw.len(), 120_000);
    let wav = preprocess_audio(&files[0], &opts).unwrap();
    assert_eq!(wav[..], raw[12_000..108_000]);
}
