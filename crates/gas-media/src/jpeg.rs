//! JPEG decoding with libjpeg-turbo's decoder (MozJPEG's fork, built by `mozjpeg-sys`), so
//! pixels equal Pillow's (which bundles libjpeg-turbo): ISLOW integer IDCT, fancy
//! upsampling, libjpeg's YCbCr→RGB. Checked bit-exact against Pillow 13 for baseline 4:2:0,
//! 4:2:2, 4:4:4, progressive and grayscale files (`tests/image_parity.rs`).
//!
//! CMYK and YCCK files are decoded to CMYK by libjpeg and converted to RGB as Pillow does:
//! Pillow reads every 4-channel JPEG with Adobe's inverted polarity (`CMYK;I`) and converts
//! with its integer `cmyk2rgb` ([`pillow_cmyk_to_rgb`]).
//!
//! libjpeg reports fatal errors by unwinding out of its `error_exit` callback (the `mozjpeg`
//! crate's design); every call is wrapped in `catch_unwind` and turned into a
//! [`MediaError::Decode`]. Other colour spaces (none Pillow opens) return `None`: the caller
//! falls back to the `image` crate.

use std::panic::{AssertUnwindSafe, catch_unwind};

use std::os::raw::c_int;

use mozjpeg::ColorSpace;
use mozjpeg_sys as ffi;

use crate::resize::ChwResizer;
use crate::{MAX_PIXELS, MediaError, RgbImage};

pub(crate) fn decode_err(msg: String) -> MediaError {
    MediaError::Decode {
        format: "JPEG".into(),
        message: msg.trim_start_matches("libjpeg fatal error: ").to_string(),
    }
}

fn panic_msg(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "decoder error".into())
}

/// The header checks of both decode paths: `Ok(false)` for a colour space left to the
/// fallback decoder (none Pillow opens), errors for an empty or oversized image.
fn check_header(cs: ColorSpace, w: u32, h: u32) -> Result<bool, MediaError> {
    if mode_of(cs).is_none() {
        return Ok(false);
    }
    let pixels = w as u64 * h as u64;
    if pixels > MAX_PIXELS {
        return Err(MediaError::TooLarge {
            width: w,
            height: h,
            pixels,
            max: MAX_PIXELS,
        });
    }
    if pixels == 0 {
        return Err(MediaError::Empty {
            width: w,
            height: h,
        });
    }
    Ok(true)
}

/// Decode to RGB. `Ok(None)` when the colour space is one we leave to the fallback decoder.
pub(crate) fn decode(bytes: &[u8]) -> Result<Option<RgbImage>, MediaError> {
    let mut dims = (0, 0);
    let mut data = Vec::new();
    let ok = decode_rows(
        bytes,
        Want::Rgb,
        |w, h, _, _| {
            dims = (w as u32, h as u32);
            Ok(())
        },
        |_, row| data.extend_from_slice(row),
    )?;
    if !ok {
        return Ok(None);
    }
    RgbImage::from_raw(dims.0, dims.1, data)
        .map(Some)
        .ok_or_else(|| decode_err("decoder returned a short image".into()))
}

/// What the JPEG holds, as Pillow names its mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JpegMode {
    /// One component: Pillow's `L`.
    Gray,
    /// Three components (YCbCr or RGB): Pillow's `RGB`.
    Rgb,
    /// Four components (CMYK or YCCK): Pillow's `CMYK` (read with inverted polarity).
    Cmyk,
}

impl JpegMode {
    pub(crate) fn components(self) -> usize {
        match self {
            JpegMode::Gray => 1,
            JpegMode::Rgb => 3,
            JpegMode::Cmyk => 4,
        }
    }
}

fn mode_of(cs: ColorSpace) -> Option<JpegMode> {
    match cs {
        ColorSpace::JCS_GRAYSCALE => Some(JpegMode::Gray),
        ColorSpace::JCS_YCbCr | ColorSpace::JCS_RGB => Some(JpegMode::Rgb),
        ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK => Some(JpegMode::Cmyk),
        _ => None,
    }
}

/// Pillow's `convert("RGB")` of a CMYK pixel row as libjpeg returns it (Adobe polarity, so
/// Pillow's `CMYK;I` unpacker inverts it first): `r = clip(nk - nk·c / 255)` with Pillow's
/// rounding `MULDIV255`, where `nk = 255 - k`.
pub(crate) fn pillow_cmyk_to_rgb(raw: &[u8], out: &mut [u8]) {
    for (p, o) in raw.chunks_exact(4).zip(out.chunks_exact_mut(3)) {
        // Pillow's values are the inverse of libjpeg's: c' = 255 - raw; nk = 255 - k' = raw k.
        let nk = p[3] as i32;
        for i in 0..3 {
            let c = 255 - p[i] as i32;
            let t = c * nk + 128;
            let m = ((t >> 8) + t) >> 8;
            o[i] = (nk - m).clamp(0, 255) as u8;
        }
    }
}

/// What [`decode_rows`] hands out per row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    /// RGB rows as Pillow's `convert("RGB")` gives them.
    Rgb,
    /// Rows in the file's Pillow mode (gray, RGB, or libjpeg's CMYK = Pillow's inverted).
    Native,
}

/// Full decode with libjpeg (ISLOW, fancy upsampling, as Pillow), calling `start(w, h,
/// mode, comment)` once after the header and `row(y, bytes)` for every row. `Ok(false)`: a
/// colour space Pillow does not open (nothing called).
pub(crate) fn decode_rows(
    bytes: &[u8],
    want: Want,
    mut start: impl FnMut(usize, usize, JpegMode, Option<&[u8]>) -> Result<(), MediaError>,
    mut row: impl FnMut(usize, &[u8]),
) -> Result<bool, MediaError> {
    guarded(|| unsafe {
        let mut d = Decoder::new();
        let c = &mut *d.cinfo;
        ffi::jpeg_mem_src(c, bytes.as_ptr(), bytes.len() as _);
        ffi::jpeg_save_markers(c, JPEG_COM, 0xFFFF);
        ffi::jpeg_read_header(c, 1);
        let (w, h) = (c.image_width, c.image_height);
        if !check_header(c.jpeg_color_space, w, h)? {
            return Ok(false);
        }
        let mode = mode_of(c.jpeg_color_space).expect("checked");
        c.out_color_space = match (mode, want) {
            (JpegMode::Cmyk, _) => ColorSpace::JCS_CMYK,
            (JpegMode::Gray, Want::Native) => ColorSpace::JCS_GRAYSCALE,
            _ => ColorSpace::JCS_RGB,
        };
        c.dct_method = ffi::J_DCT_METHOD::JDCT_ISLOW;
        c.do_fancy_upsampling = 1;
        // Pillow keeps the last COM marker.
        let mut comment: Option<&[u8]> = None;
        let mut m = c.marker_list;
        while !m.is_null() {
            let mk = &*m;
            if mk.marker as c_int == JPEG_COM && !mk.data.is_null() {
                comment = Some(std::slice::from_raw_parts(mk.data, mk.data_length as usize));
            }
            m = mk.next;
        }
        let comment: Option<Vec<u8>> = comment.map(|c| c.to_vec());
        ffi::jpeg_start_decompress(c);
        let (ow, oh) = (c.output_width as usize, c.output_height as usize);
        let comps = c.out_color_components as usize;
        start(ow, oh, mode, comment.as_deref())?;
        const CHUNK: usize = 16;
        let stride = ow * comps;
        let pstride = stride.div_ceil(32) * 32;
        let mut buf = vec![0u8; CHUNK * pstride + 64];
        let off = (33 - buf.as_ptr() as usize % 32) % 32;
        let cmyk_rgb = mode == JpegMode::Cmyk && want == Want::Rgb;
        let mut rgb = if cmyk_rgb {
            vec![0u8; ow * 3]
        } else {
            Vec::new()
        };
        let mut y = 0usize;
        while y < oh {
            let k = (oh - y).min(CHUNK);
            let base = buf.as_mut_ptr().add(off);
            let mut ptrs = [std::ptr::null_mut::<u8>(); CHUNK];
            for (i, p) in ptrs.iter_mut().enumerate().take(k) {
                *p = base.add(i * pstride);
            }
            let n = ffi::jpeg_read_scanlines(c, ptrs.as_mut_ptr(), k as _) as usize;
            if n == 0 {
                return Err(decode_err("decoder returned a short image".into()));
            }
            for i in 0..n {
                let r = &buf[off + i * pstride..off + i * pstride + stride];
                if cmyk_rgb {
                    pillow_cmyk_to_rgb(r, &mut rgb);
                    row(y + i, &rgb);
                } else {
                    row(y + i, r);
                }
            }
            y += n;
        }
        ffi::jpeg_finish_decompress(c);
        Ok(true)
    })
}

const JPEG_COM: c_int = 0xFE;

/// Run libjpeg code, turning its unwinding `error_exit` into a [`MediaError::Decode`].
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T, MediaError>) -> Result<T, MediaError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(decode_err(panic_msg(p))),
    }
}

thread_local! {
    /// The row buffer of [`decode_cropped_chw`], kept per thread between images.
    static CHUNK_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Owns a libjpeg decompressor and its error manager; destroys it on every exit path,
/// unwinding included.
pub(crate) struct Decoder {
    pub(crate) cinfo: Box<ffi::jpeg_decompress_struct>,
    _err: Box<ffi::jpeg_error_mgr>,
}

impl Decoder {
    /// A decompressor whose fatal errors unwind (to [`guarded`]) and whose warnings are
    /// silent.
    ///
    /// # Safety
    /// Must run inside [`guarded`] (or another `catch_unwind`).
    pub(crate) unsafe fn new() -> Self {
        // SAFETY: zeroed structs initialised by libjpeg's own functions; the error manager
        // is boxed, so its address stays valid for the decompressor's life.
        unsafe {
            let mut err: Box<ffi::jpeg_error_mgr> = Box::new(std::mem::zeroed());
            ffi::jpeg_std_error(&mut err);
            err.error_exit = Some(unwind_error_exit);
            err.emit_message = Some(silence);
            let mut cinfo: Box<ffi::jpeg_decompress_struct> = Box::new(std::mem::zeroed());
            cinfo.common.err = &mut *err;
            ffi::jpeg_create_decompress(&mut *cinfo);
            Decoder { cinfo, _err: err }
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: `cinfo` was initialised by `jpeg_create_decompress` and is destroyed once.
        unsafe { ffi::jpeg_destroy_decompress(&mut self.cinfo) }
    }
}

pub(crate) extern "C-unwind" fn silence(_c: &mut ffi::jpeg_common_struct, _level: c_int) {}

pub(crate) extern "C-unwind" fn unwind_error_exit(c: &mut ffi::jpeg_common_struct) {
    let mut buf = [0u8; 80];
    // SAFETY: libjpeg sets `err` before it can call `error_exit`; `format_message` writes at
    // most JMSG_LENGTH_MAX (80) bytes, NUL-terminated.
    let msg = unsafe {
        match c.err.as_ref().and_then(|e| e.format_message) {
            Some(f) => {
                let f: unsafe extern "C-unwind" fn(&mut ffi::jpeg_common_struct, &mut [u8; 80]) =
                    std::mem::transmute(f);
                f(c, &mut buf);
                let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
                String::from_utf8_lossy(&buf[..end]).into_owned()
            }
            None => "decoder error".to_string(),
        }
    };
    // resume_unwind skips the panic hook: no noise on stderr; caught by `catch_unwind` below.
    std::panic::resume_unwind(Box::new(msg));
}

/// Network-exact decode + crop + resize of a JPEG for a `target` (`[H, W]`), written as CHW
/// planes into `out` (`3·H·W` bytes), decoding only what the crop rule keeps:
/// `jpeg_crop_scanline` limits the IDCT / upsampling / colour conversion to the needed
/// columns, `jpeg_skip_scanlines` skips the rows above, decoding stops after the last needed
/// row, and rows stream through a 16-row buffer into [`ChwResizer`] (no decoded image is
/// held). One extra iMCU is kept on each cut side so that fancy upsampling sees the same
/// neighbours as in a full decode (libjpeg treats a cut edge like an image edge); the tensor
/// is therefore identical to full decode + crop + resize (tested against that on every
/// subsampling, and against Pillow + OpenCV). `Ok(false)`: a colour space left to the
/// fallback decoder (`out` untouched).
///
/// `fast` is `--fast-decode` (NOT network-exact): DCT-domain scaling by the smallest `m/8`
/// that keeps the crop at least about 3/4 of the target size, fast IDCT, plain upsampling;
/// the crop rule then applies to the scaled image.
pub(crate) fn decode_cropped_chw(
    bytes: &[u8],
    target: [u32; 2],
    fast: bool,
    out: &mut [u8],
) -> Result<bool, MediaError> {
    let r = catch_unwind(AssertUnwindSafe(|| -> Result<bool, MediaError> {
        // SAFETY: the structs are zeroed then initialised by libjpeg's own functions, the
        // error manager outlives the decompressor (both owned by `Decoder`), `bytes` outlives
        // every call that reads it, and every buffer handed to libjpeg is large enough for
        // `output_width * components` bytes per row.
        unsafe {
            let mut d = Decoder::new();
            let c = &mut *d.cinfo;
            ffi::jpeg_mem_src(c, bytes.as_ptr(), bytes.len() as _);
            ffi::jpeg_read_header(c, 1);
            let (w, h) = (c.image_width, c.image_height);
            if !check_header(c.jpeg_color_space, w, h)? {
                return Ok(false);
            }
            let cmyk = mode_of(c.jpeg_color_space) == Some(JpegMode::Cmyk);
            c.out_color_space = if cmyk {
                ColorSpace::JCS_CMYK
            } else {
                ColorSpace::JCS_RGB
            };
            if !fast {
                c.dct_method = ffi::J_DCT_METHOD::JDCT_ISLOW;
                c.do_fancy_upsampling = 1;
            } else {
                // Full-image size whose crop still covers the target.
                let (_, _, cw, ch) = crate::resize::crop_box(w, h, target[0], target[1]);
                let tw = (w as u64 * target[1] as u64).div_ceil(cw as u64);
                let th = (h as u64 * target[0] as u64).div_ceil(ch as u64);
                let (w, h) = (w as u64, h as u64);
                let m = (1..=8u64)
                    .find(|m| {
                        (w * m).div_ceil(8) * 4 >= tw * 3 && (h * m).div_ceil(8) * 4 >= th * 3
                    })
                    .unwrap_or(8);
                c.scale_num = m as _;
                c.scale_denom = 8;
                c.dct_method = ffi::J_DCT_METHOD::JDCT_IFAST;
                c.do_fancy_upsampling = 0;
            }
            ffi::jpeg_start_decompress(c);
            // Output size: the image's, or its DCT-scaled size in fast mode.
            let (w, h) = (c.output_width, c.output_height);
            let (left, top, cw, ch) = crate::resize::crop_box(w, h, target[0], target[1]);
            let imcu_w = (c.max_h_samp_factor.max(1) * 8) as u32;
            let imcu_h = (c.max_v_samp_factor.max(1) * 8) as u32;
            let x0 = left.saturating_sub(imcu_w);
            let x1 = (left + cw + imcu_w).min(w);
            let (mut xoff, mut xw) = (x0, x1 - x0);
            if xw < w {
                ffi::jpeg_crop_scanline(c, &mut xoff, &mut xw);
            } else {
                xoff = 0;
            }
            let y0 = top.saturating_sub(imcu_h);
            if y0 > 0 {
                let skipped = ffi::jpeg_skip_scanlines(c, y0);
                if skipped != y0 {
                    return Err(decode_err(format!("could not skip to row {y0}")));
                }
            }
            let ow = c.output_width as usize;
            let comps = if cmyk { 4 } else { 3 };
            let stride = ow * comps;
            let mut rgb = if cmyk { vec![0u8; ow * 3] } else { Vec::new() };
            let (left, top, cw, ch) = (
                (left - xoff) as usize,
                top as usize,
                cw as usize,
                ch as usize,
            );
            let mut rz = ChwResizer::new(cw, ch, target[0] as usize, target[1] as usize, out);
            // Rows stream through a small buffer straight into the resizer; libjpeg gets
            // several rows per call (one at a time makes it upsample into a spare buffer
            // and copy: fancy h2v2 produces two rows per pass).
            const CHUNK: usize = 16;
            // Every row starts 1 byte past a 32-byte boundary: libjpeg-turbo's SIMD colour
            // conversion writes 32-byte-aligned rows with non-temporal stores (straight to
            // memory, past the cache), and these rows are read again at once by the resizer.
            let pstride = stride.div_ceil(32) * 32;
            let mut chunk = CHUNK_BUF.with(|b| std::mem::take(&mut *b.borrow_mut()));
            chunk.resize(CHUNK * pstride + 64, 0);
            let off = (33 - chunk.as_ptr() as usize % 32) % 32;
            let mut next = y0 as usize; // absolute index of the next row libjpeg returns
            while !rz.done() && next < top + ch {
                let k = (top + ch - next).min(CHUNK);
                let base = chunk.as_mut_ptr().add(off);
                let mut ptrs = [std::ptr::null_mut::<u8>(); CHUNK];
                for (i, p) in ptrs.iter_mut().enumerate().take(k) {
                    *p = base.add(i * pstride);
                }
                let n = ffi::jpeg_read_scanlines(c, ptrs.as_mut_ptr(), k as _) as usize;
                if n == 0 {
                    return Err(decode_err("decoder returned a short image".into()));
                }
                for i in 0..n {
                    let a = next + i;
                    if a >= top {
                        let start = off + i * pstride;
                        if cmyk {
                            pillow_cmyk_to_rgb(&chunk[start..start + stride], &mut rgb);
                            rz.push_row(a - top, &rgb[left * 3..]);
                        } else {
                            let row = &chunk[start + left * 3..start + stride];
                            rz.push_row(a - top, row);
                        }
                    }
                }
                next += n;
            }
            if !rz.done() {
                return Err(decode_err("decoder returned a short image".into()));
            }
            // The rows below the crop are never decoded; abort instead of finish.
            ffi::jpeg_abort_decompress(c);
            CHUNK_BUF.with(|b| *b.borrow_mut() = chunk);
            Ok(true)
        }
    }));
    match r {
        Ok(r) => r,
        Err(p) => Err(decode_err(panic_msg(p))),
    }
}
