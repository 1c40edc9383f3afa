//! JPEG encoding exactly as Pillow's `Image.save(..., "JPEG")` does with the libjpeg-turbo it
//! bundles: baseline, standard Huffman tables (no optimisation), ISLOW forward DCT, the
//! library's quality scaling of the Annex K tables, 4:2:0 for colour, no smoothing, JFIF
//! 1.01 with unknown density (gray, YCbCr) or an Adobe marker (CMYK), and the COM marker of
//! the source written back (Pillow keeps `info["comment"]`).
//!
//! The encoder is MozJPEG's (the one `mozjpeg-sys` builds, shared with the decoder) set to
//! its `JCP_FASTEST` profile *before* `jpeg_set_defaults`, as Pillow itself does when it is
//! built against MozJPEG: that profile is libjpeg-turbo's defaults (no trellis quantisation,
//! no progressive scans, no deringing, Annex K tables, no Huffman optimisation). The bytes
//! equal Pillow 12's (libjpeg-turbo 3.1) in `tests/cache_step.rs`.

use std::os::raw::c_int;

use mozjpeg::ColorSpace;
use mozjpeg_sys as ffi;

use crate::MediaError;
use crate::jpeg::{JpegMode, guarded, silence, unwind_error_exit};

const JPEG_COM: c_int = 0xFE;
const CHUNK: usize = 64 * 1024;

/// A libjpeg destination manager appending to a `Vec<u8>`.
#[repr(C)]
struct VecDest {
    mgr: ffi::jpeg_destination_mgr,
    buf: Box<[u8]>,
    out: Vec<u8>,
}

unsafe extern "C-unwind" fn dest_init(c: &mut ffi::jpeg_compress_struct) {
    // SAFETY: `dest` points at the `VecDest` owned by the `Compressor` (its first field).
    let d = unsafe { &mut *(c.dest as *mut VecDest) };
    d.mgr.next_output_byte = d.buf.as_mut_ptr();
    d.mgr.free_in_buffer = d.buf.len();
}

unsafe extern "C-unwind" fn dest_empty(c: &mut ffi::jpeg_compress_struct) -> ffi::boolean {
    // SAFETY: as in `dest_init`. libjpeg calls this with the whole buffer full.
    let d = unsafe { &mut *(c.dest as *mut VecDest) };
    d.out.extend_from_slice(&d.buf);
    d.mgr.next_output_byte = d.buf.as_mut_ptr();
    d.mgr.free_in_buffer = d.buf.len();
    1
}

unsafe extern "C-unwind" fn dest_term(c: &mut ffi::jpeg_compress_struct) {
    // SAFETY: as in `dest_init`.
    let d = unsafe { &mut *(c.dest as *mut VecDest) };
    let used = d.buf.len() - d.mgr.free_in_buffer;
    d.out.extend_from_slice(&d.buf[..used]);
    d.mgr.free_in_buffer = d.buf.len();
    d.mgr.next_output_byte = d.buf.as_mut_ptr();
}

/// Owns a libjpeg compressor, its error manager and destination; destroyed on every path.
pub(crate) struct Compressor {
    cinfo: Box<ffi::jpeg_compress_struct>,
    _err: Box<ffi::jpeg_error_mgr>,
    dest: Box<VecDest>,
    width: usize,
    comps: usize,
}

impl Drop for Compressor {
    fn drop(&mut self) {
        // SAFETY: created by `jpeg_create_compress`, destroyed once.
        unsafe { ffi::jpeg_destroy_compress(&mut self.cinfo) }
    }
}

impl Compressor {
    /// Start a Pillow-default JPEG of `w × h` pixels in `mode` at `quality` (`None`: Pillow's
    /// default, the library's 75) with Pillow's `subsampling=2` / default 4:2:0 for colour,
    /// writing `comment` as a COM marker after the headers.
    ///
    /// # Safety
    /// Must run inside [`guarded`]: libjpeg errors unwind.
    pub(crate) unsafe fn start(
        w: usize,
        h: usize,
        mode: JpegMode,
        quality: Option<i32>,
        comment: Option<&[u8]>,
    ) -> Compressor {
        // SAFETY: zeroed structs initialised by libjpeg; boxed so addresses stay put; the
        // destination callbacks only touch the boxed `VecDest`.
        unsafe {
            let mut err: Box<ffi::jpeg_error_mgr> = Box::new(std::mem::zeroed());
            ffi::jpeg_std_error(&mut err);
            err.error_exit = Some(unwind_error_exit);
            err.emit_message = Some(silence);
            let mut cinfo: Box<ffi::jpeg_compress_struct> = Box::new(std::mem::zeroed());
            cinfo.common.err = &mut *err;
            ffi::jpeg_create_compress(&mut *cinfo);
            let mut dest = Box::new(VecDest {
                mgr: std::mem::zeroed(),
                buf: vec![0u8; CHUNK].into_boxed_slice(),
                out: Vec::new(),
            });
            dest.mgr.init_destination = Some(dest_init);
            dest.mgr.empty_output_buffer = Some(dest_empty);
            dest.mgr.term_destination = Some(dest_term);
            let mut me = Compressor {
                cinfo,
                _err: err,
                dest,
                width: w,
                comps: mode.components(),
            };
            let c = &mut *me.cinfo;
            c.dest = &mut me.dest.mgr;
            c.image_width = w as _;
            c.image_height = h as _;
            c.input_components = mode.components() as _;
            c.in_color_space = match mode {
                JpegMode::Gray => ColorSpace::JCS_GRAYSCALE,
                JpegMode::Rgb => ColorSpace::JCS_RGB,
                JpegMode::Cmyk => ColorSpace::JCS_CMYK,
            };
            ffi::jpeg_c_set_int_param(
                c,
                ffi::J_INT_PARAM::JINT_COMPRESS_PROFILE,
                ffi::JCP_FASTEST as c_int,
            );
            ffi::jpeg_set_defaults(c);
            if let Some(q) = quality {
                ffi::jpeg_set_quality(c, q, 1);
            }
            if mode == JpegMode::Rgb {
                // Pillow's subsampling=2 (also the library default for YCbCr).
                let comp = std::slice::from_raw_parts_mut(c.comp_info, 3);
                comp[0].h_samp_factor = 2;
                comp[0].v_samp_factor = 2;
                for ci in &mut comp[1..] {
                    ci.h_samp_factor = 1;
                    ci.v_samp_factor = 1;
                }
            }
            c.smoothing_factor = 0;
            c.optimize_coding = 0;
            c.restart_interval = 0;
            c.restart_in_rows = 0;
            ffi::jpeg_start_compress(c, 1);
            if let Some(text) = comment.filter(|t| !t.is_empty()) {
                ffi::jpeg_write_marker(c, JPEG_COM, text.as_ptr(), text.len() as _);
            }
            me
        }
    }

    /// Write rows (each `w · components` bytes, in order).
    ///
    /// # Safety
    /// Must run inside [`guarded`].
    pub(crate) unsafe fn write_rows(&mut self, rows: &[&[u8]]) {
        let need = self.width * self.comps;
        let mut ptrs: Vec<*const u8> = rows
            .iter()
            .map(|r| {
                assert!(r.len() >= need, "short JPEG input row");
                r.as_ptr()
            })
            .collect();
        let mut done = 0;
        while done < ptrs.len() {
            // SAFETY: every pointer is a row of at least `need` bytes that libjpeg only reads.
            let n = unsafe {
                ffi::jpeg_write_scanlines(
                    &mut self.cinfo,
                    ptrs[done..].as_mut_ptr() as ffi::JSAMPARRAY,
                    (ptrs.len() - done) as _,
                )
            } as usize;
            assert!(n > 0, "libjpeg wrote no rows");
            done += n;
        }
    }

    /// Finish and return the file.
    ///
    /// # Safety
    /// Must run inside [`guarded`].
    pub(crate) unsafe fn finish(mut self) -> Vec<u8> {
        // SAFETY: all rows were written (libjpeg errors out otherwise).
        unsafe { ffi::jpeg_finish_compress(&mut self.cinfo) };
        std::mem::take(&mut self.dest.out)
    }
}

/// Encode a whole image held in memory (rows of `w · components` bytes) as Pillow's `save`
/// with `quality` (`None`: Pillow's default).
pub(crate) fn encode(
    data: &[u8],
    w: usize,
    h: usize,
    mode: JpegMode,
    quality: Option<i32>,
) -> Result<Vec<u8>, MediaError> {
    let stride = w * mode.components();
    if w == 0 || h == 0 || data.len() < stride * h {
        return Err(MediaError::Options(format!(
            "cannot encode a {w}x{h} JPEG from {} bytes",
            data.len()
        )));
    }
    guarded(|| unsafe {
        let mut enc = Compressor::start(w, h, mode, quality, None);
        for band in data[..stride * h].chunks(stride * 16) {
            let rows: Vec<&[u8]> = band.chunks_exact(stride).collect();
            enc.write_rows(&rows);
        }
        Ok(enc.finish())
    })
}
