//! In-process decoding through FFmpeg's libraries, via the small C bridge `csrc/gas_av.c`
//! (plain C types only across the boundary; FFmpeg's own headers decide every struct layout).

use std::ffi::{CString, c_char, c_int, c_void};
use std::path::Path;
use std::sync::Once;

use super::{Input, RgbFrame, VideoInfo};

#[repr(C)]
#[derive(Default)]
struct GasVideoInfo {
    width: c_int,
    height: c_int,
    fps_num: c_int,
    fps_den: c_int,
    nb_frames: i64,
    duration_us: i64,
    rotation: c_int,
    codec_id: c_int,
}

#[repr(C)]
struct GasVideo {
    _private: [u8; 0],
}

type AudioSink = unsafe extern "C" fn(ctx: *mut c_void, samples: *const f32, n: c_int);

unsafe extern "C" {
    fn gas_av_quiet();
    fn gas_video_open(
        path: *const c_char,
        data: *const u8,
        len: usize,
        err: *mut c_char,
        errlen: usize,
    ) -> *mut GasVideo;
    fn gas_video_info(v: *const GasVideo, info: *mut GasVideoInfo);
    fn gas_video_next(
        v: *mut GasVideo,
        convert: c_int,
        pts: *mut i64,
        data: *mut *const u8,
        linesize: *mut c_int,
        w: *mut c_int,
        h: *mut c_int,
        err: *mut c_char,
        errlen: usize,
    ) -> c_int;
    fn gas_video_close(v: *mut GasVideo);
    fn gas_audio_decode(
        path: *const c_char,
        data: *const u8,
        len: usize,
        rate: c_int,
        max_samples: i64,
        cb: AudioSink,
        ctx: *mut c_void,
        err: *mut c_char,
        errlen: usize,
    ) -> i64;
}

const ERR_LEN: usize = 256;

fn quiet() {
    static ONCE: Once = Once::new();
    // SAFETY: sets FFmpeg's global log level; no other state.
    ONCE.call_once(|| unsafe { gas_av_quiet() });
}

fn err_text(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let s = String::from_utf8_lossy(&buf[..end]).into_owned();
    if s.is_empty() {
        "unknown FFmpeg error".into()
    } else {
        s
    }
}

/// A path as a C string (`None` for a path with a NUL byte, which no file can have).
fn c_path(p: &Path) -> Option<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).ok()
}

/// Pointers for `input`: `(path, data, len)`; the CString must outlive the call.
fn input_ptrs(input: &Input<'_>) -> Result<(Option<CString>, *const u8, usize), String> {
    match input {
        Input::Path(p) => {
            let c = c_path(p).ok_or("path contains a NUL byte")?;
            Ok((Some(c), std::ptr::null(), 0))
        }
        Input::Bytes(b) => Ok((None, b.as_ptr(), b.len())),
    }
}

/// An open video: decodes frames in presentation order, converting only those asked for.
pub struct Video<'a> {
    raw: *mut GasVideo,
    info: VideoInfo,
    /// Borrow of the in-memory input, which the C side reads from until closed.
    _input: std::marker::PhantomData<&'a [u8]>,
}

// SAFETY: the decoder state is owned by this value and used from one thread at a time.
unsafe impl Send for Video<'_> {}

impl<'a> Video<'a> {
    pub fn open(input: &Input<'a>) -> Result<Self, String> {
        quiet();
        let (path, data, len) = input_ptrs(input)?;
        let mut err = [0u8; ERR_LEN];
        // SAFETY: path/data are valid for the call; data (borrowed for 'a) stays valid until
        // close; err is a writable buffer of ERR_LEN bytes.
        let raw = unsafe {
            gas_video_open(
                path.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
                data,
                len,
                err.as_mut_ptr().cast(),
                ERR_LEN,
            )
        };
        if raw.is_null() {
            return Err(err_text(&err));
        }
        let mut gi = GasVideoInfo::default();
        // SAFETY: raw is a live handle.
        unsafe { gas_video_info(raw, &mut gi) };
        let info = VideoInfo {
            avg_frame_rate: (gi.fps_num as i64, gi.fps_den as i64),
            nb_frames: (gi.nb_frames > 0).then_some(gi.nb_frames as u64),
            duration_us: (gi.duration_us >= 0).then_some(gi.duration_us),
            rotation: gi.rotation as u32,
            size: (gi.width.max(0) as u32, gi.height.max(0) as u32),
        };
        Ok(Video {
            raw,
            info,
            _input: std::marker::PhantomData,
        })
    }

    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    fn next(&mut self, convert: bool) -> Result<Option<RgbFrame<'_>>, String> {
        let mut err = [0u8; ERR_LEN];
        let (mut data, mut linesize, mut w, mut h) = (std::ptr::null(), 0, 0, 0);
        let mut pts = 0i64;
        // SAFETY: live handle; out-pointers are valid locals.
        let r = unsafe {
            gas_video_next(
                self.raw,
                convert as c_int,
                &mut pts,
                &mut data,
                &mut linesize,
                &mut w,
                &mut h,
                err.as_mut_ptr().cast(),
                ERR_LEN,
            )
        };
        if r < 0 {
            return Err(err_text(&err));
        }
        if r == 0 {
            return Ok(None);
        }
        if !convert {
            return Ok(Some(RgbFrame::EMPTY));
        }
        if data.is_null() || w <= 0 || h <= 0 || (linesize as i64) < 3 * w as i64 {
            return Err(format!("bad converted frame {w}x{h} (stride {linesize})"));
        }
        let (w, h, stride) = (w as usize, h as usize, linesize as usize);
        // SAFETY: the C side returns an rgb24 frame of h rows of `stride` bytes that stays
        // valid until the next call on this handle (which needs &mut self).
        let data = unsafe { std::slice::from_raw_parts(data, stride * (h - 1) + 3 * w) };
        Ok(Some(RgbFrame {
            data,
            stride,
            width: w,
            height: h,
        }))
    }

    /// Decode the next frame without converting it; `false` at the end of the stream.
    pub fn skip_frame(&mut self) -> Result<bool, String> {
        self.next(false).map(|f| f.is_some())
    }

    /// Decode and convert the next frame to RGB; `None` at the end of the stream.
    pub fn next_frame(&mut self) -> Result<Option<RgbFrame<'_>>, String> {
        self.next(true)
    }
}

impl Drop for Video<'_> {
    fn drop(&mut self) {
        // SAFETY: raw is live and closed exactly once.
        unsafe { gas_video_close(self.raw) }
    }
}

unsafe extern "C" fn push_samples(ctx: *mut c_void, samples: *const f32, n: c_int) {
    if samples.is_null() || n <= 0 {
        return;
    }
    // SAFETY: ctx is the &mut Vec<f32> passed to gas_audio_decode below; samples points at n
    // floats owned by the C side for the duration of the call.
    unsafe {
        let out = &mut *(ctx as *mut Vec<f32>);
        out.extend_from_slice(std::slice::from_raw_parts(samples, n as usize));
    }
}

/// The whole audio stream as mono `f32` at `rate` (FFmpeg's down-mix and resampler).
pub fn decode_audio(input: &Input<'_>, rate: u32, max_samples: u64) -> Result<Vec<f32>, String> {
    quiet();
    let (path, data, len) = input_ptrs(input)?;
    let mut out: Vec<f32> = Vec::new();
    let mut err = [0u8; ERR_LEN];
    // SAFETY: all pointers valid for the call; the callback only touches `out`.
    let r = unsafe {
        gas_audio_decode(
            path.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            data,
            len,
            rate as c_int,
            max_samples as i64,
            push_samples,
            (&mut out as *mut Vec<f32>).cast(),
            err.as_mut_ptr().cast(),
            ERR_LEN,
        )
    };
    if r < 0 {
        return Err(err_text(&err));
    }
    Ok(out)
}
