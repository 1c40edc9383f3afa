//! Video: frames decoded in order by the `ffmpeg` CLI (a child process, so decoder crashes on
//! untrusted files cannot take us down), sampled per bench.md "Video", each frame cropped and
//! resized like an image, streamed so at most one full-size frame is in memory.
//!
//! Command: `ffmpeg -nostdin -v error -i FILE -map 0:v:0 -fps_mode passthrough -f image2pipe
//! -c:v ppm -pix_fmt rgb24 -` (FFmpeg's default auto-rotation applies; `passthrough` keeps
//! the decoded frames as they are, no duplication or dropping). PPM frames carry their own
//! size, so no probing is needed for the pixels; the frame rate (only needed when
//! `fps` is configured) comes from `ffprobe` (`avg_frame_rate`, else `r_frame_rate`, else
//! 30). The Python reference in `python/reference/` runs the same commands.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::{MAX_PIXELS, MediaError};

/// Video preprocessing parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoOptions {
    /// Target `[H, W]`.
    pub size: [u32; 2],
    /// `T`: frames per clip.
    pub max_frames: u32,
    /// Sampling rate in frames/s; `None` = the first `T` frames.
    pub fps: Option<f64>,
}

/// Frame step of bench.md: `max(1, round(video_fps / rate))`, round half to even.
pub fn frame_step(video_fps: Option<f64>, rate: Option<f64>) -> usize {
    match rate {
        Some(r) if r > 0.0 && r.is_finite() => {
            let vf = video_fps
                .filter(|v| *v > 0.0 && v.is_finite())
                .unwrap_or(30.0);
            ((vf / r).round_ties_even() as usize).max(1)
        }
        _ => 1,
    }
}

fn parse_rate(s: &str) -> Option<f64> {
    let s = s.trim();
    let v = match s.split_once('/') {
        Some((a, b)) => a.parse::<f64>().ok()? / b.parse::<f64>().ok()?,
        None => s.parse().ok()?,
    };
    (v.is_finite() && v > 0.0).then_some(v)
}

/// The stream's frame rate via `ffprobe`, `None` when the file states none.
pub fn probe_fps(path: &Path) -> Result<Option<f64>, MediaError> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=avg_frame_rate,r_frame_rate",
            "-of",
            "default=noprint_wrappers=1",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| MediaError::Spawn {
            program: "ffprobe".into(),
            source: e,
        })?;
    if !out.status.success() {
        return Err(MediaError::Ffmpeg {
            program: "ffprobe".into(),
            what: path.display().to_string(),
            message: crate::audio::first_lines(&String::from_utf8_lossy(&out.stderr), out.status),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .and_then(parse_rate)
    };
    Ok(get("avg_frame_rate").or_else(|| get("r_frame_rate")))
}

/// Read one PPM (P6, maxval 255) header; `Ok(None)` at a clean end of stream.
/// Hand-written: FFmpeg's `ppm` encoder writes exactly `P6\n<w> <h>\n255\n`.
fn read_ppm_header(r: &mut impl BufRead) -> Result<Option<(usize, usize)>, String> {
    let mut tokens = Vec::with_capacity(4);
    let mut cur = Vec::new();
    while tokens.len() < 4 {
        let mut b = [0u8; 1];
        match r.read(&mut b) {
            Ok(0) if tokens.is_empty() && cur.is_empty() => return Ok(None),
            Ok(0) => return Err("truncated frame header".into()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
        if b[0].is_ascii_whitespace() {
            if !cur.is_empty() {
                tokens.push(String::from_utf8_lossy(&cur).into_owned());
                cur.clear();
            }
        } else if cur.len() < 16 {
            cur.push(b[0]);
        } else {
            return Err("bad frame header".into());
        }
    }
    if tokens[0] != "P6" || tokens[3] != "255" {
        return Err(format!("unexpected frame header {tokens:?}"));
    }
    let w: usize = tokens[1].parse().map_err(|_| "bad frame width")?;
    let h: usize = tokens[2].parse().map_err(|_| "bad frame height")?;
    Ok(Some((w, h)))
}

/// Decode, sample and crop-resize: `T·3·H·W` bytes of one `[T, 3, H, W]` input.
pub fn preprocess_video(path: &Path, opts: &VideoOptions) -> Result<Vec<u8>, MediaError> {
    crate::check_size(opts.size)?;
    if opts.max_frames == 0 || opts.max_frames > 4096 {
        return Err(MediaError::Options(format!(
            "max_frames {} must be 1 … 4096",
            opts.max_frames
        )));
    }
    let what = path.display().to_string();
    let step = match opts.fps {
        Some(_) => frame_step(probe_fps(path)?, opts.fps),
        None => 1,
    };
    let t = opts.max_frames as usize;
    let [th, tw] = opts.size;
    let frame_len = 3 * th as usize * tw as usize;

    let mut child = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args([
            "-map",
            "0:v:0",
            "-fps_mode",
            "passthrough",
            "-f",
            "image2pipe",
            "-c:v",
            "ppm",
            "-pix_fmt",
            "rgb24",
            "pipe:1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| MediaError::Spawn {
            program: "ffmpeg".into(),
            source: e,
        })?;
    let stderr = child.stderr.take().expect("piped");
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.take(64 * 1024).read_to_string(&mut s);
        s
    });
    let mut out = Vec::with_capacity(t * frame_len);
    let mut reader = BufReader::with_capacity(1 << 20, child.stdout.take().expect("piped"));
    let mut frame = Vec::new();
    let mut index = 0usize;
    let mut stream_err = None;
    while out.len() < t * frame_len {
        let (w, h) = match read_ppm_header(&mut reader) {
            Ok(Some(d)) => d,
            Ok(None) => break,
            Err(e) => {
                stream_err = Some(e);
                break;
            }
        };
        if w == 0 || h == 0 || (w as u64 * h as u64) > MAX_PIXELS {
            stream_err = Some(format!(
                "frame size {w}x{h} outside 1 … {MAX_PIXELS} pixels"
            ));
            break;
        }
        frame.resize(w * h * 3, 0);
        if let Err(e) = reader.read_exact(&mut frame) {
            stream_err = Some(format!("truncated frame {index}: {e}"));
            break;
        }
        if index.is_multiple_of(step) {
            let start = out.len();
            out.resize(start + frame_len, 0);
            crate::crop_resize_into_chw(&frame, w as u32, h as u32, th, tw, &mut out[start..]);
        }
        index += 1;
    }
    drop(reader);
    let done_early = out.len() == t * frame_len;
    if done_early {
        let _ = child.kill();
    }
    let status = child.wait().map_err(|e| MediaError::Io {
        what: format!("waiting for ffmpeg on {what}"),
        source: e,
    })?;
    let stderr = err_thread.join().unwrap_or_default();
    if out.is_empty() {
        let message = if !status.success() {
            crate::audio::first_lines(&stderr, status)
        } else if let Some(e) = stream_err {
            e
        } else {
            return Err(MediaError::NoFrames { what });
        };
        return Err(MediaError::Ffmpeg {
            program: "ffmpeg".into(),
            what,
            message,
        });
    }
    // Fewer than T frames: repeat the last one (a damaged tail keeps the frames before it).
    while out.len() < t * frame_len {
        let start = out.len() - frame_len;
        out.extend_from_within(start..start + frame_len);
    }
    Ok(out)
}

/// Copy bytes into a named temp file (for callers holding media in memory).
pub(crate) fn temp_copy(bytes: &[u8]) -> Result<tempfile::NamedTempFile, MediaError> {
    let io = |e| MediaError::Io {
        what: "writing a temporary media file".into(),
        source: e,
    };
    let mut f = tempfile::NamedTempFile::new().map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.flush().map_err(io)?;
    Ok(f)
}

/// [`preprocess_video`] for in-memory bytes: written to a temp file first (mp4/mov with the
/// `moov` index at the end cannot be decoded from a pipe).
pub fn preprocess_video_bytes(bytes: &[u8], opts: &VideoOptions) -> Result<Vec<u8>, MediaError> {
    let tmp = temp_copy(bytes)?;
    preprocess_video(tmp.path(), opts)
}
