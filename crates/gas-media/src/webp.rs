//! WebP through libwebp 1.6.0 (the version Pillow 12.1 bundles; built from source by
//! `libwebp-sys`), called the way Pillow's `_webp` module calls it, so that pixels (and
//! encoded bytes) equal Pillow's:
//!
//! * decoding: `WebPAnimDecoder` with default options (RGBA, frame 0 composited on a
//!   transparent canvas), as `Image.open` does for every WebP, still or animated;
//! * encoding (`Image.save(..., "WEBP")` of one frame): `WebPConfigInit`, then `lossless`,
//!   `quality`, `alpha_quality` = 100, `method`, `exact` = 0; an ARGB picture
//!   (`use_argb = 1`, alpha 255 unless the image is RGBA); `WebPEncode`; the result re-muxed
//!   (`WebPMuxSetImage` + `WebPMuxAssemble`) as Pillow does.

use libwebp_sys as ffi;

use crate::{MAX_PIXELS, MediaError};

fn err(message: impl Into<String>) -> MediaError {
    MediaError::Decode {
        format: "WEBP".into(),
        message: message.into(),
    }
}

/// Frame 0 of a WebP as Pillow decodes it: RGBA (alpha 255 when the file has none).
#[derive(Debug, Clone)]
pub(crate) struct WebpImage {
    pub width: usize,
    pub height: usize,
    /// Pillow's mode: `RGBA` (true) or `RGB` (false) — whether the file declares alpha.
    pub has_alpha: bool,
    pub rgba: Vec<u8>,
}

struct AnimDecoder(*mut ffi::WebPAnimDecoder);

impl Drop for AnimDecoder {
    fn drop(&mut self) {
        // SAFETY: created by WebPAnimDecoderNew, deleted once.
        unsafe { ffi::WebPAnimDecoderDelete(self.0) }
    }
}

/// Decode frame 0 like Pillow's `WebPImageFile`.
pub(crate) fn decode(bytes: &[u8]) -> Result<WebpImage, MediaError> {
    // SAFETY: every pointer handed to libwebp is valid for the call (`bytes` outlives the
    // decoder, which only borrows it); the frame buffer returned by GetNext is owned by the
    // decoder and copied before the decoder is dropped.
    unsafe {
        let mut feat: ffi::WebPBitstreamFeatures = std::mem::zeroed();
        if ffi::WebPGetFeatures(bytes.as_ptr(), bytes.len(), &mut feat)
            != ffi::VP8StatusCode::VP8_STATUS_OK
        {
            return Err(err("not a decodable WebP bitstream"));
        }
        let (w, h) = (feat.width.max(0) as u64, feat.height.max(0) as u64);
        if w * h > MAX_PIXELS {
            return Err(MediaError::TooLarge {
                width: w as u32,
                height: h as u32,
                pixels: w * h,
                max: MAX_PIXELS,
            });
        }
        let data = ffi::WebPData {
            bytes: bytes.as_ptr(),
            size: bytes.len(),
        };
        let dec = ffi::WebPAnimDecoderNew(&data, std::ptr::null());
        if dec.is_null() {
            return Err(err("could not create decoder object"));
        }
        let dec = AnimDecoder(dec);
        let mut info = ffi::WebPAnimInfo::default();
        if ffi::WebPAnimDecoderGetInfo(dec.0, &mut info) == 0 {
            return Err(err("could not read the WebP header"));
        }
        let (cw, ch) = (info.canvas_width as usize, info.canvas_height as usize);
        if cw == 0 || ch == 0 {
            return Err(MediaError::Empty {
                width: cw as u32,
                height: ch as u32,
            });
        }
        if (cw * ch) as u64 > MAX_PIXELS {
            return Err(MediaError::TooLarge {
                width: cw as u32,
                height: ch as u32,
                pixels: (cw * ch) as u64,
                max: MAX_PIXELS,
            });
        }
        let mut buf: *mut u8 = std::ptr::null_mut();
        let mut ts = 0;
        if ffi::WebPAnimDecoderGetNext(dec.0, &mut buf, &mut ts) == 0 || buf.is_null() {
            return Err(err("failed to decode next frame in WebP file"));
        }
        let rgba = std::slice::from_raw_parts(buf, cw * ch * 4).to_vec();
        Ok(WebpImage {
            width: cw,
            height: ch,
            has_alpha: feat.has_alpha != 0,
            rgba,
        })
    }
}

struct Picture(ffi::WebPPicture);

impl Drop for Picture {
    fn drop(&mut self) {
        // SAFETY: initialised by WebPPictureInit; freeing an unallocated picture is a no-op.
        unsafe { ffi::WebPPictureFree(&mut self.0) }
    }
}

struct Writer(ffi::WebPMemoryWriter);

impl Drop for Writer {
    fn drop(&mut self) {
        // SAFETY: initialised by WebPMemoryWriterInit.
        unsafe { ffi::WebPMemoryWriterClear(&mut self.0) }
    }
}

/// Pillow's single-frame `save(format="WEBP", quality=…, method=…)` of an RGB (`channels` 3)
/// or RGBA (`channels` 4) image; lossy.
pub(crate) fn encode(
    pixels: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    quality: f32,
    method: i32,
) -> Result<Vec<u8>, MediaError> {
    let enc_err = |m: String| MediaError::Options(format!("WebP encoding failed: {m}"));
    if width == 0 || height == 0 || pixels.len() < width * height * channels {
        return Err(enc_err(format!("bad {width}x{height} input")));
    }
    if width > 16383 || height > 16383 {
        return Err(enc_err(format!(
            "{width}x{height} exceeds the WebP limit of 16383 pixels"
        )));
    }
    // SAFETY: config/picture/writer are initialised by libwebp before use and freed by
    // their guards; the ARGB buffer is written within `argb_stride * height` words.
    unsafe {
        let mut config: ffi::WebPConfig = std::mem::zeroed();
        if !ffi::WebPInitConfig(&mut config) {
            return Err(enc_err("config init".into()));
        }
        config.lossless = 0;
        config.quality = quality;
        config.alpha_quality = 100;
        config.method = method;
        config.exact = 0;
        if ffi::WebPValidateConfig(&config) == 0 {
            return Err(enc_err("invalid configuration".into()));
        }
        let mut pic = Picture(std::mem::zeroed());
        if !ffi::WebPPictureInit(&mut pic.0) {
            return Err(enc_err("picture init".into()));
        }
        pic.0.width = width as i32;
        pic.0.height = height as i32;
        pic.0.use_argb = 1;
        if ffi::WebPPictureAlloc(&mut pic.0) == 0 {
            return Err(enc_err("cannot allocate the picture".into()));
        }
        let stride = pic.0.argb_stride as usize;
        let argb = std::slice::from_raw_parts_mut(pic.0.argb, stride * height);
        for y in 0..height {
            let src = &pixels[y * width * channels..(y + 1) * width * channels];
            let dst = &mut argb[y * stride..y * stride + width];
            if channels == 4 {
                for (d, p) in dst.iter_mut().zip(src.chunks_exact(4)) {
                    *d = u32::from_be_bytes([p[3], p[0], p[1], p[2]]);
                }
            } else {
                for (d, p) in dst.iter_mut().zip(src.chunks_exact(3)) {
                    *d = u32::from_be_bytes([0xff, p[0], p[1], p[2]]);
                }
            }
        }
        let mut writer = Writer(std::mem::zeroed());
        ffi::WebPMemoryWriterInit(&mut writer.0);
        pic.0.writer = Some(ffi::WebPMemoryWrite);
        pic.0.custom_ptr = &mut writer.0 as *mut _ as *mut std::ffi::c_void;
        if ffi::WebPEncode(&config, &mut pic.0) == 0 {
            return Err(enc_err(format!("error {:?}", pic.0.error_code)));
        }
        // Pillow re-muxes the encoder's output (no ICC / EXIF / XMP chunks here).
        let image = ffi::WebPData {
            bytes: writer.0.mem,
            size: writer.0.size,
        };
        let mux = ffi::WebPMuxNew();
        if mux.is_null() {
            return Err(enc_err("mux".into()));
        }
        let set = ffi::WebPMuxSetImage(mux, &image, 0);
        let mut out = ffi::WebPData::default();
        let asm = ffi::WebPMuxAssemble(mux, &mut out);
        ffi::WebPMuxDelete(mux);
        if set != ffi::WebPMuxError::WEBP_MUX_OK || asm != ffi::WebPMuxError::WEBP_MUX_OK {
            ffi::WebPDataClear(&mut out);
            return Err(enc_err("mux assemble".into()));
        }
        let bytes = std::slice::from_raw_parts(out.bytes, out.size).to_vec();
        ffi::WebPDataClear(&mut out);
        Ok(bytes)
    }
}
