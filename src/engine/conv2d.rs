//! Convolution with stride and zero padding, for towers described layer by layer (the face
//! ResNet). Koch's tower keeps its own fused, chunked kernel (`conv`); this one is the general
//! case, on a batch at once: the im2col rows of every image form one matrix, so the deep layers,
//! whose maps are only a few pixels, still give the GEMM a tall product.
//!
//! Forward only, as are `pool2d`, `residual` and `affine`: the layered net runs inference, and
//! their backward passes come back with training the tower, each with its gradient check.
//!
//! NHWC activations, HWIO weights (`[k, k, c_in, c_out]`), as everywhere in the engine.
use super::gemm::{matmul_levels_packed, matmul_rows_packed, Op, PackedB, Weights};
use super::int8;
use super::Par;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub k: usize,
    pub f: usize,
    pub stride: usize,
    pub pad: usize,
}

impl Shape {
    /// Output height; `None` when the kernel does not fit the padded input.
    pub fn out(&self, n: usize) -> Option<usize> {
        if self.stride == 0 || n + 2 * self.pad < self.k {
            return None;
        }
        Some((n + 2 * self.pad - self.k) / self.stride + 1)
    }
    pub fn oh(&self) -> usize {
        self.out(self.h).unwrap_or(0)
    }
    pub fn ow(&self) -> usize {
        self.out(self.w).unwrap_or(0)
    }
    pub fn patch(&self) -> usize {
        self.k * self.k * self.c
    }
    pub fn in_len(&self) -> usize {
        self.h * self.w * self.c
    }
    pub fn out_len(&self) -> usize {
        self.oh() * self.ow() * self.f
    }
    /// Length of one image's im2col matrix.
    pub fn col_len(&self) -> usize {
        self.oh() * self.ow() * self.patch()
    }
}

/// Input pixel (y, x) read by output (oy, ox) at kernel offset (ky, kx), if inside the image.
#[inline]
fn source(s: &Shape, o: usize, kk: usize, n: usize) -> Option<usize> {
    let i = (o * s.stride + kk) as isize - s.pad as isize;
    (i >= 0 && (i as usize) < n).then_some(i as usize)
}

/// One image's patches: row `oy * ow + ox`, column `(ky * k + kx) * c + ci`; outside is zero.
pub fn im2col(x: &[f32], s: &Shape, col: &mut [f32]) {
    let (ow, p) = (s.ow(), s.patch());
    for oy in 0..s.oh() {
        for ox in 0..ow {
            patch_row(x, s, oy, ox, &mut col[(oy * ow + ox) * p..][..p]);
        }
    }
}

/// The patch of output pixel (oy, ox) into `row` (`s.patch()` floats).
fn patch_row(x: &[f32], s: &Shape, oy: usize, ox: usize, row: &mut [f32]) {
    patch_of(x, s, oy, ox, row, 0.0)
}

/// The patch of output pixel (oy, ox) into `row`, of values or int8 levels, `zero` outside.
fn patch_of<T: Copy>(x: &[T], s: &Shape, oy: usize, ox: usize, row: &mut [T], zero: T) {
    for ky in 0..s.k {
        let dst = &mut row[ky * s.k * s.c..][..s.k * s.c];
        let Some(iy) = source(s, oy, ky, s.h) else {
            dst.fill(zero);
            continue;
        };
        for kx in 0..s.k {
            let d = &mut dst[kx * s.c..][..s.c];
            match source(s, ox, kx, s.w) {
                Some(ix) => d.copy_from_slice(&x[(iy * s.w + ix) * s.c..][..s.c]),
                None => d.fill(zero),
            }
        }
    }
}

/// `forward`'s product with weights packed for a bf16 kernel: each pixel's patch is gathered
/// into a row of `col` and rounded straight into A's panels, so the `f32` im2col matrix of the
/// whole batch is never written out and read back to be packed.
#[allow(clippy::too_many_arguments)]
fn forward_packed(x: &[f32], pb: &PackedB, s: &Shape, n: usize, y: &mut [f32], col: &mut [f32], par: Par) {
    let (il, pix, ow) = (s.in_len(), s.oh() * s.ow(), s.ow());
    if let Some(q) = pb.int8_quant() {
        // int8: the batch quantised once, patches gathered as levels; padding is the level of 0.
        let mut levels = vec![0u8; n * il];
        int8::quantise(&x[..n * il], q, &mut levels);
        let zero = q.zero as u8;
        let patch = |g: usize, row: &mut [u8]| {
            let (img, p) = (g / pix, g % pix);
            patch_of(&levels[img * il..][..il], s, p / ow, p % ow, row, zero);
        };
        let mut row = vec![0u8; s.patch()];
        return matmul_levels_packed(n * pix, pb, &mut row, patch, y, s.f, par);
    }
    let patch = |g: usize, row: &mut [f32]| {
        let (img, p) = (g / pix, g % pix);
        patch_row(&x[img * il..][..il], s, p / ow, p % ow, row);
    };
    matmul_rows_packed(n * pix, pb, col, patch, y, s.f, par);
}

/// `y = conv(x, w) + b` for `n` images. `col` holds `n * s.col_len()` floats; `b` may be empty
/// (no bias).
#[allow(clippy::too_many_arguments)]
pub fn forward(x: &[f32], w: Weights, b: &[f32], s: &Shape, n: usize, y: &mut [f32], col: &mut [f32], par: Par) {
    let (il, cl, pix) = (s.in_len(), s.col_len(), s.oh() * s.ow());
    if let Some(pb) = w.packed.filter(|p| p.k() == s.patch() && p.n() == s.f) {
        forward_packed(x, pb, s, n, y, col, par);
    } else {
        for i in 0..n {
            im2col(&x[i * il..][..il], s, &mut col[i * cl..][..cl]);
        }
        w.right_of(Op::n(&col[..n * cl]), &mut y[..n * pix * s.f], s.f, n * pix, s.f, s.patch(), false, par);
    }
    if !b.is_empty() {
        for row in y[..n * pix * s.f].chunks_mut(s.f) {
            for (v, b) in row.iter_mut().zip(b) {
                *v += b;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{gradcheck, reference};
    use crate::rng::Rng;

    fn shapes() -> Vec<Shape> {
        vec![
            Shape { h: 7, w: 6, c: 3, k: 3, f: 4, stride: 2, pad: 0 },
            Shape { h: 5, w: 5, c: 2, k: 3, f: 3, stride: 1, pad: 1 },
            Shape { h: 9, w: 8, c: 1, k: 7, f: 2, stride: 2, pad: 0 },
            Shape { h: 4, w: 4, c: 3, k: 3, f: 5, stride: 2, pad: 0 },
            Shape { h: 1, w: 1, c: 4, k: 3, f: 2, stride: 1, pad: 1 },
            Shape { h: 6, w: 3, c: 2, k: 2, f: 3, stride: 3, pad: 1 },
        ]
    }

    fn rand(n: usize, rng: &mut Rng) -> Vec<f32> {
        (0..n).map(|_| rng.uniform() as f32 * 2.0 - 1.0).collect()
    }

    #[test]
    fn forward_matches_the_naive_convolution() {
        let mut rng = Rng::new(1);
        for s in shapes() {
            for n in [1, 3] {
                let x = rand(n * s.in_len(), &mut rng);
                let w = rand(s.patch() * s.f, &mut rng);
                let b = rand(s.f, &mut rng);
                let mut y = vec![0.0; n * s.out_len()];
                let mut col = vec![0.0; n * s.col_len()];
                forward(&x, Weights::f32(&w), &b, &s, n, &mut y, &mut col, Par::One);
                let want: Vec<f32> = (0..n).flat_map(|i| reference::conv2d(&x[i * s.in_len()..][..s.in_len()], &w, &b, &s)).collect();
                gradcheck::assert_close(&y, &want, 1e-5, &format!("{s:?} n={n}"));
            }
        }
    }

    #[test]
    fn a_kernel_larger_than_the_padded_input_has_no_output() {
        let s = Shape { h: 2, w: 2, c: 1, k: 5, f: 1, stride: 1, pad: 1 };
        assert_eq!(s.out(2), None);
        assert_eq!(s.out_len(), 0);
    }

    /// `n` random images for `s`, random weights, and the images' im2col rows.
    fn batch(s: &Shape, n: usize, rng: &mut Rng) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let x: Vec<f32> = (0..n * s.in_len()).map(|_| rng.normal() as f32).collect();
        let w: Vec<f32> = (0..s.patch() * s.f).map(|_| rng.normal() as f32).collect();
        let mut col = vec![0f32; n * s.col_len()];
        for i in 0..n {
            im2col(&x[i * s.in_len()..][..s.in_len()], s, &mut col[i * s.col_len()..][..s.col_len()]);
        }
        (x, w, col)
    }

    /// `forward` of `n` images with packed weights, on one thread and on two, gives `plain` bit
    /// for bit.
    fn fused_equals(x: &[f32], w: Weights, s: &Shape, n: usize, plain: &[f32], kernel: crate::engine::gemm::Kernel) {
        for par in [Par::One, Par::Many(2)] {
            let mut scratch = vec![0f32; s.patch()];
            let mut fused = vec![1f32; n * s.out_len()];
            forward(x, w, &[], s, n, &mut fused, &mut scratch, par);
            assert_eq!(fused, plain, "{kernel:?} {s:?} {par:?}");
        }
    }

    #[test]
    fn int8_forward_on_quantised_input_equals_quantising_each_patch_bit_for_bit() {
        // Padding included: the level of 0 must stand where the f32 path quantises a 0.
        use crate::engine::gemm::{matmul_packed, Kernel, Precision};
        use crate::engine::int8::Quant;
        let kernels: Vec<Kernel> = [Kernel::Int8Portable, Kernel::Int8Vnni].into_iter().filter(|k| k.runs_here()).collect();
        if kernels.len() < 2 {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED int8 layered convolution on avx512vnni: not on this CPU (portable checked)");
        }
        let mut rng = Rng::new(34);
        for s in [Shape { h: 9, w: 7, c: 3, k: 3, f: 5, stride: 1, pad: 1 }, Shape { h: 16, w: 16, c: 8, k: 3, f: 40, stride: 2, pad: 1 }, Shape { h: 20, w: 20, c: 3, k: 7, f: 32, stride: 4, pad: 2 }] {
            let n = 3;
            let (x, w, col) = batch(&s, n, &mut rng);
            let rows = n * s.oh() * s.ow();
            for &kernel in &kernels {
                let pb = PackedB::int8(Op::n(&w), s.patch(), s.f, kernel, Quant::covering(-1.5, 2.5));
                let mut plain = vec![0f32; n * s.out_len()];
                matmul_packed(Op::n(&col), &pb, &mut plain, s.f, rows, false, Par::One);
                fused_equals(&x, Weights { data: &w, prec: Precision::Int8, packed: Some(&pb), packed_t: None }, &s, n, &plain, kernel);
            }
        }
    }

    #[test]
    fn packed_bf16_forward_equals_im2col_and_the_plain_bf16_product_bit_for_bit() {
        use crate::engine::gemm::{matmul_on, Precision};
        let kernels = crate::engine::gemm::bf16_kernels_to_check("packed bf16 layered convolution");
        let mut rng = Rng::new(32);
        for s in [Shape { h: 9, w: 7, c: 3, k: 3, f: 5, stride: 1, pad: 1 }, Shape { h: 16, w: 16, c: 8, k: 3, f: 40, stride: 2, pad: 1 }, Shape { h: 20, w: 20, c: 3, k: 7, f: 32, stride: 4, pad: 0 }] {
            let n = 3;
            let (x, w, col) = batch(&s, n, &mut rng);
            let rows = n * s.oh() * s.ow();
            for &kernel in &kernels {
                let mut plain = vec![0f32; n * s.out_len()];
                matmul_on(kernel, Op::n(&col), Op::n(&w), &mut plain, s.f, rows, s.f, s.patch(), false, Par::One);
                let pb = PackedB::new(Op::n(&w), s.patch(), s.f, kernel);
                fused_equals(&x, Weights { data: &w, prec: Precision::Bf16, packed: Some(&pb), packed_t: None }, &s, n, &plain, kernel);
            }
        }
    }
}
