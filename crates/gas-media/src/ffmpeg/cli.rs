//! The `ffmpeg` / `ffprobe` command-line tools as child processes: the fallback when gas-media
//! is built without the `ffmpeg-libs` feature, and the old per-clip-process path that
//! `examples/bench_av.rs` measures against. Same conversions as the in-process path:
//! video `-vf scale=flags=bilinear -pix_fmt rgb24` (FFmpeg's default auto-rotation applies),
//! audio `-vn -ac 1 -ar R -f f32le`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use super::{Input, RgbFrame, VideoInfo};
use crate::{MAX_PIXELS, MediaError};

fn spawn_err(program: &str, e: std::io::Error) -> MediaError {
    MediaError::Spawn {
        program: program.into(),
        source: e,
    }
}

/// The first lines of a tool's stderr, or its exit status when it printed nothing.
pub(crate) fn first_lines(stderr: &str, status: std::process::ExitStatus) -> String {
    let msg: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(3)
        .collect();
    if msg.is_empty() {
        format!("exited with {status}")
    } else {
        msg.join("; ")
    }
}

/// Copy bytes into a named temp file (mp4/mov with the `moov` index at the end cannot be
/// decoded from a pipe).
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

enum Held {
    Path(std::path::PathBuf),
    Temp(tempfile::NamedTempFile),
}

impl Held {
    fn new(input: &Input<'_>) -> Result<Self, MediaError> {
        Ok(match input {
            Input::Path(p) => Held::Path(p.to_path_buf()),
            Input::Bytes(b) => Held::Temp(temp_copy(b)?),
        })
    }
    fn path(&self) -> &Path {
        match self {
            Held::Path(p) => p,
            Held::Temp(t) => t.path(),
        }
    }
}

fn parse_rate(s: &str) -> (i64, i64) {
    let s = s.trim();
    match s.split_once('/') {
        Some((a, b)) => (a.parse().unwrap_or(0), b.parse().unwrap_or(0)),
        None => (s.parse().unwrap_or(0), 1),
    }
}

/// The stream's `avg_frame_rate` as `(num, den)` via `ffprobe`.
fn probe(path: &Path) -> Result<VideoInfo, MediaError> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=avg_frame_rate,width,height",
            "-of",
            "default=noprint_wrappers=1",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_err("ffprobe", e))?;
    if !out.status.success() {
        return Err(MediaError::Ffmpeg {
            program: "ffprobe".into(),
            what: path.display().to_string(),
            message: first_lines(&String::from_utf8_lossy(&out.stderr), out.status),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .map(str::to_string)
    };
    let num = |k: &str| {
        get(k)
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(0)
    };
    Ok(VideoInfo {
        avg_frame_rate: get("avg_frame_rate").map_or((0, 0), |v| parse_rate(&v)),
        nb_frames: None,
        duration_us: None,
        rotation: 0,
        size: (num("width"), num("height")),
    })
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

/// `ffmpeg` streaming every frame of the first video stream as PPM.
pub struct Video {
    held: Held,
    info: Option<VideoInfo>,
    child: Option<Child>,
    reader: Option<BufReader<ChildStdout>>,
    err_thread: Option<std::thread::JoinHandle<String>>,
    frame: Vec<u8>,
    index: usize,
}

impl Video {
    pub fn open(input: &Input<'_>) -> Result<Self, MediaError> {
        Ok(Video {
            held: Held::new(input)?,
            info: None,
            child: None,
            reader: None,
            err_thread: None,
            frame: Vec::new(),
            index: 0,
        })
    }

    /// Stream facts via `ffprobe` (only the frame rate and size; run on first use).
    pub fn info(&mut self) -> Result<&VideoInfo, MediaError> {
        if self.info.is_none() {
            self.info = Some(probe(self.held.path())?);
        }
        Ok(self.info.as_ref().expect("set above"))
    }

    fn start(&mut self) -> Result<(), MediaError> {
        let mut child = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(self.held.path())
            .args([
                "-map",
                "0:v:0",
                "-fps_mode",
                "passthrough",
                "-vf",
                "scale=flags=bilinear",
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
            .map_err(|e| spawn_err("ffmpeg", e))?;
        let stderr = child.stderr.take().expect("piped");
        self.err_thread = Some(std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.take(64 * 1024).read_to_string(&mut s);
            s
        }));
        self.reader = Some(BufReader::with_capacity(
            1 << 20,
            child.stdout.take().expect("piped"),
        ));
        self.child = Some(child);
        Ok(())
    }

    /// Stop the process; its error text when it failed.
    fn finish(&mut self) -> Option<String> {
        self.reader = None;
        let mut child = self.child.take()?;
        let _ = child.kill();
        let status = child.wait().ok();
        let stderr = self
            .err_thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        match status {
            Some(s) if !s.success() && !stderr.trim().is_empty() => Some(first_lines(&stderr, s)),
            _ => None,
        }
    }

    fn read(&mut self) -> Result<Option<(usize, usize)>, MediaError> {
        if self.child.is_none() {
            self.start()?;
        }
        let what = self.held.path().display().to_string();
        let reader = self.reader.as_mut().expect("started");
        let failed = |this: &mut Self, e: String| {
            let message = this.finish().unwrap_or(e);
            Err(MediaError::Ffmpeg {
                program: "ffmpeg".into(),
                what: what.clone(),
                message,
            })
        };
        let (w, h) = match read_ppm_header(reader) {
            Ok(Some(d)) => d,
            Ok(None) => {
                return match self.finish() {
                    Some(m) if self.index == 0 => failed(self, m),
                    _ => Ok(None),
                };
            }
            Err(e) => return failed(self, e),
        };
        if w == 0 || h == 0 || (w as u64 * h as u64) > MAX_PIXELS {
            return failed(
                self,
                format!("frame size {w}x{h} outside 1 … {MAX_PIXELS} pixels"),
            );
        }
        self.frame.resize(w * h * 3, 0);
        if let Err(e) = reader.read_exact(&mut self.frame) {
            let i = self.index;
            return failed(self, format!("truncated frame {i}: {e}"));
        }
        self.index += 1;
        Ok(Some((w, h)))
    }

    /// Read the next frame without using it; `false` at the end of the stream.
    pub fn skip_frame(&mut self) -> Result<bool, MediaError> {
        Ok(self.read()?.is_some())
    }

    /// The next frame as RGB rows; `None` at the end of the stream.
    pub fn next_frame(&mut self) -> Result<Option<RgbFrame<'_>>, MediaError> {
        Ok(self.read()?.map(|(w, h)| RgbFrame {
            data: &self.frame,
            stride: w * 3,
            width: w,
            height: h,
        }))
    }
}

impl Drop for Video {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// Decode to mono `f32` at `rate` with `ffmpeg -vn -ac 1 -ar RATE -f f32le` (no crop/pad).
pub fn decode_audio(
    input: &Input<'_>,
    rate: u32,
    max_samples: u64,
) -> Result<Vec<f32>, MediaError> {
    let held = Held::new(input)?;
    let path = held.path();
    let what = input.describe();
    let mut child = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args([
            "-vn",
            "-ac",
            "1",
            "-ar",
            &rate.to_string(),
            "-f",
            "f32le",
            "pipe:1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_err("ffmpeg", e))?;
    let stderr = child.stderr.take().expect("piped");
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.take(64 * 1024).read_to_string(&mut s);
        s
    });
    let cap = max_samples * 4;
    let mut raw = Vec::new();
    let read = child
        .stdout
        .take()
        .expect("piped")
        .take(cap + 1)
        .read_to_end(&mut raw);
    let too_long = raw.len() as u64 > cap;
    if too_long {
        let _ = child.kill();
    }
    let status = child.wait().map_err(|e| MediaError::Io {
        what: format!("waiting for ffmpeg on {what}"),
        source: e,
    })?;
    let stderr = err_thread.join().unwrap_or_default();
    read.map_err(|e| MediaError::Io {
        what: format!("reading ffmpeg output for {what}"),
        source: e,
    })?;
    let fail = |message: String| MediaError::Ffmpeg {
        program: "ffmpeg".into(),
        what: what.clone(),
        message,
    };
    if too_long {
        return Err(fail("audio too long".into()));
    }
    if !status.success() {
        return Err(fail(first_lines(&stderr, status)));
    }
    Ok(raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}
