//! The bench.md crop rule and an OpenCV-`INTER_LINEAR`-exact bilinear resize for RGB `u8`.
//!
//! Hand-written on purpose (stack.md): general-purpose resizers (e.g. `fast_image_resize`)
//! antialias when downscaling, which OpenCV's `INTER_LINEAR` does not, so their pixels differ.
//! This reproduces `cv2.resize(src, (W, H), interpolation=cv2.INTER_LINEAR)` bit for bit
//! (opencv-python-headless 5.0, checked by `tests/parity.rs` on random up/down sizes):
//!
//! * source coordinate `f = (float)((d + 0.5) * scale - 0.5)` with `scale = 1 / (dst / src)`
//!   computed in `f64` then rounded to `f32`, `s = floor(f)`, `f -= s`;
//! * columns: `s < 0` → `s = 0, f = 0`; `s >= w - 1` → `s = w - 1, f = 0`; rows are clamped
//!   per tap instead (`clip(s + k, 0, h - 1)`), keeping `f`;
//! * coefficients `cvRound((1 - f) * 2048)`, `cvRound(f * 2048)` (round half to even);
//! * horizontal pass into `i32`: `p0 * c0 + p1 * c1` (or `p * 2048` at the right edge);
//! * vertical pass as OpenCV's SIMD `VResizeLinearVec_32s8u` computes it (16-bit
//!   multiply-high lanes): `((s0 >> 4) * b0 >> 16) + ((s1 >> 4) * b1 >> 16)`, then `(v + 2) >> 2` saturated to
//!   `u8`. (OpenCV's scalar formula `(s0*b0 + s1*b1 + 2^21) >> 22` differs by 1 on ~5 % of
//!   pixels; cv2 uses the SIMD form for every pixel, tails included.)
//!
//! The exact-2× case, which OpenCV routes to `INTER_AREA`, gives the same values as this
//! formula (both average the 2×2 block with round-half-up), so no special path is needed.

/// Fixed-point scale of OpenCV's resize coefficients (`INTER_RESIZE_COEF_SCALE`).
const COEF_SCALE: f32 = 2048.0;

/// One output coordinate: first source index and the two fixed-point weights.
#[derive(Clone, Copy, Debug)]
struct Tap {
    src: usize,
    c0: i32,
    c1: i32,
}

/// `saturate_cast<short>(float)`: round half to even (`cvRound` uses `lrint`).
fn round_coef(v: f32) -> i32 {
    v.round_ties_even() as i32
}

fn source_pos(d: usize, scale: f64) -> (i64, f32) {
    let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
    let s = f.floor();
    (s as i64, f - s)
}

fn column_taps(src: usize, dst: usize) -> Vec<Tap> {
    let scale = 1.0 / (dst as f64 / src as f64);
    (0..dst)
        .map(|d| {
            let (mut s, mut f) = source_pos(d, scale);
            if s < 0 {
                s = 0;
                f = 0.0;
            }
            if s >= src as i64 - 1 {
                s = src as i64 - 1;
                f = 0.0;
            }
            Tap {
                src: s as usize,
                c0: round_coef((1.0 - f) * COEF_SCALE),
                c1: round_coef(f * COEF_SCALE),
            }
        })
        .collect()
}

/// Rows keep `f` and clamp each of the two taps to the image.
fn row_taps(src: usize, dst: usize) -> Vec<(usize, usize, i32, i32)> {
    let scale = 1.0 / (dst as f64 / src as f64);
    let last = src as i64 - 1;
    (0..dst)
        .map(|d| {
            let (s, f) = source_pos(d, scale);
            (
                s.clamp(0, last) as usize,
                (s + 1).clamp(0, last) as usize,
                round_coef((1.0 - f) * COEF_SCALE),
                round_coef(f * COEF_SCALE),
            )
        })
        .collect()
}

/// A borrowed window of an interleaved RGB `u8` image.
#[derive(Clone, Copy, Debug)]
pub struct RgbView<'a> {
    /// Whole-image pixel data, row-major, 3 bytes per pixel.
    pub data: &'a [u8],
    /// Bytes per row of `data`.
    pub stride: usize,
    /// Window origin (pixels).
    pub left: usize,
    pub top: usize,
    /// Window size (pixels).
    pub width: usize,
    pub height: usize,
}

impl RgbView<'_> {
    fn row(&self, y: usize) -> &[u8] {
        let start = (self.top + y) * self.stride + self.left * 3;
        &self.data[start..start + self.width * 3]
    }
}

/// One tap of the horizontal pass on the three channels, as `sum >> 4` (the first step of
/// OpenCV's vertical pass, done here once per source row instead of once per use).
#[inline(always)]
fn tap_sums(row: &[u8], w: usize, t: &Tap) -> [i16; 3] {
    let i = t.src * 3;
    let v = if t.src + 1 >= w {
        let p = &row[i..i + 3];
        [p[0] as i32 * 2048, p[1] as i32 * 2048, p[2] as i32 * 2048]
    } else {
        let p = &row[i..i + 6];
        [
            p[0] as i32 * t.c0 + p[3] as i32 * t.c1,
            p[1] as i32 * t.c0 + p[4] as i32 * t.c1,
            p[2] as i32 * t.c0 + p[5] as i32 * t.c1,
        ]
    };
    [(v[0] >> 4) as i16, (v[1] >> 4) as i16, (v[2] >> 4) as i16]
}

/// Horizontal pass of one source row, interleaved.
fn hpass(row: &[u8], taps: &[Tap], out: &mut [i16]) {
    let w = row.len() / 3;
    for (t, o) in taps.iter().zip(out.chunks_exact_mut(3)) {
        o.copy_from_slice(&tap_sums(row, w, t));
    }
}

/// `(a * b) >> 16` on `i16`s: one `pmulhw` lane, which is what OpenCV's SIMD code uses
/// (and what lets this loop vectorize with plain SSE2).
#[inline(always)]
fn mulhi(a: i16, b: i16) -> i16 {
    ((a as i32 * b as i32) >> 16) as i16
}

/// One output row of the vertical pass. Inputs are the horizontal sums already shifted
/// right by 4 (`s >> 4` fits in `i16`: at most `255 · 2048 >> 4 = 32640`); weights are at
/// most 2048, so each product term is at most 1020 and the sum fits in `i16` too.
fn vpass(s0: &[i16], s1: &[i16], b0: i16, b1: i16, out: &mut [u8]) {
    for ((o, &a), &b) in out.iter_mut().zip(s0).zip(s1) {
        let v = mulhi(a, b0) + mulhi(b, b1);
        *o = ((v + 2) >> 2).clamp(0, 255) as u8;
    }
}

/// Resize a window to `dst_w × dst_h` like `cv2.resize(..., INTER_LINEAR)`; calls
/// `emit(y, row)` once per output row in order with the interleaved RGB row.
///
/// Panics only on programmer error (empty window or zero target), never on image content.
pub fn resize_linear_rows(
    src: RgbView<'_>,
    dst_w: usize,
    dst_h: usize,
    mut emit: impl FnMut(usize, &[u8]),
) {
    assert!(src.width > 0 && src.height > 0 && dst_w > 0 && dst_h > 0);
    let cols = column_taps(src.width, dst_w);
    let rows = row_taps(src.height, dst_h);
    // Two cached horizontal-pass rows, keyed by source row index.
    let mut buf = [vec![0i16; dst_w * 3], vec![0i16; dst_w * 3]];
    let mut key = [usize::MAX, usize::MAX];
    let mut out = vec![0u8; dst_w * 3];
    for (y, &(r0, r1, b0, b1)) in rows.iter().enumerate() {
        for r in [r0, r1] {
            if key[0] != r && key[1] != r {
                // Replace the slot not holding the other row we need.
                let slot = if key[0] == r0 || key[0] == r1 { 1 } else { 0 };
                hpass(src.row(r), &cols, &mut buf[slot]);
                key[slot] = r;
            }
        }
        let s0 = &buf[if key[0] == r0 { 0 } else { 1 }];
        let s1 = &buf[if key[0] == r1 { 0 } else { 1 }];
        vpass(s0, s1, b0 as i16, b1 as i16, &mut out);
        emit(y, &out);
    }
}

/// The column taps of a [`ChwResizer`], with the inner ones (both source pixels inside the
/// row: all but a suffix, as `src` never decreases) also laid out for the AVX2 pass.
struct ColumnTaps {
    taps: Vec<Tap>,
    /// How many leading taps are inner.
    inner: usize,
    /// Inner taps: byte offset of the first source pixel (`3·src`).
    offs: Vec<i32>,
    /// Inner taps: `c0 | c1 << 16`, the two weights as the `i16` pair `pmaddwd` multiplies.
    coefs: Vec<i32>,
}

impl ColumnTaps {
    fn new(src_w: usize, dst_w: usize) -> Self {
        let taps = column_taps(src_w, dst_w);
        let inner = taps.partition_point(|t| t.src + 1 < src_w);
        let offs = taps[..inner].iter().map(|t| (t.src * 3) as i32).collect();
        let coefs = taps[..inner].iter().map(|t| t.c0 | (t.c1 << 16)).collect();
        ColumnTaps {
            taps,
            inner,
            offs,
            coefs,
        }
    }
}

/// Horizontal pass of one source row into planar `[R | G | B]` lanes of `taps.len()` each.
/// The inner taps go 8 at a time through [`avx2::hpass_inner`] where the CPU has AVX2, the
/// rest through a branch-free scalar loop with one bounds check per tap; the edge ones go
/// through [`tap_sums`]. Same arithmetic everywhere (tests compare the paths).
fn hpass_planar(row: &[u8], cols: &ColumnTaps, out: &mut [i16]) {
    let done = hpass_planar_simd(row, cols, out);
    hpass_planar_from(row, cols, done, out);
}

#[cfg(target_arch = "x86_64")]
fn hpass_planar_simd(row: &[u8], cols: &ColumnTaps, out: &mut [i16]) -> usize {
    // The gathers' bound, checked on the row at hand rather than assumed from the width the
    // taps were built for: offsets never decrease, so the last one is the largest.
    let fits = cols
        .offs
        .last()
        .is_none_or(|&o| (o as usize) + 5 < row.len());
    if !avx2::available() || row.len() > i32::MAX as usize || !fits {
        return 0;
    }
    let n = cols.taps.len();
    let (r, rest) = out.split_at_mut(n);
    let (g, b) = rest.split_at_mut(n);
    // SAFETY: AVX2 is present and `offs[k] + 5 < row.len()` for every k (both checked above;
    // offsets are `3·src >= 0`); the lanes hold n >= offs.len() values each.
    unsafe { avx2::hpass_inner(row, &cols.offs, &cols.coefs, r, g, b) }
}

#[cfg(not(target_arch = "x86_64"))]
fn hpass_planar_simd(_row: &[u8], _cols: &ColumnTaps, _out: &mut [i16]) -> usize {
    0
}

/// The scalar horizontal pass from tap `from` on (the taps before it are already done).
fn hpass_planar_from(row: &[u8], cols: &ColumnTaps, from: usize, out: &mut [i16]) {
    let taps = &cols.taps;
    let n = taps.len();
    let w = row.len() / 3;
    let (r, rest) = out.split_at_mut(n);
    let (g, b) = rest.split_at_mut(n);
    let lanes = r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut());
    for (t, ((r, g), b)) in taps[..cols.inner].iter().zip(lanes).skip(from) {
        let i = t.src * 3;
        let Some(&[p0, p1, p2, p3, p4, p5]) = row.get(i..i + 6).and_then(|p| p.first_chunk::<6>())
        else {
            continue; // unreachable: `t.src + 1 < w`
        };
        let (c0, c1) = (t.c0, t.c1);
        *r = ((p0 as i32 * c0 + p3 as i32 * c1) >> 4) as i16;
        *g = ((p1 as i32 * c0 + p4 as i32 * c1) >> 4) as i16;
        *b = ((p2 as i32 * c0 + p5 as i32 * c1) >> 4) as i16;
    }
    for (k, t) in taps.iter().enumerate().skip(cols.inner.max(from)) {
        [r[k], g[k], b[k]] = tap_sums(row, w, t);
    }
}

/// The horizontal pass's inner taps with AVX2: two 4-byte gathers per tap (`p0..p3` from the
/// first pixel's offset, `p2..p5` from two bytes on, so no read leaves the two pixels), each
/// channel's pixel pair as an `i16` pair, one `pmaddwd` with the `(c0, c1)` pair, `>> 4`.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;
    use std::sync::OnceLock;

    pub(super) fn available() -> bool {
        static AVX2: OnceLock<bool> = OnceLock::new();
        *AVX2.get_or_init(|| std::is_x86_feature_detected!("avx2"))
    }

    /// Fills `r`, `g`, `b` for the first `offs.len() / 8 * 8` inner taps; returns that count.
    ///
    /// # Safety
    /// The CPU has AVX2; every `offs[k] >= 0` and `offs[k] + 5 < row.len()`;
    /// `coefs.len() == offs.len()`; `r`, `g` and `b` hold at least `offs.len()` values.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn hpass_inner(
        row: &[u8],
        offs: &[i32],
        coefs: &[i32],
        r: &mut [i16],
        g: &mut [i16],
        b: &mut [i16],
    ) -> usize {
        let n = offs.len() / 8 * 8;
        debug_assert!(coefs.len() >= n && r.len() >= n && g.len() >= n && b.len() >= n);
        let base = row.as_ptr() as *const i32;
        let lo = _mm256_set1_epi32(0xff);
        let hi = _mm256_set1_epi32(0x00ff_0000);
        let two = _mm256_set1_epi32(2);
        let mut k = 0;
        while k < n {
            // SAFETY (whole block): k + 8 <= n <= each slice's length; the gathers read 4
            // bytes at offs[k] and offs[k] + 2, inside the row by the caller's contract.
            unsafe {
                let o = _mm256_loadu_si256(offs.as_ptr().add(k) as *const __m256i);
                let c = _mm256_loadu_si256(coefs.as_ptr().add(k) as *const __m256i);
                // a = p0 p1 p2 p3, s = p2 p3 p4 p5 (little-endian bytes of each lane)
                let a = _mm256_i32gather_epi32::<1>(base, o);
                let s = _mm256_i32gather_epi32::<1>(base, _mm256_add_epi32(o, two));
                let rp = _mm256_or_si256(
                    _mm256_and_si256(a, lo),
                    _mm256_and_si256(_mm256_slli_epi32::<8>(s), hi),
                );
                let gp = _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi32::<8>(a), lo),
                    _mm256_and_si256(s, hi),
                );
                let bp = _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi32::<16>(a), lo),
                    _mm256_and_si256(_mm256_srli_epi32::<8>(s), hi),
                );
                let rs = _mm256_srai_epi32::<4>(_mm256_madd_epi16(rp, c));
                let gs = _mm256_srai_epi32::<4>(_mm256_madd_epi16(gp, c));
                let bs = _mm256_srai_epi32::<4>(_mm256_madd_epi16(bp, c));
                // packs works per 128-bit half: [r0-3 g0-3 | r4-7 g4-7] → [r0-7 | g0-7]
                let rg = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(rs, gs));
                let bb = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(bs, bs));
                _mm_storeu_si128(
                    r.as_mut_ptr().add(k) as *mut __m128i,
                    _mm256_castsi256_si128(rg),
                );
                _mm_storeu_si128(
                    g.as_mut_ptr().add(k) as *mut __m128i,
                    _mm256_extracti128_si256::<1>(rg),
                );
                _mm_storeu_si128(
                    b.as_mut_ptr().add(k) as *mut __m128i,
                    _mm256_castsi256_si128(bb),
                );
            }
            k += 8;
        }
        n
    }
}

/// The same `cv2.INTER_LINEAR` resize as [`resize_linear_rows`], written straight into CHW
/// planes, with the source rows *pushed* in order (so a decoder can stream rows into it and
/// no decoded image is ever held): only the rows the resize reads are filtered, two filtered
/// rows are kept, and every output row is written as soon as its two source rows are in.
pub struct ChwResizer<'o> {
    cols: ColumnTaps,
    rows: Vec<(usize, usize, i32, i32)>,
    src_w: usize,
    dst_w: usize,
    plane: usize,
    buf: [Vec<i16>; 2],
    key: [usize; 2],
    next_out: usize,
    out: &'o mut [u8],
}

impl<'o> ChwResizer<'o> {
    /// Resize a `src_w × src_h` window to `dst_h × dst_w`; `out` holds `3·dst_h·dst_w` bytes.
    /// Panics only on programmer error (zero sizes, short `out`).
    pub fn new(src_w: usize, src_h: usize, dst_h: usize, dst_w: usize, out: &'o mut [u8]) -> Self {
        assert!(src_w > 0 && src_h > 0 && dst_w > 0 && dst_h > 0);
        assert!(out.len() >= 3 * dst_w * dst_h);
        Self {
            cols: ColumnTaps::new(src_w, dst_w),
            rows: row_taps(src_h, dst_h),
            src_w,
            dst_w,
            plane: dst_w * dst_h,
            buf: [vec![0i16; 3 * dst_w], vec![0i16; 3 * dst_w]],
            key: [usize::MAX, usize::MAX],
            next_out: 0,
            out,
        }
    }

    /// Whether every output row has been written.
    pub fn done(&self) -> bool {
        self.next_out == self.rows.len()
    }

    /// Source row `r` of the window (`0..src_h`, pushed in increasing order, each once),
    /// as `src_w` interleaved RGB pixels.
    pub fn push_row(&mut self, r: usize, row: &[u8]) {
        let row = &row[..self.src_w * 3];
        // Needed by a pending output row? (Tap rows never decrease with the output row.)
        let needed = self.rows[self.next_out..]
            .iter()
            .take_while(|t| t.0 <= r)
            .any(|t| t.0 == r || t.1 == r);
        if !needed {
            return;
        }
        // Replace the older of the two cached rows; the newer one is the `r0` of any output
        // row whose `r1` is `r` (no needed row lies between them).
        let slot = if self.key[0] == usize::MAX
            || (self.key[1] != usize::MAX && self.key[0] < self.key[1])
        {
            0
        } else {
            1
        };
        hpass_planar(row, &self.cols, &mut self.buf[slot]);
        self.key[slot] = r;
        while self.next_out < self.rows.len() && self.rows[self.next_out].1 <= r {
            let (r0, r1, b0, b1) = self.rows[self.next_out];
            let s0 = &self.buf[if self.key[0] == r0 { 0 } else { 1 }];
            let s1 = &self.buf[if self.key[0] == r1 { 0 } else { 1 }];
            let (n, y) = (self.dst_w, self.next_out);
            for c in 0..3 {
                let o = c * self.plane + y * n;
                vpass(
                    &s0[c * n..(c + 1) * n],
                    &s1[c * n..(c + 1) * n],
                    b0 as i16,
                    b1 as i16,
                    &mut self.out[o..o + n],
                );
            }
            self.next_out += 1;
        }
    }
}

/// The bench.md crop window for a `w × h` image and target `[H, W]`:
/// `scale = min(h/H, w/W)`, `crop = min(round_half_even(scale·T), side)`, centred with
/// integer division. Returns `(left, top, crop_w, crop_h)`.
pub fn crop_box(w: u32, h: u32, target_h: u32, target_w: u32) -> (u32, u32, u32, u32) {
    let scale = (h as f64 / target_h as f64).min(w as f64 / target_w as f64);
    let ch = ((scale * target_h as f64).round_ties_even() as u64).min(h as u64) as u32;
    let cw = ((scale * target_w as f64).round_ties_even() as u64).min(w as u64) as u32;
    // A 1-pixel-thin image can round a side to 0; keep at least one pixel.
    let (ch, cw) = (ch.max(1), cw.max(1));
    ((w - cw) / 2, (h - ch) / 2, cw, ch)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A xorshift64 generator: reproducible pseudo-random inputs without a dependency.
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// The AVX2 horizontal pass (where the CPU has it) gives the scalar pass's sums, on row
    /// widths from 1 pixel up and every scale from 8× down to 8× up.
    #[test]
    fn simd_hpass_equals_scalar() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15u64);
        let mut simd_used = false;
        for _ in 0..2000 {
            let sw = 1 + next() as usize % 700;
            let dw = (sw as f64 * (0.125 + (next() % 1000) as f64 / 1000.0 * 7.875)) as usize;
            let dw = dw.max(1);
            let row: Vec<u8> = (0..sw * 3).map(|_| next() as u8).collect();
            let cols = ColumnTaps::new(sw, dw);
            let mut want = vec![0i16; 3 * dw];
            hpass_planar_from(&row, &cols, 0, &mut want);
            let mut got = vec![-1i16; 3 * dw];
            let done = hpass_planar_simd(&row, &cols, &mut got);
            simd_used |= done > 0;
            hpass_planar_from(&row, &cols, done, &mut got);
            assert!(got == want, "{sw} -> {dw} (first {done} taps by SIMD)");
        }
        #[cfg(target_arch = "x86_64")]
        assert_eq!(simd_used, avx2::available());
    }

    /// The streaming CHW resizer gives exactly the interleaved resizer's pixels (which
    /// `tests/image_parity.rs` checks against OpenCV), for down-, up- and mixed scaling.
    #[test]
    fn chw_resizer_equals_row_resizer() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
        for _ in 0..300 {
            let (sw, sh) = (1 + next() as usize % 90, 1 + next() as usize % 90);
            let (dw, dh) = (1 + next() as usize % 90, 1 + next() as usize % 90);
            let data: Vec<u8> = (0..sw * sh * 3).map(|_| next() as u8).collect();
            let view = RgbView {
                data: &data,
                stride: sw * 3,
                left: 0,
                top: 0,
                width: sw,
                height: sh,
            };
            let mut want = vec![0u8; 3 * dw * dh];
            resize_linear_rows(view, dw, dh, |y, row| {
                for (x, p) in row.chunks_exact(3).enumerate() {
                    for c in 0..3 {
                        want[c * dw * dh + y * dw + x] = p[c];
                    }
                }
            });
            let mut got = vec![0u8; 3 * dw * dh];
            let mut rz = ChwResizer::new(sw, sh, dh, dw, &mut got);
            for r in 0..sh {
                rz.push_row(r, &data[r * sw * 3..(r + 1) * sw * 3]);
            }
            assert!(rz.done(), "{sw}x{sh} -> {dw}x{dh}: not all rows written");
            assert!(got == want, "{sw}x{sh} -> {dw}x{dh}");
        }
    }
}
