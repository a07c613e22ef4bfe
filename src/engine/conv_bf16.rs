//! A convolution's two gradient products in bf16, each as one pass over its blocks with the
//! patches never written out in `f32`:
//! - the weight gradient `dW^T = dout^T col` takes the whole image as its depth: `dout^T` is
//!   packed once, and the patch matrix one band of 32 columns at a time straight from the image
//!   (a band of a few hundred KB stays in cache while every filter's block is multiplied by it).
//!   Each block is summed over all pixels at once and added, transposed, onto `dW` once, instead
//!   of a `k x patch` sum being read and written again for every chunk of pixels.
//! - the input gradient `dout W^T` adds each finished block onto the input pixels its patch
//!   columns came from, so the im2col-shaped product is never stored and read back by a separate
//!   `col2im`.

use super::bf16::{self, Segments, View, BLOCK, STEP, TILE};
use super::blocks::{block_on, blocks_with, split, store_rows, Dst};
use super::conv::Shape;
use super::gemm::{Kernel, Par};
use super::panels::PackedB;

thread_local! {
    /// The left operand's panels (`dout^T` or `dout`), kept per thread between calls.
    static A_PANELS: std::cell::Cell<Vec<u16>> = const { std::cell::Cell::new(Vec::new()) };
    /// One band of the patches, kept per thread between calls.
    static BAND: std::cell::Cell<Vec<u16>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Where each output pixel's patch starts in the input.
fn bases(s: &Shape) -> Vec<usize> {
    (0..s.pixels()).map(|p| s.pixel_base(p)).collect()
}

/// `dw (patch x k) += (dout^T col)^T` for one image `x` on the bf16 `kernel`, the bands of
/// patch columns split over `par`'s threads (each writes its own rows of `dw`).
/// Shapes whose patches `conv_direct` reads in place go there.
pub fn weight_grad(kernel: Kernel, x: &[f32], dout: &[f32], s: &Shape, dw: &mut [f32], par: Par) {
    #[cfg(target_arch = "x86_64")]
    if super::conv_direct::weight_grad_applies(kernel, s) {
        return super::conv_direct::weight_grad(kernel, x, dout, s, dw, par);
    }
    weight_grad_packed(kernel, x, dout, s, dw, par);
}

/// `weight_grad` with the patches packed band by band, for every shape and bf16 kernel.
pub(super) fn weight_grad_packed(kernel: Kernel, x: &[f32], dout: &[f32], s: &Shape, dw: &mut [f32], par: Par) {
    let (pixels, patch, k) = (s.pixels(), s.patch(), s.k);
    assert!(kernel != Kernel::F32 && !kernel.is_int8() && kernel.runs_here(), "weight_grad: {kernel:?} is not a bf16 kernel that runs here");
    assert_eq!(x.len(), s.h * s.w * s.c, "conv input length");
    assert_eq!(dout.len(), pixels * k, "conv output gradient length");
    assert_eq!(dw.len(), patch * k, "conv weight gradient length");
    if pixels == 0 || patch == 0 || k == 0 {
        return;
    }
    let ks = bf16::steps(pixels);
    let mut pa = A_PANELS.take();
    pa.resize(pa.len().max(bf16::packed_len(k, pixels)), 0);
    bf16::pack_a(View { data: dout, rs: 1, cs: k }, k, pixels, &mut pa);
    let bases = bases(s);
    let (halves, simd) = (s.patch_halves(), bf16::simd_bf16());
    let (pa_ref, bases, halves, dst) = (&pa[..], &bases[..], &halves, Dst(dw.as_mut_ptr()));
    let run = |_: std::ops::Range<usize>, bands: std::ops::Range<usize>| {
        let tiles = (kernel == Kernel::Bf16Amx).then(super::amx::Tiles::configure);
        let mut band = BAND.take();
        band.resize(band.len().max(ks * 2 * TILE), 0);
        let mut acc = [0f32; BLOCK * BLOCK];
        for j in bands {
            let c0 = j * BLOCK;
            patch_band(x, s, bases, halves, c0, ks, &mut band, simd);
            let cols = BLOCK.min(patch - c0);
            for i in 0..k.div_ceil(BLOCK) {
                let (r0, panel) = (i * BLOCK, ks * 2 * TILE);
                block_on(kernel, tiles.as_ref(), &pa_ref[i * panel..(i + 1) * panel], &band, ks, k - r0, &mut acc);
                let rows = BLOCK.min(k - r0);
                // SAFETY: rows c0..c0 + cols of `dw` (patch columns) and its columns
                // r0..r0 + rows (filters) lie inside it; this thread alone writes the rows of
                // its bands.
                let d = unsafe { dst.run(c0 * k + r0, (cols - 1) * k + rows) };
                add_transposed(&acc, rows, cols, d, k);
            }
        }
        BAND.set(band);
    };
    split(par, 1, patch.div_ceil(BLOCK), run);
    A_PANELS.set(pa);
}

/// `d[q * ld + i] += acc[i][q]` for the block's first `rows` rows and `cols` columns: a block
/// of `dW^T` added onto `dW`, in 16 x 16 register transposes where AVX-512 runs.
fn add_transposed(acc: &[f32; BLOCK * BLOCK], rows: usize, cols: usize, d: &mut [f32], ld: usize) {
    assert!(rows <= BLOCK && cols <= BLOCK && (rows == 0 || cols == 0 || d.len() >= (cols - 1) * ld + rows));
    #[cfg(target_arch = "x86_64")]
    if bf16::simd() {
        // SAFETY: AVX-512F is present; the assertion bounds every row written.
        return unsafe { transpose_simd::add_transposed(acc, rows, cols, d.as_mut_ptr(), ld) };
    }
    add_transposed_portable(acc, rows, cols, d, ld);
}

fn add_transposed_portable(acc: &[f32; BLOCK * BLOCK], rows: usize, cols: usize, d: &mut [f32], ld: usize) {
    for q in 0..cols {
        for (i, v) in d[q * ld..q * ld + rows].iter_mut().enumerate() {
            *v += acc[i * BLOCK + q];
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod transpose_simd {
    use super::super::bf16_simd::lanes;
    use super::BLOCK;
    use std::arch::x86_64::*;

    /// The 16 x 16 transpose of `r` (row `i` in `r[i]`): column `c` comes back in `r[c]`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn transpose16(r: &mut [__m512; 16]) {
        let mut t = [_mm512_setzero_ps(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        // u[4g + e], lane L: rows 4g..4g + 4 at column 4L + e.
        let mut u = [_mm512_setzero_ps(); 16];
        for g in 0..4 {
            let (a0, a1, b0, b1) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
            let pd = |x: __m512| _mm512_castps_pd(x);
            u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(a0), pd(b0)));
            u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(a0), pd(b0)));
            u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(a1), pd(b1)));
            u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(a1), pd(b1)));
        }
        for e in 0..4 {
            let v0 = _mm512_shuffle_f32x4::<0x88>(u[e], u[4 + e]);
            let v1 = _mm512_shuffle_f32x4::<0xDD>(u[e], u[4 + e]);
            let w0 = _mm512_shuffle_f32x4::<0x88>(u[8 + e], u[12 + e]);
            let w1 = _mm512_shuffle_f32x4::<0xDD>(u[8 + e], u[12 + e]);
            r[e] = _mm512_shuffle_f32x4::<0x88>(v0, w0);
            r[8 + e] = _mm512_shuffle_f32x4::<0xDD>(v0, w0);
            r[4 + e] = _mm512_shuffle_f32x4::<0x88>(v1, w1);
            r[12 + e] = _mm512_shuffle_f32x4::<0xDD>(v1, w1);
        }
    }

    /// `add_transposed` a 16 x 16 quarter at a time.
    ///
    /// # Safety
    /// AVX-512F present; `d` holds `(cols - 1) * ld + rows` floats.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn add_transposed(acc: &[f32; BLOCK * BLOCK], rows: usize, cols: usize, d: *mut f32, ld: usize) {
        for ih in 0..rows.div_ceil(16) {
            let mask = lanes(rows - 16 * ih);
            for qh in 0..cols.div_ceil(16) {
                let mut r = [_mm512_setzero_ps(); 16];
                for (i, v) in r.iter_mut().enumerate().take((rows - 16 * ih).min(16)) {
                    *v = _mm512_loadu_ps(acc.as_ptr().add((16 * ih + i) * BLOCK + 16 * qh));
                }
                transpose16(&mut r);
                for (c, v) in r.iter().enumerate().take((cols - 16 * qh).min(16)) {
                    let p = d.add((16 * qh + c) * ld + 16 * ih);
                    _mm512_mask_storeu_ps(p, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, p), *v));
                }
            }
        }
    }
}

/// Patch columns `c0..c0 + 32` of every output pixel (the depth) as one B band, `pack_b`'s
/// layout bit for bit (but for `f32` subnormals, see `bf16::simd_bf16`); in AVX-512 when `simd`
/// (`simd_bf16()`). `halves` is `s.patch_halves()`.
#[allow(clippy::too_many_arguments)]
fn patch_band(x: &[f32], s: &Shape, bases: &[usize], halves: &Segments, c0: usize, ks: usize, band: &mut [u16], simd: bool) {
    let pixels = s.pixels();
    assert!(band.len() >= ks * 2 * TILE && bases.len() == pixels && c0 % 32 == 0);
    for half in 0..2 {
        let segs = halves.half(c0 / 16 + half);
        assert!(pixels == 0 || bases[pixels - 1] + halves.end() <= x.len());
        #[cfg(target_arch = "x86_64")]
        if simd && bf16::simd_bf16() {
            // SAFETY: AVX-512F, BW and BF16 are present (`simd_bf16`); every segment of a pixel lies inside its
            // patch, so inside `x`; `band` holds `ks` steps (asserted).
            unsafe { super::bf16_simd::pack_half_rows(x.as_ptr(), bases, segs, pixels, ks, band.as_mut_ptr().add(half * TILE)) };
            continue;
        }
        let _ = simd;
        let value = |p: usize, lane: usize| {
            let g = segs.iter().find(|g| (g.lane..g.lane + g.len).contains(&lane));
            g.filter(|_| p < pixels).map_or(0, |g| bf16::from_f32(x[bases[p] + g.offset + lane - g.lane]))
        };
        for st in 0..ks {
            let tile = &mut band[(st * 2 + half) * TILE..][..TILE];
            for r in 0..STEP / 2 {
                let p = st * STEP + 2 * r;
                for lane in 0..16 {
                    tile[r * STEP + 2 * lane] = value(p, lane);
                    tile[r * STEP + 2 * lane + 1] = value(p + 1, lane);
                }
            }
        }
    }
}

/// `dx = col2im(dout W^T)` for one image on one thread, with `w_t` the weights transposed and
/// packed (`k x patch`): each block of the product is added onto the input pixels of its patch
/// columns as soon as it is finished.
pub fn input_grad(w_t: &PackedB, dout: &[f32], s: &Shape, dx: &mut [f32]) {
    let (pixels, patch, k) = (s.pixels(), s.patch(), s.k);
    let panels = w_t.bf16_panels().filter(|_| w_t.k() == k && w_t.n() == patch).expect("input_grad: W^T packed for bf16 as k x patch");
    assert_eq!(dout.len(), pixels * k, "conv output gradient length");
    assert_eq!(dx.len(), s.h * s.w * s.c, "conv input gradient length");
    dx.fill(0.0);
    if pixels == 0 || patch == 0 || k == 0 {
        return;
    }
    let mut pa = A_PANELS.take();
    pa.resize(pa.len().max(bf16::packed_len(pixels, k)), 0);
    bf16::pack_a(View { data: dout, rs: k, cs: 1 }, pixels, k, &mut pa);
    let (bases, dst) = (bases(s), Dst(dx.as_mut_ptr()));
    // Each block of patch columns as its runs in the input, `(first column in the block,
    // length, offset in the input)`, found once rather than by divisions for every block.
    let runs: Vec<Vec<(usize, usize, usize)>> = (0..patch.div_ceil(BLOCK))
        .map(|j| s.runs(j * BLOCK, ((j + 1) * BLOCK).min(patch)).map(|(q, len)| (q - j * BLOCK, len, s.column_offset(q))).collect())
        .collect();
    blocks_with(w_t.kernel(), &pa, panels, pixels, patch, k, Par::One, |r0, c0, acc| {
        let rows = BLOCK.min(pixels - r0);
        for &(from, len, off) in &runs[c0 / BLOCK] {
            // SAFETY: the patch column's pixel lies inside the input (`bases` and
            // `column_offset` stay within `h x w x c` for valid pixels and columns), and only
            // this thread writes `dx`.
            unsafe { store_rows(acc, rows, from, len, |r| dst.at(bases[r0 + r] + off), true) };
        }
    });
    A_PANELS.set(pa);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::conv::tests::{random, SHAPES};
    use crate::engine::conv::{backward, im2col};
    use crate::engine::gemm::{Op, Precision, Weights};
    use crate::engine::panels::bf16_kernels_to_check;
    use crate::engine::reference;
    use crate::rng::Rng;

    /// `conv`'s shapes, and kernel rows that are whole halves of 16 values or more.
    fn shapes() -> Vec<Shape> {
        let wide = [Shape { h: 9, w: 8, c: 16, kh: 3, kw: 2, k: 40 }, Shape { h: 14, w: 13, c: 32, kh: 4, kw: 4, k: 33 }];
        SHAPES.iter().copied().chain(wide).collect()
    }

    /// A random input, weights and output gradient on `s`, the exact gradients, and the sums of
    /// their terms' magnitudes, which bound bf16's rounding.
    struct Case {
        x: Vec<f32>,
        w: Vec<f32>,
        dout: Vec<f32>,
        dx: Vec<f32>,
        dw: Vec<f32>,
        dx_size: Vec<f32>,
        dw_size: Vec<f32>,
    }

    fn case(s: &Shape, rng: &mut Rng) -> Case {
        let (x, w, dout) = (random(s.h * s.w * s.c, rng), random(s.weights(), rng), random(s.pixels() * s.k, rng));
        let (dx, dw, _) = reference::conv_backward(&x, &w, &dout, s);
        let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<f32>>();
        let (dx_size, dw_size, _) = reference::conv_backward(&abs(&x), &abs(&w), &abs(&dout), s);
        Case { x, w, dout, dx, dw, dx_size, dw_size }
    }

    /// The kernels' products add bf16 pairs exactly and sum in `f32`: each element is within
    /// 2^-7 + 2^-16 of the sum of its terms' magnitudes (`size`) of the exact value.
    fn assert_within_rounding(got: &[f32], want: &[f32], size: &[f32], what: &str) {
        for i in 0..got.len() {
            let bound = (2f32.powi(-7) + 2f32.powi(-16)) * size[i] * 1.01 + 1e-5;
            assert!((got[i] - want[i]).abs() <= bound, "{what}: [{i}] is {} against {}, bound {bound}", got[i], want[i]);
        }
    }

    #[test]
    fn patch_bands_are_pack_b_of_the_patch_matrix_bit_for_bit() {
        let mut rng = Rng::new(21);
        let simds = if bf16::simd_bf16() { vec![false, true] } else { vec![false] };
        for s in &shapes() {
            let x = random(s.h * s.w * s.c, &mut rng);
            let (pixels, patch) = (s.pixels(), s.patch());
            let mut col = vec![0f32; pixels * patch];
            im2col(&x, s, 0, pixels, &mut col);
            let ks = bf16::steps(pixels);
            for j in 0..patch.div_ceil(BLOCK) {
                let (c0, w) = (j * BLOCK, BLOCK.min(patch - j * BLOCK));
                let mut want = vec![0u16; ks * 2 * TILE];
                bf16::pack_b(View { data: &col[c0..], rs: patch, cs: 1 }, pixels, w, &mut want);
                for &simd in &simds {
                    let mut got = vec![7u16; ks * 2 * TILE];
                    patch_band(&x, s, &bases(s), &s.patch_halves(), c0, ks, &mut got, simd);
                    assert!(got == want, "{s:?} band {j} (simd {simd}) differs from pack_b");
                }
            }
        }
    }

    #[test]
    fn patch_rows_packed_from_their_segments_equal_packing_the_gathered_row_bit_for_bit() {
        let mut rng = Rng::new(25);
        let simds = if bf16::simd_bf16() { vec![false, true] } else { vec![false] };
        for s in &shapes() {
            let x = random(s.h * s.w * s.c, &mut rng);
            let (patch, halves) = (s.patch(), s.patch_halves());
            let mut row = vec![0f32; patch];
            for p in 0..s.pixels() {
                im2col(&x, s, p, 1, &mut row);
                let mut want = vec![3u16; bf16::packed_len(BLOCK, patch)];
                bf16::pack_a_row(&row, p % BLOCK, patch, &mut want);
                for &simd in &simds {
                    let mut got = vec![3u16; want.len()];
                    let base = bases(s)[p];
                    bf16::pack_a_row_segments_on(simd, &x, base, &halves, p % BLOCK, patch, &mut got);
                    assert!(got == want, "{s:?} pixel {p} (simd {simd})");
                }
            }
        }
    }

    #[test]
    fn transposed_block_adds_match_the_plain_loop_bit_for_bit() {
        let mut rng = Rng::new(22);
        let acc: [f32; BLOCK * BLOCK] = std::array::from_fn(|_| rng.normal() as f32);
        for (rows, cols) in [(1, 1), (7, 32), (16, 16), (17, 5), (32, 32), (32, 17)] {
            let ld = rows + 3;
            let start = random((cols - 1) * ld + rows, &mut rng);
            let (mut got, mut want) = (start.clone(), start.clone());
            add_transposed(&acc, rows, cols, &mut got, ld);
            add_transposed_portable(&acc, rows, cols, &mut want, ld);
            assert!(got == want, "{rows}x{cols}");
            assert!(got != start);
        }
    }

    #[test]
    fn weight_gradient_is_within_bf16_rounding_on_every_kernel_and_split() {
        let mut rng = Rng::new(23);
        for kernel in bf16_kernels_to_check("convolution weight gradient by patch bands") {
            for s in &shapes() {
                let c = case(s, &mut rng);
                for par in [Par::One, Par::Many(2), Par::Many(3)] {
                    let start = random(s.weights(), &mut rng);
                    let mut dw = start.clone();
                    weight_grad(kernel, &c.x, &c.dout, s, &mut dw, par);
                    let added: Vec<f32> = dw.iter().zip(&start).map(|(a, b)| a - b).collect();
                    assert_within_rounding(&added, &c.dw, &c.dw_size, &format!("dw {s:?} {par:?} on {}", kernel.name()));
                }
            }
        }
    }

    #[test]
    fn input_gradient_added_block_by_block_is_within_bf16_rounding_and_equals_the_chunked_path() {
        let mut rng = Rng::new(24);
        for kernel in bf16_kernels_to_check("convolution input gradient folded into col2im") {
            for s in &shapes() {
                let Case { x, w, dout, dx: want, dx_size: size, .. } = case(s, &mut rng);
                let w_t = PackedB::new(Op::t(&w), s.k, s.patch(), kernel);
                let mut dx = vec![f32::NAN; x.len()];
                input_grad(&w_t, &dout, s, &mut dx);
                assert_within_rounding(&dx, &want, &size, &format!("dx {s:?} on {}", kernel.name()));
                // The same products summed through the im2col matrix (two threads take that
                // path): the same terms, added in another order.
                let weights = Weights { data: &w, prec: Precision::Bf16, packed: None, packed_t: Some(&w_t) };
                let (mut dw, mut db, mut chunked) = (vec![0f32; s.weights()], vec![0f32; s.k], vec![0f32; x.len()]);
                let mut col = vec![0f32; 2 * s.pixels() * s.patch()];
                backward(&x, weights, &dout, s, &mut dw, &mut db, Some(&mut chunked), &mut col, Par::Many(2));
                for (i, (a, b)) in dx.iter().zip(&chunked).enumerate() {
                    assert!((a - b).abs() <= 1e-5 * (1.0 + size[i]), "dx {s:?}: fused [{i}] {a} against chunked {b}");
                }
            }
        }
    }
}
