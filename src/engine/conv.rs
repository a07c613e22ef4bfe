//! Valid, stride-1 convolution as im2col + one GEMM, forward and backward.
//!
//! The im2col matrix is built a chunk of output pixels at a time into a scratch buffer the caller
//! sizes, so memory stays bounded whatever the image size and the chunk can stay in cache between
//! being written and being multiplied.
use rayon::prelude::*;

use super::gemm::{matmul_levels_packed, matmul_packed_rows, matmul_rows_packed, matmul_with, Kernel, Op, PackedB, Par, Precision, Weights};
use super::bf16::{self, Seg, Segments};
use super::int8;

/// One convolution: input `h x w x c` (NHWC, one image), `k` filters of `kh x kw`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub kh: usize,
    pub kw: usize,
    pub k: usize,
}

impl Shape {
    pub fn oh(&self) -> usize {
        self.h + 1 - self.kh
    }
    pub fn ow(&self) -> usize {
        self.w + 1 - self.kw
    }
    pub fn pixels(&self) -> usize {
        self.oh() * self.ow()
    }
    pub fn patch(&self) -> usize {
        self.kh * self.kw * self.c
    }
    pub fn weights(&self) -> usize {
        self.patch() * self.k
    }
    /// Patch column `q`'s offset in the input from its pixel's first value: kernel row
    /// `q / (kw c)` is that many input rows further on, and within a kernel row the patch is
    /// contiguous.
    pub fn column_offset(&self, q: usize) -> usize {
        let run = self.kw * self.c;
        (q / run) * self.w * self.c + q % run
    }

    /// Where output pixel `p`'s patch starts in the input: `(oy * w + ox) * c`.
    pub fn pixel_base(&self, p: usize) -> usize {
        ((p / self.ow()) * self.w + p % self.ow()) * self.c
    }

    /// Patch columns `from..to` as the contiguous runs of the input they read: `(first column,
    /// length)`, split where a kernel row ends.
    pub fn runs(&self, from: usize, to: usize) -> impl Iterator<Item = (usize, usize)> {
        let run = self.kw * self.c;
        let mut q = from;
        std::iter::from_fn(move || {
            (q < to).then(|| {
                let len = (run - q % run).min(to - q);
                q += len;
                (q - len, len)
            })
        })
    }

    /// The patch row's columns in halves of 16 (the last one short), each as the runs of the
    /// input it reads past its pixel's first value: one run when the half lies in one kernel
    /// row, more when kernel rows are narrower than 16 values.
    pub fn patch_halves(&self) -> Segments {
        let patch = self.patch();
        Segments::new((0..patch.div_ceil(16)).map(|h| {
            let first = 16 * h;
            self.runs(first, (first + 16).min(patch)).map(|(q, len)| Seg { lane: q - first, len, offset: self.column_offset(q) }).collect()
        }))
    }

    /// Output pixels per im2col chunk for a scratch buffer of `scratch` floats.
    fn chunk_rows(&self, scratch: usize) -> usize {
        let rows = scratch / self.patch();
        assert!(rows > 0, "conv scratch of {scratch} floats is smaller than one patch ({})", self.patch());
        rows.min(self.pixels())
    }
}

/// Copies the patches of output pixels `row0..row0 + rows` into `col` (`rows x patch`), of values
/// or of int8 levels.
pub fn im2col<T: Copy>(x: &[T], s: &Shape, row0: usize, rows: usize, col: &mut [T]) {
    let (ow, run, patch) = (s.ow(), s.kw * s.c, s.patch());
    for (r, dst) in col[..rows * patch].chunks_exact_mut(patch).enumerate() {
        let (oy, ox) = ((row0 + r) / ow, (row0 + r) % ow);
        for (ky, d) in dst.chunks_exact_mut(run).enumerate() {
            let src = ((oy + ky) * s.w + ox) * s.c;
            d.copy_from_slice(&x[src..src + run]);
        }
    }
}

super::multiversion! {
/// The adjoint of `im2col`: adds each patch row of `dcol` back onto the pixels it came from.
pub fn col2im_add(dcol: &[f32], s: &Shape, row0: usize, rows: usize, dx: &mut [f32]) {
    let (ow, run, patch) = (s.ow(), s.kw * s.c, s.patch());
    for (r, src) in dcol[..rows * patch].chunks_exact(patch).enumerate() {
        let (oy, ox) = ((row0 + r) / ow, (row0 + r) % ow);
        for (ky, d) in src.chunks_exact(run).enumerate() {
            let dst = ((oy + ky) * s.w + ox) * s.c;
            for (o, v) in dx[dst..dst + run].iter_mut().zip(d) {
                *o += v;
            }
        }
    }
}
}

/// `out[pixel, k] = sum patch(x, pixel) . w[.., k]`, without the bias: the bias is added by the
/// pass that reads `out` next (`pool::bias_relu_max_forward` or `act::bias_relu`), which saves
/// the GEMM a read of its destination.
///
/// With `Par::Many(t)` the output pixels are split into `t` bands, each built and multiplied by
/// one thread with its share of `col`: a single image then uses every core for the im2col as well
/// as for the products, and each product keeps the chunk size that runs near peak.
///
/// # Shapes
/// `x: h*w*c`, `w: kh*kw*c*k` (HWIO), `out: oh*ow*k`, `col`: at least one patch per thread.
#[allow(clippy::too_many_arguments)]
pub fn forward(x: &[f32], w: Weights, s: &Shape, out: &mut [f32], col: &mut [f32], par: Par) {
    assert_eq!(x.len(), s.h * s.w * s.c, "conv input length");
    assert_eq!(w.data.len(), s.weights(), "conv weight length");
    assert_eq!(out.len(), s.pixels() * s.k, "conv output length");
    let threads = match par {
        Par::Many(t) if t > 1 => t.min(s.pixels()),
        _ => 1,
    };
    // int8: the input quantised once for every band, its patches gathered as levels (each input
    // value is in up to kh x kw patches).
    let levels = w.packed.and_then(PackedB::int8_quant).map(|q| {
        let mut levels = vec![0u8; x.len()];
        int8::quantise(x, q, &mut levels);
        levels
    });
    let levels = levels.as_deref();
    if threads == 1 {
        return forward_band(x, levels, w, s, 0, out, col);
    }
    let band = s.pixels().div_ceil(threads);
    let scratch = col.len() / threads;
    out.par_chunks_mut(band * s.k)
        .zip(col.par_chunks_mut(scratch))
        .enumerate()
        .for_each(|(i, (o, c))| forward_band(x, levels, w, s, i * band, o, c));
}

/// Output pixels `row0..row0 + out.len() / k`, in chunks that fit `col`; `levels` is `x`
/// quantised for int8 weights.
fn forward_band(x: &[f32], levels: Option<&[u8]>, w: Weights, s: &Shape, row0: usize, out: &mut [f32], col: &mut [f32]) {
    if let Some(pb) = w.packed.filter(|p| p.k() == s.patch() && p.n() == s.k) {
        return forward_band_packed(x, levels, pb, s, row0, out, col);
    }
    let (patch, step, end) = (s.patch(), s.chunk_rows(col.len()), row0 + out.len() / s.k);
    for r in (row0..end).step_by(step) {
        let rows = step.min(end - r);
        im2col(x, s, r, rows, col);
        w.right_of(Op::n(col), &mut out[(r - row0) * s.k..], s.k, rows, s.k, patch, false, Par::One);
    }
}

/// `forward_band` with packed weights: each pixel's patch is gathered into a row and rounded
/// straight into A's panels (bf16), or gathered from the quantised input `levels` as levels
/// (int8), so the `f32` im2col matrix is never written out and read back to be packed.
fn forward_band_packed(x: &[f32], levels: Option<&[u8]>, pb: &PackedB, s: &Shape, row0: usize, out: &mut [f32], col: &mut [f32]) {
    let rows = out.len() / s.k;
    if let Some(levels) = levels.filter(|_| pb.int8_quant().is_some()) {
        let mut row = vec![0u8; s.patch()];
        return matmul_levels_packed(rows, pb, &mut row, |i, r| im2col(levels, s, row0 + i, 1, r), out, s.k, Par::One);
    }
    #[cfg(target_arch = "x86_64")]
    if super::conv_direct::forward_applies(pb.kernel(), s) {
        return super::conv_direct::forward(x, pb, s, row0, out);
    }
    if pb.bf16_panels().is_some() {
        let (halves, patch) = (s.patch_halves(), s.patch());
        let pack = |g: usize, i: usize, pa: &mut [u16]| {
            let p = row0 + g;
            bf16::pack_a_row_segments(x, s.pixel_base(p), &halves, i, patch, pa);
        };
        return matmul_packed_rows(rows, pb, pack, out, s.k, Par::One);
    }
    matmul_rows_packed(rows, pb, col, |i, row| im2col(x, s, row0 + i, 1, row), out, s.k, Par::One);
}

super::multiversion! {
/// `sums[j] += sum_i rows[i * k + j]`: the bias gradient, summed over output pixels.
pub fn sum_rows(rows: &[f32], k: usize, sums: &mut [f32]) {
    if k == 0 {
        return;
    }
    for row in rows.chunks_exact(k) {
        for (g, d) in sums.iter_mut().zip(row) {
            *g += d;
        }
    }
}
}

/// Gradients of `forward`: adds into `dw` and `db`, and writes `dx` when asked for (the first
/// layer's input needs none).
///
/// # Shapes
/// As `forward`, with `dout` shaped like `out`, `dw` like `w`, `db` like `b`, `dx` like `x`.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    x: &[f32],
    w: Weights,
    dout: &[f32],
    s: &Shape,
    dw: &mut [f32],
    db: &mut [f32],
    mut dx: Option<&mut [f32]>,
    col: &mut [f32],
    par: Par,
) {
    assert_eq!(dout.len(), s.pixels() * s.k, "conv output gradient length");
    assert_eq!(dw.len(), s.weights(), "conv weight gradient length");
    sum_rows(dout, s.k, db);
    if let Some(dx) = dx.as_deref() {
        assert_eq!(dx.len(), x.len(), "conv input gradient length");
    }
    let (patch, step) = (s.patch(), s.chunk_rows(col.len()));
    let kernel = if w.prec == Precision::F32 { Kernel::F32 } else { Kernel::for_precision(Precision::Bf16) };
    let bf16 = kernel != Kernel::F32;
    if bf16 {
        super::conv_bf16::weight_grad(kernel, x, dout, s, dw, par);
        // One image on one thread adds its input gradient's blocks straight onto `dx`; split
        // over threads, the blocks of neighbouring pixels would add onto the same inputs, so
        // that case takes the chunks below: the same terms, summed in another order (a batch
        // smaller than the thread count gets input gradients a rounding apart).
        let fused = w.packed_t.filter(|p| p.k() == s.k && p.n() == patch && p.kernel() != Kernel::F32 && !p.kernel().is_int8());
        match (dx.as_deref_mut(), fused) {
            (Some(dx), Some(pt)) if !matches!(par, Par::Many(t) if t > 1) => return super::conv_bf16::input_grad(pt, dout, s, dx),
            (None, _) => return,
            _ => {}
        }
    }
    if let Some(dx) = dx.as_deref_mut() {
        dx.fill(0.0);
    }
    for row0 in (0..s.pixels()).step_by(step) {
        let rows = step.min(s.pixels() - row0);
        let dchunk = &dout[row0 * s.k..(row0 + rows) * s.k];
        if !bf16 {
            im2col(x, s, row0, rows, col);
            matmul_with(Op::t(col), Op::n(dchunk), dw, s.k, patch, s.k, rows, true, par, w.prec);
        }
        if let Some(dx) = dx.as_deref_mut() {
            w.right_of_t(Op::n(dchunk), col, patch, rows, s.k, patch, false, par);
            col2im_add(col, s, row0, rows, dx);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::engine::gradcheck;
    use crate::engine::reference;
    use crate::rng::Rng;

    pub(in crate::engine) fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
        (0..n).map(|_| rng.normal() as f32).collect()
    }

    /// Ragged shapes, kernel rows narrower than 16 values, a kernel as large as the input.
    pub(in crate::engine) const SHAPES: &[Shape] = &[
        Shape { h: 1, w: 1, c: 1, kh: 1, kw: 1, k: 1 },
        Shape { h: 5, w: 7, c: 1, kh: 3, kw: 2, k: 3 },
        Shape { h: 7, w: 3, c: 3, kh: 7, kw: 1, k: 2 },
        Shape { h: 9, w: 8, c: 4, kh: 4, kw: 4, k: 5 },
        Shape { h: 12, w: 11, c: 2, kh: 10, kw: 10, k: 7 },
    ];

    #[test]
    fn forward_matches_reference_for_every_chunking() {
        let mut rng = Rng::new(1);
        for s in SHAPES {
            let (x, w, b) = (random(s.h * s.w * s.c, &mut rng), random(s.weights(), &mut rng), random(s.k, &mut rng));
            let want = reference::conv_forward(&x, &w, &b, s);
            for (rows, par) in [(1, Par::One), (2, Par::One), (s.pixels(), Par::One), (2, Par::Many(2)), (1, Par::Many(3))] {
                let mut col = vec![0f32; 3 * rows * s.patch()];
                let mut out = vec![f32::NAN; s.pixels() * s.k];
                forward(&x, Weights::f32(&w), s, &mut out, &mut col, par);
                for row in out.chunks_exact_mut(s.k) {
                    row.iter_mut().zip(&b).for_each(|(o, b)| *o += b);
                }
                gradcheck::assert_close(&out, &want, 1e-5, &format!("{s:?} rows {rows} {par:?}"));
            }
        }
    }

    #[test]
    fn backward_matches_reference() {
        let mut rng = Rng::new(2);
        for s in SHAPES {
            let (x, w, dout) = (random(s.h * s.w * s.c, &mut rng), random(s.weights(), &mut rng), random(s.pixels() * s.k, &mut rng));
            let (want_dx, want_dw, want_db) = reference::conv_backward(&x, &w, &dout, s);
            for rows in [1, 3, s.pixels()] {
                let mut col = vec![0f32; rows * s.patch()];
                let (mut dw, mut db, mut dx) = (vec![0f32; s.weights()], vec![0f32; s.k], vec![f32::NAN; x.len()]);
                backward(&x, Weights::f32(&w), &dout, s, &mut dw, &mut db, Some(&mut dx), &mut col, Par::Many(2));
                gradcheck::assert_close(&dx, &want_dx, 1e-5, "dx");
                gradcheck::assert_close(&dw, &want_dw, 1e-5, "dw");
                gradcheck::assert_close(&db, &want_db, 1e-5, "db");
            }
        }
    }

    #[test]
    fn bf16_weight_gradient_computed_transposed_stays_within_bf16_rounding() {
        // The bf16 path sums dW^T over chunks and adds it transposed: each element must be the
        // reference's to within bf16's rounding of both operands, 2^-7 + 2^-16 of the sum of
        // the terms' magnitudes (computed by the reference on |x| and |dout|).
        let kernel = Kernel::for_precision(Precision::Bf16);
        if kernel == Kernel::F32 {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED bf16 convolution weight gradient: no bf16 kernel on this CPU");
            return;
        }
        let mut rng = Rng::new(12);
        for s in SHAPES {
            let (x, w, dout) = (random(s.h * s.w * s.c, &mut rng), random(s.weights(), &mut rng), random(s.pixels() * s.k, &mut rng));
            let (_, want_dw, _) = reference::conv_backward(&x, &w, &dout, s);
            let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<f32>>();
            let (_, size, _) = reference::conv_backward(&abs(&x), &w, &abs(&dout), s);
            for rows in [3, s.pixels()] {
                let mut col = vec![0f32; rows * s.patch()];
                let start: Vec<f32> = random(s.weights(), &mut rng);
                let (mut dw, mut db) = (start.clone(), vec![0f32; s.k]);
                backward(&x, Weights::with(&w, Precision::Bf16), &dout, s, &mut dw, &mut db, None, &mut col, Par::One);
                for i in 0..dw.len() {
                    let bound = (2f32.powi(-7) + 2f32.powi(-16)) * size[i] * 1.01 + 1e-5 * (1.0 + start[i].abs());
                    let err = (dw[i] - start[i] - want_dw[i]).abs();
                    assert!(err <= bound, "{s:?} rows {rows} ({}): dw[{i}] off by {err} > {bound}", kernel.name());
                }
            }
        }
    }

    #[test]
    fn backward_passes_central_difference_check() {
        // Loss L = sum(out * r) for a fixed random r, so dL/dout = r.
        let mut rng = Rng::new(3);
        let s = Shape { h: 6, w: 5, c: 2, kh: 3, kw: 2, k: 3 };
        let (x, w, b, r) = (random(60, &mut rng), random(s.weights(), &mut rng), random(3, &mut rng), random(s.pixels() * 3, &mut rng));
        let (x64, w64, b64, r64) = (reference::widen(&x), reference::widen(&w), reference::widen(&b), reference::widen(&r));
        let loss = |x: &[f64], w: &[f64], b: &[f64]| reference::dot(&reference::conv_forward64(x, w, b, &s), &r64);
        let mut col = vec![0f32; s.pixels() * s.patch()];
        let (mut dw, mut db, mut dx) = (vec![0f32; s.weights()], vec![0f32; 3], vec![0f32; 60]);
        backward(&x, Weights::f32(&w), &r, &s, &mut dw, &mut db, Some(&mut dx), &mut col, Par::One);
        gradcheck::check(&x, &dx, |v| loss(v, &w64, &b64), "dx");
        gradcheck::check(&w, &dw, |v| loss(&x64, v, &b64), "dw");
        gradcheck::check(&b, &db, |v| loss(&x64, &w64, v), "db");
    }

    #[test]
    fn backward_accumulates_into_dw_and_db() {
        let mut rng = Rng::new(4);
        let s = SHAPES[1];
        let (x, w, dout) = (random(s.h * s.w * s.c, &mut rng), random(s.weights(), &mut rng), random(s.pixels() * s.k, &mut rng));
        let mut col = vec![0f32; 64];
        let (mut dw, mut db) = (vec![1f32; s.weights()], vec![1f32; s.k]);
        backward(&x, Weights::f32(&w), &dout, &s, &mut dw, &mut db, None, &mut col, Par::One);
        let (_, want_dw, want_db) = reference::conv_backward(&x, &w, &dout, &s);
        let plus1 = |v: Vec<f32>| v.into_iter().map(|x| x + 1.0).collect::<Vec<_>>();
        gradcheck::assert_close(&dw, &plus1(want_dw), 1e-5, "dw");
        gradcheck::assert_close(&db, &plus1(want_db), 1e-5, "db");
    }

    /// `forward` with packed weights, on one thread and on two, gives `plain` bit for bit.
    fn fused_equals(x: &[f32], w: Weights, s: &Shape, plain: &[f32], kernel: Kernel) {
        for par in [Par::One, Par::Many(2)] {
            let mut col = vec![0f32; 2 * 64 * s.patch()];
            let mut fused = vec![1f32; s.pixels() * s.k];
            forward(x, w, s, &mut fused, &mut col, par);
            assert_eq!(fused, plain, "{kernel:?} {s:?} {par:?}");
        }
    }

    #[test]
    fn int8_forward_on_quantised_input_equals_quantising_each_patch_bit_for_bit() {
        // The fused int8 path (input quantised once, patches gathered as levels) against the
        // product that quantises each im2col row: quantising is element-wise, so the same bits.
        use crate::engine::gemm::{matmul_packed, PackedB};
        use crate::engine::int8::Quant;
        let kernels: Vec<Kernel> = [Kernel::Int8Portable, Kernel::Int8Vnni].into_iter().filter(|k| k.runs_here()).collect();
        if kernels.len() < 2 {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED int8 convolution on avx512vnni: not on this CPU (portable checked)");
        }
        let mut rng = Rng::new(33);
        for s in [Shape { h: 12, w: 11, c: 3, kh: 3, kw: 4, k: 5 }, Shape { h: 20, w: 20, c: 16, kh: 4, kw: 4, k: 40 }, Shape { h: 30, w: 30, c: 1, kh: 10, kw: 10, k: 8 }] {
            let x: Vec<f32> = random(s.h * s.w * s.c, &mut rng).iter().map(|v| v.max(0.0)).collect();
            let w = random(s.weights(), &mut rng);
            let mut all = vec![0f32; s.pixels() * s.patch()];
            im2col(&x, &s, 0, s.pixels(), &mut all);
            for &kernel in &kernels {
                let pb = PackedB::int8(Op::n(&w), s.patch(), s.k, kernel, Quant::covering(0.0, 2.0));
                let mut plain = vec![0f32; s.pixels() * s.k];
                matmul_packed(Op::n(&all), &pb, &mut plain, s.k, s.pixels(), false, Par::One);
                fused_equals(&x, Weights { data: &w, prec: Precision::Int8, packed: Some(&pb), packed_t: None }, &s, &plain, kernel);
            }
        }
    }

    #[test]
    fn packed_bf16_forward_equals_im2col_and_the_plain_bf16_product_bit_for_bit() {
        // The fused path (patches rounded straight into panels) against im2col + the bf16
        // product that packs both operands itself: the same roundings, so the same bits. On the
        // portable kernel everywhere, and on the CPU's own where it has one.
        use crate::engine::gemm::{matmul_on, PackedB};
        let kernels = crate::engine::gemm::bf16_kernels_to_check("packed bf16 convolution");
        let mut rng = Rng::new(31);
        for s in [Shape { h: 12, w: 11, c: 3, kh: 3, kw: 4, k: 5 }, Shape { h: 20, w: 20, c: 16, kh: 4, kw: 4, k: 40 }, Shape { h: 30, w: 30, c: 1, kh: 10, kw: 10, k: 8 }] {
            let x = random(s.h * s.w * s.c, &mut rng);
            let w = random(s.weights(), &mut rng);
            let mut all = vec![0f32; s.pixels() * s.patch()];
            im2col(&x, &s, 0, s.pixels(), &mut all);
            for &kernel in &kernels {
                let mut plain = vec![0f32; s.pixels() * s.k];
                matmul_on(kernel, Op::n(&all), Op::n(&w), &mut plain, s.k, s.pixels(), s.k, s.patch(), false, Par::One);
                let pb = PackedB::new(Op::n(&w), s.patch(), s.k, kernel);
                fused_equals(&x, Weights { data: &w, prec: Precision::Bf16, packed: Some(&pb), packed_t: None }, &s, &plain, kernel);
            }
        }
    }
}
