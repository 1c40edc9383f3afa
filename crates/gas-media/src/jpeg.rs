//! JPEG decoding with libjpeg-turbo's decoder (MozJPEG's fork, built by `mozjpeg-sys`), so
//! pixels equal Pillow's (which bundles libjpeg-turbo): ISLOW integer IDCT, fancy
//! upsampling, libjpeg's YCbCr→RGB. Checked bit-exact against Pillow 13 for baseline 4:2:0,
//! 4:2:2, 4:4:4, progressive and grayscale files (`tests/image_parity.rs`).
//!
//! libjpeg reports fatal errors by unwinding out of its `error_exit` callback (the `mozjpeg`
//! crate's design); every call is wrapped in `catch_unwind` and turned into a
//! [`MediaError::Decode`]. CMYK/YCCK files are not handled here (`None`): the caller falls
//! back to the `image` crate, whose CMYK conversion may differ from Pillow's.

use std::panic::{AssertUnwindSafe, catch_unwind};

use std::os::raw::c_int;

use mozjpeg::{ColorSpace, DctMethod, Decompress};
use mozjpeg_sys as ffi;

use crate::resize::ChwResizer;
use crate::{MAX_PIXELS, MediaError, RgbImage};

fn decode_err(msg: String) -> MediaError {
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
/// fallback decoder (CMYK/YCCK), errors for an empty or oversized image.
fn check_header(cs: ColorSpace, w: u32, h: u32) -> Result<bool, MediaError> {
    if !matches!(
        cs,
        ColorSpace::JCS_YCbCr | ColorSpace::JCS_GRAYSCALE | ColorSpace::JCS_RGB
    ) {
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
    let r = catch_unwind(AssertUnwindSafe(
        || -> Result<Option<RgbImage>, MediaError> {
            let mut d = Decompress::new_mem(bytes).map_err(|e| decode_err(e.to_string()))?;
            if !check_header(d.color_space(), d.width() as u32, d.height() as u32)? {
                return Ok(None);
            }
            d.dct_method(DctMethod::IntegerSlow);
            d.do_fancy_upsampling(true);
            let mut s = d.rgb().map_err(|e| decode_err(e.to_string()))?;
            let (ow, oh) = (s.width() as u32, s.height() as u32);
            let data: Vec<u8> = s.read_scanlines().map_err(|e| decode_err(e.to_string()))?;
            s.finish().map_err(|e| decode_err(e.to_string()))?;
            RgbImage::from_raw(ow, oh, data)
                .map(Some)
                .ok_or_else(|| decode_err("decoder returned a short image".into()))
        },
    ));
    match r {
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
struct Decoder {
    cinfo: Box<ffi::jpeg_decompress_struct>,
    _err: Box<ffi::jpeg_error_mgr>,
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: `cinfo` was initialised by `jpeg_create_decompress` and is destroyed once.
        unsafe { ffi::jpeg_destroy_decompress(&mut self.cinfo) }
    }
}

extern "C-unwind" fn silence(_c: &mut ffi::jpeg_common_struct, _level: c_int) {}

extern "C-unwind" fn unwind_error_exit(c: &mut ffi::jpeg_common_struct) {
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
        // `output_width * 3` bytes per row.
        unsafe {
            let mut err: Box<ffi::jpeg_error_mgr> = Box::new(std::mem::zeroed());
            ffi::jpeg_std_error(&mut err);
            err.error_exit = Some(unwind_error_exit);
            err.emit_message = Some(silence);
            let mut cinfo: Box<ffi::jpeg_decompress_struct> = Box::new(std::mem::zeroed());
            cinfo.common.err = &mut *err;
            ffi::jpeg_create_decompress(&mut *cinfo);
            let mut d = Decoder { cinfo, _err: err };
            let c = &mut *d.cinfo;
            ffi::jpeg_mem_src(c, bytes.as_ptr(), bytes.len() as _);
            ffi::jpeg_read_header(c, 1);
            let (w, h) = (c.image_width, c.image_height);
            if !check_header(c.jpeg_color_space, w, h)? {
                return Ok(false);
            }
            c.out_color_space = ColorSpace::JCS_RGB;
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
            let stride = ow * 3;
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
                        let row = &chunk[start + left * 3..start + stride];
                        rz.push_row(a - top, row);
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
