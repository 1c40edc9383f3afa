//! Corrupt and unsupported media give clear errors (never panics).
mod common;

use gas_media::npy;
use gas_media::{
    AudioOptions, ImageOptions, MediaError, VideoOptions, decode_image, preprocess_audio,
    preprocess_batch_images, preprocess_image, preprocess_video,
};

fn png_bytes() -> Vec<u8> {
    let img = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8 * 6, y as u8 * 8, 7]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[test]
fn garbage_is_unknown_format() {
    let e = decode_image(b"definitely not an image", &ImageOptions::default()).unwrap_err();
    assert!(matches!(e, MediaError::UnknownFormat), "{e}");
    assert!(e.to_string().contains("JPEG, PNG"), "{e}");
    let e = decode_image(b"", &ImageOptions::default()).unwrap_err();
    assert!(matches!(e, MediaError::UnknownFormat), "{e}");
}

#[test]
fn truncated_png_names_the_format() {
    let png = png_bytes();
    for cut in [20, 60, png.len() / 2, png.len() - 13] {
        let e = decode_image(&png[..cut], &ImageOptions::default()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("PNG"), "cut {cut}: {msg}");
    }
    let jpg = {
        let img = image::RgbImage::from_pixel(64, 64, image::Rgb([9, 99, 199]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    };
    // A truncated scan may be concealed (libjpeg does that too); a cut header must fail.
    let e = decode_image(&jpg[..30], &ImageOptions::default()).unwrap_err();
    assert!(e.to_string().contains("JPEG"), "{e}");
}

#[test]
fn oversized_header_is_rejected_before_decoding() {
    // A PNG header claiming 20000 × 20000 pixels (400 MP) with no data.
    let mut png = png_bytes();
    png[16..20].copy_from_slice(&20_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&20_000u32.to_be_bytes());
    // Fix the IHDR CRC so the decoder reads the header.
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    let e = decode_image(&png, &ImageOptions::default()).unwrap_err();
    assert!(
        matches!(e, MediaError::TooLarge { .. } | MediaError::Decode { .. }),
        "{e}"
    );
    assert!(e.to_string().contains("limit"), "{e}");
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn bad_sizes_are_option_errors() {
    let png = png_bytes();
    let e = preprocess_image(
        &png,
        &ImageOptions {
            size: [0, 224],
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, MediaError::Options(_)), "{e}");
}

#[test]
fn batch_keeps_order_and_isolates_failures() {
    let png = png_bytes();
    let files: Vec<&[u8]> = vec![&png, b"junk", &png];
    let opts = ImageOptions {
        size: [16, 24],
        ..Default::default()
    };
    let out = preprocess_batch_images(&files, &opts);
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].as_ref().unwrap().len(), 3 * 16 * 24);
    assert!(out[1].is_err());
    assert_eq!(out[0].as_ref().unwrap(), out[2].as_ref().unwrap());
}

#[test]
fn corrupt_video_and_audio_fail_clearly() {
    if !common::have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.mp4");
    std::fs::write(&bad, b"\x00\x00\x00\x18ftypmp42 this is not a real movie").unwrap();
    let e = preprocess_video(
        &bad,
        &VideoOptions {
            size: [32, 32],
            num_frames: 4,
            frame_rate: None,
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("broken.mp4"), "{e}");
    let e = preprocess_audio(&bad, &AudioOptions::default()).unwrap_err();
    assert!(e.to_string().contains("broken.mp4"), "{e}");
    let missing = dir.path().join("missing.wav");
    let e = preprocess_audio(&missing, &AudioOptions::default()).unwrap_err();
    assert!(e.to_string().contains("missing.wav"), "{e}");
}

#[test]
fn npy_round_trip_and_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.npy");
    let data: Vec<u8> = (0..2 * 3 * 4 * 5).map(|i| i as u8).collect();
    npy::write_u8(&p, &[2, 3, 4, 5], &data).unwrap();
    let back = npy::read(&p).unwrap();
    assert_eq!(back.shape, vec![2, 3, 4, 5]);
    assert_eq!(back.data, npy::NpyData::U8(data));
    let raw = std::fs::read(&p).unwrap();
    assert_eq!((raw.len() - 120) % 64, 0, "header padded to 64 bytes");
    let f = dir.path().join("f.npy");
    npy::write_f32(&f, &[3], &[0.5, -1.0, 2.25]).unwrap();
    assert_eq!(
        npy::read(&f).unwrap().data,
        npy::NpyData::F32(vec![0.5, -1.0, 2.25])
    );
    assert!(npy::write_u8(&p, &[2, 2], &[1, 2, 3]).is_err());
    std::fs::write(&p, &raw[..raw.len() - 1]).unwrap();
    let e = npy::read(&p).unwrap_err().to_string();
    assert!(
        e.contains("a.npy") && e.contains("expected 120 bytes"),
        "{e}"
    );
}

/// Damaged clips (cut short, bytes flipped) through the in-process decoder, from a file and
/// from memory: frames or a clean error, never a crash.
#[test]
fn damaged_videos_and_audio_never_crash() {
    if !common::have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut clips = Vec::new();
    for (name, args) in [
        ("a.mp4", vec!["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
        (
            "b.mp4",
            vec!["-c:v", "libx264", "-movflags", "+faststart", "-bf", "2"],
        ),
        ("c.mkv", vec!["-c:v", "libvpx-vp9"]),
        ("d.avi", vec!["-c:v", "mpeg4"]),
    ] {
        let p = dir.path().join(name);
        let st = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
            .arg("testsrc2=size=96x64:rate=10:duration=2")
            .args(["-f", "lavfi", "-i", "sine=sample_rate=8000:duration=2"])
            .args(&args)
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success());
        clips.push(std::fs::read(&p).unwrap());
    }
    let vopts = VideoOptions {
        size: [32, 32],
        num_frames: 8,
        frame_rate: Some(4.0),
    };
    let aopts = AudioOptions::default();
    let mut ok = 0;
    for clip in &clips {
        for cut in [
            clip.len() / 10,
            clip.len() / 3,
            clip.len() * 2 / 3,
            clip.len() - 7,
        ] {
            let bytes = &clip[..cut];
            ok += gas_media::preprocess_video_bytes(bytes, &vopts).is_ok() as usize;
            let _ = gas_media::preprocess_audio_bytes(bytes, &aopts);
            let file = dir.path().join("cut.bin");
            std::fs::write(&file, bytes).unwrap();
            let _ = preprocess_video(&file, &vopts);
        }
        let mut flipped = clip.clone();
        for i in (clip.len() / 5..clip.len()).step_by(97) {
            flipped[i] ^= 0x5a;
        }
        if let Ok(v) = gas_media::preprocess_video_bytes(&flipped, &vopts) {
            assert_eq!(v.len(), 8 * 3 * 32 * 32);
        }
        let _ = gas_media::preprocess_audio_bytes(&flipped, &aopts);
    }
    assert!(ok > 0, "some cut clips still give frames");
}
