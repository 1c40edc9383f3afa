//! Video and audio against the Python reference (the network's frame selection and decord's
//! pixel conversion through the FFmpeg CLI, or decord itself; the network's FFmpeg CLI audio
//! decode), for both FFmpeg backends (in-process libraries and command line).
mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::*;
use gas_media::ffmpeg::{Backend, Input};
use gas_media::npy::{self, NpyData};
use gas_media::video::preprocess_video_with;
use gas_media::{AudioOptions, VideoOptions, preprocess_audio, preprocess_video};

fn backends() -> Vec<Backend> {
    if cfg!(feature = "ffmpeg-libs") {
        vec![Backend::Libs, Backend::Cli]
    } else {
        vec![Backend::Cli]
    }
}

/// The reference tensor `[1, T, 3, H, W]` of one clip.
fn reference_video(
    py: &Path,
    file: &Path,
    out: &Path,
    size: [u32; 2],
    t: u32,
    frame_rate: Option<f64>,
    decoder: &str,
) -> Vec<u8> {
    reference_video_as(py, file, out, size, t, frame_rate, decoder, false)
}

/// [`reference_video`], or with `augment` the robustness pass's degraded tensor.
#[allow(clippy::too_many_arguments)]
fn reference_video_as(
    py: &Path,
    file: &Path,
    out: &Path,
    size: [u32; 2],
    t: u32,
    frame_rate: Option<f64>,
    decoder: &str,
    augment: bool,
) -> Vec<u8> {
    let script = reference_script("gas_reference.py");
    let (hs, ws, ts) = (size[0].to_string(), size[1].to_string(), t.to_string());
    let fr = frame_rate.map(|f| f.to_string());
    let mut args: Vec<&OsStr> = vec![
        script.as_os_str(),
        OsStr::new("video"),
        OsStr::new("--size"),
        OsStr::new(&hs),
        OsStr::new(&ws),
        OsStr::new("--frames"),
        OsStr::new(&ts),
        OsStr::new("--decoder"),
        OsStr::new(decoder),
    ];
    if let Some(f) = &fr {
        args.extend([OsStr::new("--frame-rate"), OsStr::new(f)]);
    }
    if augment {
        args.push(OsStr::new("--augment"));
    }
    args.extend([OsStr::new("-o"), out.as_os_str(), file.as_os_str()]);
    run_py(py, &args);
    let want = npy::read(out).unwrap();
    assert_eq!(
        want.shape,
        vec![1, t as usize, 3, size[0] as usize, size[1] as usize]
    );
    let NpyData::U8(want) = want.data else {
        panic!("dtype")
    };
    want
}

#[test]
fn video_matches_reference() {
    let Some(py) = venv_python() else { return };
    if !have_ffmpeg() {
        return;
    }
    let fx = fixtures(&py, &["--video"]);
    // (file, T, frame_rate): first-T, padding by repetition (short30.avi has 9 frames), steps.
    let cases: [(&str, u32, Option<f64>); 5] = [
        ("clip25.mp4", 8, None),
        ("clip25.mp4", 6, Some(5.0)),
        ("short30.avi", 16, None),
        ("short30.avi", 4, Some(12.0)),
        ("clip10.webm", 5, Some(4.0)),
    ];
    for (name, t, frame_rate) in cases {
        let size = [112u32, 128u32];
        let file = fx.path().join(name);
        let want = reference_video(
            &py,
            &file,
            &fx.path().join("ref.npy"),
            size,
            t,
            frame_rate,
            "ffmpeg",
        );
        let opts = VideoOptions {
            size,
            num_frames: t,
            frame_rate,
        };
        for backend in backends() {
            let got = preprocess_video_with(Input::Path(&file), &opts, backend)
                .unwrap_or_else(|e| panic!("{name} {backend:?}: {e}"));
            assert!(
                got == want,
                "{name} T={t} frame_rate={frame_rate:?} {backend:?}: {:?}",
                diff_stats(&got, &want)
            );
        }
        // From memory: the same tensor.
        let bytes = std::fs::read(&file).unwrap();
        assert!(gas_media::preprocess_video_bytes(&bytes, &opts).unwrap() == want);
    }
}

/// The network's own decoder (decord 0.6.0) on a varied generated set: codecs, pixel
/// formats, odd sizes, frame rates, GOP structures. Needs a venv with decord (`GASCLI_NET_VENV`,
/// else the test venv); skipped without one (unless CI is set).
/// The robustness pass's video chain (×0.5 INTER_AREA with the 256-px floor, even sides, the
/// ffmpeg command's libx264 CRF 23 round trip, decode, crop + resize) against the reference,
/// which follows the network's code with OpenCV (INTER_AREA, `cv2.VideoCapture`) and the same
/// ffmpeg command: sizes above, around and below the floor, an odd size after halving, an odd
/// source, a short clip padded before the chain, a `frame_rate` step; both FFmpeg backends.
#[test]
fn video_robustness_chain_matches_reference() {
    let Some(py) = venv_python() else { return };
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // (name, W, H, frames, codec args)
    let clips: [(&str, u32, u32, u32, &[&str]); 5] = [
        (
            "a.mp4",
            640,
            480,
            20,
            &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
        ),
        (
            "b.mp4",
            1026,
            540,
            12,
            &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
        ),
        ("c.mkv", 255, 171, 3, &["-c:v", "ffv1"]),
        (
            "d.mp4",
            1280,
            720,
            30,
            &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
        ),
        ("e.mkv", 511, 300, 8, &["-c:v", "ffv1"]),
    ];
    for (name, w, h, n, codec) in clips {
        let st = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!(
                "testsrc2=size={w}x{h}:rate=25,noise=alls=12:allf=t"
            ))
            .args(["-frames:v", &n.to_string()])
            .args(codec)
            .arg(dir.path().join(name))
            .status()
            .unwrap();
        assert!(st.success(), "{name}");
    }
    let cases: [(&str, u32, Option<f64>); 6] = [
        ("a.mp4", 8, None),
        ("b.mp4", 4, None),
        ("c.mkv", 5, None),
        ("d.mp4", 6, Some(10.0)),
        ("e.mkv", 4, None),
        ("a.mp4", 16, Some(12.0)),
    ];
    let size = [112u32, 128u32];
    for (name, t, frame_rate) in cases {
        let file = dir.path().join(name);
        let want = reference_video_as(
            &py,
            &file,
            &dir.path().join("ref.npy"),
            size,
            t,
            frame_rate,
            "ffmpeg",
            true,
        );
        let opts = VideoOptions {
            size,
            num_frames: t,
            frame_rate,
        };
        let plain = preprocess_video(&file, &opts).unwrap();
        assert_ne!(plain, want, "{name}: the chain changes the tensor");
        for backend in backends() {
            let got = gas_media::video::preprocess_video_augmented_with(
                Input::Path(&file),
                &opts,
                backend,
            )
            .unwrap_or_else(|e| panic!("{name} {backend:?}: {e}"));
            let (max, mean) = diff_stats(&got, &want);
            assert!(
                got == want,
                "{name} T={t} {frame_rate:?} {backend:?}: max diff {max}, mean {mean:.4}"
            );
        }
    }
}

#[test]
fn video_matches_decord() {
    let Some(py) = decord_python() else { return };
    if !have_ffmpeg() {
        return;
    }
    let fx = fixtures(&py, &["--no-images", "--video-set"]);
    let files = [
        "h264_640x480_30.mp4",
        "h264_bf_25.mkv",
        "h264_ntsc.mp4",
        "h264_odd.mp4",
        "h264_422.mp4",
        "h264_444.mp4",
        "h264_full.mp4",
        "h264_10bit.mp4",
        "h264_bt709.mp4",
        "hevc.mp4",
        "vp8.webm",
        "vp9.webm",
        "mpeg4_odd.avi",
        "mjpeg_odd.avi",
        "mpeg2.mpg",
        "mpeg4_bf.avi",
        "h264_opengop.mkv",
    ];
    // decord seeks for frame_rate steps; on these two its seek lands on other frames.
    let decord_seek_inexact = ["mpeg4_bf.avi", "h264_opengop.mkv"];
    let size = [96u32, 128u32];
    let mut report = Vec::new();
    for name in files {
        let file = fx.path().join(name);
        for (t, frame_rate) in [(16u32, None), (16, Some(8.0)), (8, Some(3.0))] {
            let want = reference_video(
                &py,
                &file,
                &fx.path().join("ref.npy"),
                size,
                t,
                frame_rate,
                "decord",
            );
            let opts = VideoOptions {
                size,
                num_frames: t,
                frame_rate,
            };
            let got = preprocess_video(&file, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
            let frame = got.len() / t as usize;
            let differing = (0..t as usize)
                .filter(|&i| got[i * frame..(i + 1) * frame] != want[i * frame..(i + 1) * frame])
                .count();
            let (max, mean) = diff_stats(&got, &want);
            report.push(format!(
                "{name} T={t} frame_rate={frame_rate:?}: {differing}/{t} frames differ (max {max}, mean {mean:.3})"
            ));
            if frame_rate.is_some() && decord_seek_inexact.contains(&name) {
                continue;
            }
            assert_eq!(differing, 0, "{}", report.last().unwrap());
        }
    }
    eprintln!("decord comparison:\n  {}", report.join("\n  "));
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
        num_frames: 6,
        frame_rate: None,
    };
    for backend in backends() {
        let v = preprocess_video_with(Input::Path(&file), &opts, backend).unwrap();
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
}

fn reference_audio(py: &Path, files: &[std::path::PathBuf], out: &Path) -> Vec<f32> {
    let script = reference_script("gas_reference.py");
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
    run_py(py, &args);
    let want = npy::read(out).unwrap();
    assert_eq!(want.shape, vec![files.len(), 96_000]);
    let NpyData::F32(want) = want.data else {
        panic!("dtype")
    };
    want
}

#[test]
fn audio_matches_reference() {
    let Some(py) = venv_python() else { return };
    if !have_ffmpeg() {
        return;
    }
    let fx = fixtures(&py, &["--no-images", "--audio", "--audio-set"]);
    let names = [
        "stereo44k.wav",
        "short22k.mp3",
        "mono48k.flac",
        "aac51.m4a",
        "opus.ogg",
        "u8_8k.wav",
        "s16_16k.wav",
        "vorbis.ogg",
        "av.mp4",
    ];
    let files: Vec<_> = names.iter().map(|n| fx.path().join(n)).collect();
    let want = reference_audio(&py, &files, &fx.path().join("ref.npy"));
    let opts = AudioOptions::default();
    for (i, f) in files.iter().enumerate() {
        let w = &want[i * 96_000..(i + 1) * 96_000];
        for backend in backends() {
            let got = gas_media::audio::preprocess_audio_with(Input::Path(f), &opts, backend)
                .unwrap_or_else(|e| panic!("{} {backend:?}: {e}", names[i]));
            assert_eq!(got.len(), 96_000);
            // Same FFmpeg conversion graph: bit-identical samples.
            let differing = got
                .iter()
                .zip(w)
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            assert_eq!(differing, 0, "{} {backend:?}: samples differ", names[i]);
            assert!(got.iter().any(|v| *v != 0.0), "{}: silent", names[i]);
        }
        let bytes = std::fs::read(f).unwrap();
        let mem = gas_media::audio::preprocess_audio_bytes(&bytes, &opts).unwrap();
        assert!(mem.iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits()));
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
