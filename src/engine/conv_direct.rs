//! A convolution's forward product and weight gradient in bf16 that read the image in place,
//! with no patch matrix packed at all: on `vdpbf16ps` a patch's VNNI pairs already lie in
//! memory, two neighbouring values of one kernel row.
//! - Forward, `out = col W`: A's pairs are neighbouring values of a kernel row (two channels, or
//!   with one channel two pixels), so each output pixel's row is read from the image rounded
//!   once to bf16, pair by pair at the offsets of its patch (`bf16_dot::block_gathered`).
//! - Weight gradient, `dW = col^T dout`, whose depth is the output pixels: its pairs are two
//!   neighbouring output pixels, which read two neighbouring input pixels. The image is stored
//!   once as those pairs (`x[y][i][c] | x[y][i + 1][c] << 16`, twice the image) and `dout` as its
//!   pixel pairs, and every block walks them row by row (`bf16_dot::block_pairs`). Its blocks are
//!   `dW`'s own rows (patch columns) and columns (filters): no transpose.
//!
//! Each product sums the same bf16 pairs in the same order as the packed path, so the two agree
//! bit for bit (tested); only the cost of packing the patches, 2 x `patch` values per pixel per
//! pass, is gone, and a first layer's patch of 100 values is no longer padded to 128. Other
//! shapes (kernel rows of an odd number of values, an odd output width) and other kernels take
//! the packed path (`conv_bf16`).
use super::bf16::{self, BLOCK, TILE};
use super::bf16_dot::{self, PairWalk};
use super::bf16_simd;
use super::blocks::{prefetch_rows, split, store_rows, Dst};
use super::conv::Shape;
use super::gemm::{Kernel, Par};
use super::panels::PackedB;

thread_local! {
    /// The image rounded to bf16 (forward), kept per thread between calls.
    static IMAGE: std::cell::Cell<Vec<u16>> = const { std::cell::Cell::new(Vec::new()) };
    /// The image's and the output gradient's pixel pairs (weight gradient).
    static PAIRS: std::cell::Cell<(Vec<u32>, Vec<u32>)> = const { std::cell::Cell::new((Vec::new(), Vec::new())) };
}

/// Whether the forward product reads `s`'s patches in place on `kernel`: the AVX512_BF16 blocks,
/// and kernel rows of an even number of values, so that no depth pair straddles two of them.
pub fn forward_applies(kernel: Kernel, s: &Shape) -> bool {
    kernel == Kernel::Bf16Avx512 && (s.kw * s.c).is_multiple_of(2) && s.c > 0 && s.pixels() > 0 && s.k > 0
}

/// Whether the weight gradient does: the AVX512_BF16 blocks and an even output width, so that
/// a pair of output pixels never straddles two rows (any channel count: each row of a block
/// finds its own patch column in the image).
pub fn weight_grad_applies(kernel: Kernel, s: &Shape) -> bool {
    kernel == Kernel::Bf16Avx512 && s.ow().is_multiple_of(2) && s.c > 0 && s.pixels() > 0 && s.k > 0
}

/// Output pixels `row0..row0 + out.len() / k` of `x` convolved with `pb` (the weights packed as
/// `patch x k`), on one thread.
pub fn forward(x: &[f32], pb: &PackedB, s: &Shape, row0: usize, out: &mut [f32]) {
    let (patch, k) = (s.patch(), s.k);
    let rows = out.len() / k;
    assert!(forward_applies(pb.kernel(), s) && pb.k() == patch && pb.n() == k, "conv_direct::forward: {s:?} on {:?}", pb.kernel());
    assert!(x.len() == s.h * s.w * s.c && out.len() == rows * k && row0 + rows <= s.pixels(), "conv_direct::forward: lengths");
    let Some(panels) = pb.bf16_panels() else { unreachable!("bf16 kernels pack bf16 panels") };
    if rows == 0 {
        return;
    }
    // Only the input rows this band's patches read are rounded.
    let lo = s.pixel_base(row0);
    let hi = s.pixel_base(row0 + rows - 1) + s.column_offset(patch - 1) + 1;
    let mut image = IMAGE.take();
    image.resize(image.len().max((hi - lo).next_multiple_of(32)), 0);
    // SAFETY: `forward_applies` saw the AVX512_BF16 kernel run here (F and BW with it); `x`
    // holds `hi` floats and `image` their count rounded up to 32.
    unsafe { bf16_simd::round_run(x[lo..hi].as_ptr(), hi - lo, image.as_mut_ptr()) };
    let offs: Vec<usize> = (0..patch / 2).map(|q| s.column_offset(2 * q)).collect();
    let panel = bf16::steps(patch) * 2 * TILE;
    let mut acc = [0f32; BLOCK * BLOCK];
    let mut at = [std::ptr::null::<u16>(); BLOCK];
    for i in (0..rows).step_by(BLOCK) {
        let m = BLOCK.min(rows - i);
        for (r, p) in at[..m].iter_mut().enumerate() {
            *p = image[s.pixel_base(row0 + i + r) - lo..].as_ptr();
        }
        for j in 0..k.div_ceil(BLOCK) {
            let b = &panels[j * panel..(j + 1) * panel];
            // SAFETY: the kernel runs here; every row's pair `off` reads two neighbours in one
            // kernel row, inside the rounded rows; `b` holds every step.
            unsafe { bf16_dot::block_gathered(&at[..m], &offs, b.as_ptr(), acc.as_mut_ptr()) };
            let (w, o) = (BLOCK.min(k - j * BLOCK), out.as_mut_ptr());
            // SAFETY: rows i + r < rows and columns j * 32 + w <= k lie inside `out`.
            unsafe { store_rows(&acc, m, 0, w, |r| o.add((i + r) * k + j * BLOCK), false) };
        }
    }
    IMAGE.set(image);
}

/// `dw (patch x k) += col^T dout` for one image `x`, the blocks of patch columns split over
/// `par`'s threads (each adds onto its own rows of `dw`).
pub fn weight_grad(kernel: Kernel, x: &[f32], dout: &[f32], s: &Shape, dw: &mut [f32], par: Par) {
    let (w, c, k, patch) = (s.w, s.c, s.k, s.patch());
    let (half, pairs, kp) = (s.ow() / 2, s.pixels() / 2, k.next_multiple_of(BLOCK));
    assert!(weight_grad_applies(kernel, s) && kernel.runs_here(), "conv_direct::weight_grad: {s:?} on {kernel:?}");
    assert!(x.len() == s.h * w * c && dout.len() == s.pixels() * k && dw.len() == patch * k, "conv_direct::weight_grad: lengths");
    let (mut image, mut grads) = PAIRS.take();
    grads.resize(grads.len().max(pairs * kp), 0);
    // A row of the image is `w * c` values, so its pairs are the row and itself shifted by one
    // pixel: `(w - 1) * c` pairs, rounded up to 16 dwords, whose spill the next row overwrites
    // (the last row's lands in the padding). The last pixel of a row pairs with nothing: no
    // output pixel pair reads it.
    let (len, valid) = (((w - 1) * c).next_multiple_of(16), (w - 1) * c);
    image.resize(image.len().max(x.len() + 16), 0);
    for y in 0..s.h {
        let row = &x[y * w * c..];
        // SAFETY: the kernel runs here (F, BW and BF16); the row and the row from its second
        // pixel hold `valid` values each, and `image` holds `len` dwords past the row's start.
        unsafe { bf16_simd::pair_runs(row.as_ptr(), Some(row[c..].as_ptr()), len, valid, image.as_mut_ptr().add(y * w * c)) };
    }
    // Each block of 32 filters apart, so that a block's walk reads one contiguous stream.
    for fb in 0..kp / BLOCK {
        let f0 = fb * BLOCK;
        for q in 0..pairs {
            let (lo, hi) = (&dout[2 * q * k + f0..], &dout[(2 * q + 1) * k + f0..]);
            // SAFETY: as above; pixels `2q` and `2q + 1` have filters `f0..k` (f0 < k), and
            // `grads` holds `kp / 32` blocks of `pairs` rows of 32 dwords.
            unsafe { bf16_simd::pair_runs(lo.as_ptr(), Some(hi.as_ptr()), BLOCK, k - f0, grads.as_mut_ptr().add((fb * pairs + q) * BLOCK)) };
        }
    }
    // Where each output pixel pair's left pixel is in the image: `(oy * w + 2j) * c`.
    let starts: Vec<usize> = (0..pairs).map(|q| ((q / half) * w + 2 * (q % half)) * c).collect();
    let (image_ref, grads_ref, dst) = (&image[..x.len()], &grads[..pairs * kp], Dst(dw.as_mut_ptr()));
    let run = |rows: std::ops::Range<usize>, cols: std::ops::Range<usize>| {
        let mut acc = [0f32; BLOCK * BLOCK];
        for jb in rows {
            let q0 = jb * BLOCK;
            let m = BLOCK.min(patch - q0);
            // Where each of the block's patch columns starts in the image.
            let offs: [usize; BLOCK] = std::array::from_fn(|r| s.column_offset(q0 + r.min(m - 1)));
            for fb in cols.clone() {
                let walk = PairWalk {
                    a: image_ref.as_ptr(),
                    rows: offs.as_ptr(),
                    pairs: starts.as_ptr(),
                    depth: pairs,
                    b: grads_ref[fb * pairs * BLOCK..].as_ptr(),
                    b_step: BLOCK,
                };
                let cols = BLOCK.min(k - fb * BLOCK);
                prefetch_rows(m, cols, |r| dst.at((q0 + r) * k + fb * BLOCK));
                // SAFETY: the kernel runs here. Pair `j` of output row `t` reads, for patch
                // column `(kr, kc, ch)`, the image pair at input pixel `(t + kr, 2j + kc)`,
                // channel `ch`, whose right neighbour exists (2j + 1 + kc < w); `offs` holds
                // the block's `m` rows and `starts` every pair; the output gradient's pair
                // `t * half + j` holds 32 dwords in each block.
                unsafe { bf16_dot::block_pairs(walk, m, acc.as_mut_ptr()) };
                // SAFETY: rows q0 + r < patch and columns up to k lie in `dw`; this thread
                // alone writes the rows of its blocks.
                unsafe { store_rows(&acc, m, 0, cols, |r| dst.at((q0 + r) * k + fb * BLOCK), true) };
            }
        }
    };
    split(par, patch.div_ceil(BLOCK), kp / BLOCK, run);
    PAIRS.set((image, grads));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::bf16;
    use crate::engine::conv::tests::random;
    use crate::engine::conv_bf16::weight_grad_packed;
    use crate::engine::gemm::Op;
    use crate::engine::panels::matmul_packed_rows;
    use crate::rng::Rng;

    /// Odd and even output widths; filters that fill no whole block; channels in whole steps
    const SHAPES: &[Shape] = &[
        Shape { h: 6, w: 6, c: 32, kh: 3, kw: 3, k: 40 },
        Shape { h: 9, w: 8, c: 64, kh: 4, kw: 2, k: 32 },
        Shape { h: 11, w: 12, c: 32, kh: 2, kw: 5, k: 7 },
        Shape { h: 4, w: 7, c: 96, kh: 4, kw: 4, k: 65 },
        Shape { h: 21, w: 21, c: 32, kh: 4, kw: 4, k: 33 },
        // and not: one (a first layer), few, and kernel rows of an odd number of values.
        Shape { h: 15, w: 15, c: 1, kh: 10, kw: 10, k: 64 },
        Shape { h: 8, w: 9, c: 3, kh: 3, kw: 4, k: 5 },
        Shape { h: 7, w: 7, c: 48, kh: 2, kw: 2, k: 17 },
        Shape { h: 9, w: 12, c: 1, kh: 3, kw: 3, k: 9 },
        // One block of patch columns and four of filters: threads split the columns.
        Shape { h: 6, w: 7, c: 3, kh: 2, kw: 2, k: 100 },
    ];

    /// The native kernel, or `None` (named as skipped) on a CPU without it.
    fn kernel(what: &str) -> Option<Kernel> {
        let here = Kernel::Bf16Avx512.runs_here();
        if !here {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED {what}: no AVX512_BF16 on this CPU");
        }
        here.then_some(Kernel::Bf16Avx512)
    }

    #[test]
    fn the_forward_takes_kernel_rows_of_whole_pairs_and_the_weight_gradient_even_widths() {
        let s = |c: usize, w: usize, kw: usize| Shape { h: 5, w, c, kh: 2, kw, k: 4 };
        let forward = |s: Shape| forward_applies(Kernel::Bf16Avx512, &s);
        let weights = |s: Shape| weight_grad_applies(Kernel::Bf16Avx512, &s);
        assert!(forward(s(64, 6, 2)) && forward(s(1, 6, 2)) && forward(s(2, 6, 3)));
        assert!(!forward(s(1, 6, 3)) && !forward(s(3, 6, 3)));
        assert!(weights(s(1, 5, 2)) && weights(s(3, 6, 3)) && !weights(s(64, 6, 2)));
        let s = |c: usize, w: usize| s(c, w, 2);
        assert!(!forward_applies(Kernel::Bf16Portable, &s(32, 6)) && !forward_applies(Kernel::Bf16Amx, &s(32, 6)));
    }

    #[test]
    fn forward_in_place_equals_the_packed_patch_rows_bit_for_bit() {
        let Some(kernel) = kernel("in-place convolution forward") else { return };
        let mut rng = Rng::new(31);
        for s in SHAPES.iter().filter(|s| forward_applies(kernel, s)) {
            let (x, w) = (random(s.h * s.w * s.c, &mut rng), random(s.weights(), &mut rng));
            let (patch, k, pixels) = (s.patch(), s.k, s.pixels());
            let pb = PackedB::new(Op::n(&w), patch, k, kernel);
            let halves = s.patch_halves();
            let mut want = vec![0f32; pixels * k];
            matmul_packed_rows(pixels, &pb, |g, i, pa| bf16::pack_a_row_segments(&x, s.pixel_base(g), &halves, i, patch, pa), &mut want, k, Par::One);
            // Whole, and in bands that start mid-row as `conv::forward`'s threads do.
            for band in [pixels, 13, 5] {
                let mut got = vec![f32::NAN; pixels * k];
                for (b, out) in got.chunks_mut(band * k).enumerate() {
                    forward(&x, &pb, s, b * band, out);
                }
                assert!(got == want, "{s:?} in bands of {band}: differs from the packed path");
            }
        }
    }

    #[test]
    fn weight_gradient_in_place_equals_the_packed_bands_bit_for_bit_on_every_split() {
        let Some(kernel) = kernel("in-place convolution weight gradient") else { return };
        let mut rng = Rng::new(32);
        for s in SHAPES.iter().filter(|s| weight_grad_applies(kernel, s)) {
            let (x, dout) = (random(s.h * s.w * s.c, &mut rng), random(s.pixels() * s.k, &mut rng));
            let start = random(s.weights(), &mut rng);
            let mut want = start.clone();
            weight_grad_packed(kernel, &x, &dout, s, &mut want, Par::One);
            for par in [Par::One, Par::Many(2), Par::Many(3)] {
                let mut got = start.clone();
                weight_grad(kernel, &x, &dout, s, &mut got, par);
                assert!(got == want, "{s:?} {par:?}: differs from the packed path");
            }
        }
    }
}
