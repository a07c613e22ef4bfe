//! A convolution's forward product and weight gradient in bf16 that read the image in place,
//! with no patch matrix packed at all: on `vdpbf16ps` a patch's VNNI pairs already lie in memory
//! when the channels come in whole steps of 32.
//! - Forward, `out = col W`: A's pairs are neighbouring channels of one input pixel, so each
//!   output pixel's row is read from the image rounded once to bf16, a step of 32 channels at the
//!   offset of its kernel pixel (`bf16_dot::block_gathered`).
//! - Weight gradient, `dW = col^T dout`, whose depth is the output pixels: its pairs are two
//!   neighbouring output pixels, which read two neighbouring input pixels. The image is stored
//!   once as those pairs (`x[y][i][c] | x[y][i + 1][c] << 16`, twice the image) and `dout` as its
//!   pixel pairs, and every block walks them row by row (`bf16_dot::block_pairs`). Its blocks are
//!   `dW`'s own rows (patch columns) and columns (filters): no transpose.
//!
//! Each product sums the same bf16 pairs in the same order as the packed path, so the two agree
//! bit for bit (tested); only the cost of packing the patches, 2 x `patch` values per pixel per
//! pass, is gone. Other shapes (a first layer's single channel, an odd output width) and other
//! kernels take the packed path (`conv_bf16`).
use super::bf16::{BLOCK, STEP, TILE};
use super::bf16_dot::{self, PairWalk};
use super::bf16_simd;
use super::blocks::{add_or_copy, split, Dst};
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
/// and channels in whole steps, so that no step straddles two kernel pixels.
pub fn forward_applies(kernel: Kernel, s: &Shape) -> bool {
    kernel == Kernel::Bf16Avx512 && s.c % STEP == 0 && s.c > 0 && s.pixels() > 0 && s.k > 0
}

/// Whether the weight gradient does: as `forward_applies`, and an even output width, so that a
/// pair of output pixels never straddles two rows.
pub fn weight_grad_applies(kernel: Kernel, s: &Shape) -> bool {
    forward_applies(kernel, s) && s.ow() % 2 == 0
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
    let offs: Vec<usize> = (0..patch / STEP).map(|st| s.column_offset(st * STEP)).collect();
    let panel = offs.len() * 2 * TILE;
    let mut acc = [0f32; BLOCK * BLOCK];
    let mut at = [std::ptr::null::<u16>(); BLOCK];
    for i in (0..rows).step_by(BLOCK) {
        let m = BLOCK.min(rows - i);
        for (r, p) in at[..m].iter_mut().enumerate() {
            *p = image[s.pixel_base(row0 + i + r) - lo..].as_ptr();
        }
        for j in 0..k.div_ceil(BLOCK) {
            let b = &panels[j * panel..(j + 1) * panel];
            // SAFETY: the kernel runs here; every row's step `off` reads 32 values of one kernel
            // pixel's channels, inside the rounded rows; `b` holds every step.
            unsafe { bf16_dot::block_gathered(&at[..m], &offs, b.as_ptr(), acc.as_mut_ptr()) };
            let w = BLOCK.min(k - j * BLOCK);
            for r in 0..m {
                add_or_copy(&acc[r * BLOCK..r * BLOCK + w], &mut out[(i + r) * k + j * BLOCK..][..w], false);
            }
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
    image.resize(image.len().max(x.len()), 0);
    grads.resize(grads.len().max(pairs * kp), 0);
    for y in 0..s.h {
        for i in 0..w {
            let at = (y * w + i) * c;
            // The last column pairs with nothing: no output pixel pair reads it.
            let right = (i + 1 < w).then(|| x[at + c..].as_ptr());
            // SAFETY: the kernel runs here (F, BW and BF16); `x` holds this pixel's `c` values
            // and, when there is one, its right neighbour's; `image` holds `x.len()` dwords.
            unsafe { bf16_simd::pair_runs(x[at..].as_ptr(), right, c, c, image.as_mut_ptr().add(at)) };
        }
    }
    for q in 0..pairs {
        // SAFETY: as above; pixels `2q` and `2q + 1` have `k` values each, and `grads` holds
        // `pairs` rows of `kp` dwords.
        unsafe { bf16_simd::pair_runs(dout[2 * q * k..].as_ptr(), Some(dout[(2 * q + 1) * k..].as_ptr()), kp, k, grads.as_mut_ptr().add(q * kp)) };
    }
    let (image_ref, grads_ref, dst) = (&image[..x.len()], &grads[..pairs * kp], Dst(dw.as_mut_ptr()));
    let run = |rows: std::ops::Range<usize>, cols: std::ops::Range<usize>| {
        let mut acc = [0f32; BLOCK * BLOCK];
        for jb in rows {
            let q0 = jb * BLOCK;
            for fb in cols.clone() {
                let walk = PairWalk {
                    a: image_ref[s.column_offset(q0)..].as_ptr(),
                    a_step: 2 * c,
                    a_run: w * c,
                    runs: s.oh(),
                    len: half,
                    b: grads_ref[fb * BLOCK..].as_ptr(),
                    b_step: kp,
                };
                // SAFETY: the kernel runs here. The 32 patch columns from `q0` are channels of
                // one kernel pixel, so pair `j` of output row `t` reads the image pair at input
                // pixel `(t + kr, 2j + kc)`, whose right neighbour exists (2j + 1 + kc < w);
                // the output gradient's pair `t * half + j` holds `kp` dwords.
                unsafe { bf16_dot::block_pairs(walk, BLOCK, acc.as_mut_ptr()) };
                let cols = BLOCK.min(k - fb * BLOCK);
                for r in 0..BLOCK {
                    // SAFETY: row q0 + r < patch and columns up to k lie in `dw`; this thread
                    // alone writes the rows of its blocks.
                    let d = unsafe { dst.run((q0 + r) * k + fb * BLOCK, cols) };
                    add_or_copy(&acc[r * BLOCK..r * BLOCK + cols], d, true);
                }
            }
        }
    };
    split(par, patch / BLOCK, kp / BLOCK, run);
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

    /// Channels in whole steps; odd and even output widths; filters that fill no whole block.
    const SHAPES: &[Shape] = &[
        Shape { h: 6, w: 6, c: 32, kh: 3, kw: 3, k: 40 },
        Shape { h: 9, w: 8, c: 64, kh: 4, kw: 2, k: 32 },
        Shape { h: 11, w: 12, c: 32, kh: 2, kw: 5, k: 7 },
        Shape { h: 4, w: 7, c: 96, kh: 4, kw: 4, k: 65 },
        Shape { h: 21, w: 21, c: 32, kh: 4, kw: 4, k: 33 },
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
    fn only_whole_channel_steps_and_for_the_weight_gradient_even_widths_apply() {
        let s = |c: usize, w: usize| Shape { h: 5, w, c, kh: 2, kw: 2, k: 4 };
        assert!(forward_applies(Kernel::Bf16Avx512, &s(64, 6)) && !weight_grad_applies(Kernel::Bf16Avx512, &s(64, 6)));
        assert!(weight_grad_applies(Kernel::Bf16Avx512, &s(32, 5)));
        assert!(!forward_applies(Kernel::Bf16Avx512, &s(16, 6)) && !forward_applies(Kernel::Bf16Avx512, &s(1, 6)));
        assert!(!forward_applies(Kernel::Bf16Portable, &s(32, 6)) && !forward_applies(Kernel::Bf16Amx, &s(32, 6)));
    }

    #[test]
    fn forward_in_place_equals_the_packed_patch_rows_bit_for_bit() {
        let Some(kernel) = kernel("in-place convolution forward") else { return };
        let mut rng = Rng::new(31);
        for s in SHAPES {
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
