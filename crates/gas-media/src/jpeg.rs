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

use mozjpeg::{ColorSpace, DctMethod, Decompress};

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

/// How to decode: `Exact` = Pillow's settings; `Scaled(target)` = `--fast-decode`: the
/// smallest DCT scale `m/8` keeping the image at least `target` (`[w, h]`), fast IDCT, no
/// fancy upsampling.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mode {
    Exact,
    Scaled([u32; 2]),
}

/// Decode to RGB. `Ok(None)` when the colour space is one we leave to the fallback decoder.
pub(crate) fn decode(bytes: &[u8], mode: Mode) -> Result<Option<RgbImage>, MediaError> {
    let r = catch_unwind(AssertUnwindSafe(
        || -> Result<Option<RgbImage>, MediaError> {
            let mut d = Decompress::new_mem(bytes).map_err(|e| decode_err(e.to_string()))?;
            match d.color_space() {
                ColorSpace::JCS_YCbCr | ColorSpace::JCS_GRAYSCALE | ColorSpace::JCS_RGB => {}
                _ => return Ok(None),
            }
            let (w, h) = (d.width() as u64, d.height() as u64);
            if w * h > MAX_PIXELS {
                return Err(MediaError::TooLarge {
                    width: w as u32,
                    height: h as u32,
                    pixels: w * h,
                    max: MAX_PIXELS,
                });
            }
            if w == 0 || h == 0 {
                return Err(MediaError::Empty {
                    width: w as u32,
                    height: h as u32,
                });
            }
            match mode {
                Mode::Exact => {
                    d.dct_method(DctMethod::IntegerSlow);
                    d.do_fancy_upsampling(true);
                }
                Mode::Scaled([tw, th]) => {
                    let m = (1..=8u64)
                        .find(|m| {
                            (w * m).div_ceil(8) * 4 >= tw as u64 * 3
                                && (h * m).div_ceil(8) * 4 >= th as u64 * 3
                        })
                        .unwrap_or(8);
                    d.scale(m as u8);
                    d.dct_method(DctMethod::IntegerFast);
                    d.do_fancy_upsampling(false);
                }
            }
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
