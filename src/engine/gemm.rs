//! The one place the engine multiplies matrices. Everything heavy in the network is a product of
//! two row-major matrices, either of which may be stored transposed.
//!
//! A product runs in `f32` on the GEMM crate (AVX-512 where the CPU has it, portable code
//! otherwise), or, when the caller asks for `Precision::Bf16`, in bf16 with `f32` accumulation:
//! the operands are rounded to bf16 and packed into tile panels (see `bf16`), then multiplied
//! 32 x 32 blocks at a time on AMX tiles (`amx`) where the CPU has them, else on `vdpbf16ps`
//! (`bf16_dot`) where it has AVX512_BF16. `Precision::F32` is the default and
//! what `matmul` runs; a caller opts into bf16 per product with `matmul_with`, or packs an operand
//! it reuses (weights at inference) once with `PackedB::for_precision` and multiplies by it with
//! `matmul_packed`.
pub use super::kernel::{check_env, Cap, Cpu, Kernel, KERNELS_ENV};
use super::bf16::{self, View};
use super::blocks::{blocks, Dst};
use super::panels::PANELS;
#[cfg(test)]
pub use super::panels::bf16_kernels_to_check;
pub use super::panels::{matmul_levels_packed, matmul_packed, matmul_packed_a, matmul_packed_rows, matmul_rows_packed, PackedB, Weights};

/// How many threads one product may use. Batches run one image per thread with `Par::One`
/// (no synchronisation inside the product); a single image uses `Par::Many` instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Par {
    One,
    Many(usize),
}

impl Par {
    pub fn threads(n: usize) -> Self {
        if n > 1 { Par::Many(n) } else { Par::One }
    }

    fn to_gemm(self) -> gemm::Parallelism {
        match self {
            Par::One | Par::Many(0) | Par::Many(1) => gemm::Parallelism::None,
            Par::Many(n) => gemm::Parallelism::Rayon(n),
        }
    }
}

/// The arithmetic of a product's operands; the sums are `f32` either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// `f32` operands: the reference arithmetic, and the default.
    #[default]
    F32,
    /// Operands rounded to bf16 (8 significant bits) on the fastest bf16 kernel here (AMX tiles,
    /// else `vdpbf16ps`); `f32` where the CPU has neither or `SIAMFACE_KERNELS=f32`, so the
    /// choice is a permission, never a slowdown.
    Bf16,
    /// Inference only: weights rounded per output column to int8 and activations to uint8 with
    /// ranges calibrated on sample images (`model::int8`), multiplied on `vpdpbusd`
    /// (AVX512_VNNI); the bf16 kernels where the CPU lacks it.
    Int8,
}

/// A row-major matrix operand; `t` says it is stored transposed (`cols x rows` in memory).
#[derive(Clone, Copy)]
pub struct Op<'a> {
    pub data: &'a [f32],
    pub t: bool,
    /// Distance between consecutive stored rows; `None` means densely packed.
    pub stride: Option<usize>,
}

impl<'a> Op<'a> {
    pub fn n(data: &'a [f32]) -> Self {
        Op { data, t: false, stride: None }
    }
    pub fn t(data: &'a [f32]) -> Self {
        Op { data, t: true, stride: None }
    }
    pub fn strided(data: &'a [f32], stride: usize) -> Self {
        Op { data, t: false, stride: Some(stride) }
    }

    /// (column step, row step) of the logical `rows x cols` matrix, and the elements it spans.
    pub(super) fn steps(&self, rows: usize, cols: usize) -> (isize, isize, usize) {
        let (stored_rows, stored_cols) = if self.t { (cols, rows) } else { (rows, cols) };
        let ld = self.stride.unwrap_or(stored_cols);
        let span = if stored_rows == 0 || stored_cols == 0 { 0 } else { (stored_rows - 1) * ld + stored_cols };
        if self.t { (ld as isize, 1, span) } else { (1, ld as isize, span) }
    }
}

/// `c[m x n] = (accumulate ? c : 0) + a[m x k] * b[k x n]`, with `c` densely packed with row
/// stride `ldc` (`n` for a plain matrix).
#[allow(clippy::too_many_arguments)]
pub fn matmul(a: Op, b: Op, c: &mut [f32], ldc: usize, m: usize, n: usize, k: usize, accumulate: bool, par: Par) {
    matmul_on(Kernel::F32, a, b, c, ldc, m, n, k, accumulate, par)
}

/// `matmul` in the given `precision`: for `Precision::Bf16`, on the fastest bf16 kernel here (`Kernel::for_precision`).
#[allow(clippy::too_many_arguments)]
pub fn matmul_with(a: Op, b: Op, c: &mut [f32], ldc: usize, m: usize, n: usize, k: usize, accumulate: bool, par: Par, precision: Precision) {
    // int8 needs the left operand's calibrated range, which only packed weights carry
    // (`PackedB::int8`); a product without them runs in bf16, the nearest arithmetic.
    let precision = if precision == Precision::Int8 { Precision::Bf16 } else { precision };
    matmul_on(Kernel::for_precision(precision), a, b, c, ldc, m, n, k, accumulate, par)
}

/// `matmul` on a named kernel, for tests and benchmarks. Panics if the kernel does not run here
/// (`Kernel::runs_here`).
#[allow(clippy::too_many_arguments)]
pub fn matmul_on(kernel: Kernel, a: Op, b: Op, c: &mut [f32], ldc: usize, m: usize, n: usize, k: usize, accumulate: bool, par: Par) {
    assert!(kernel.runs_here(), "matmul: kernel {kernel:?} does not run on this machine");
    assert!(!kernel.is_int8(), "matmul: int8 products need packed weights (PackedB::int8)");
    if m == 0 || n == 0 {
        return;
    }
    let (a_cs, a_rs, a_span) = a.steps(m, k);
    let (b_cs, b_rs, b_span) = b.steps(k, n);
    assert!(a.data.len() >= a_span, "matmul: lhs has {} elements, needs {a_span}", a.data.len());
    assert!(b.data.len() >= b_span, "matmul: rhs has {} elements, needs {b_span}", b.data.len());
    assert!(ldc >= n && c.len() >= (m - 1) * ldc + n, "matmul: dst has {} elements for {m}x{n} (ldc {ldc})", c.len());
    if k == 0 {
        if !accumulate {
            for row in c.chunks_mut(ldc).take(m) {
                row[..n].fill(0.0);
            }
        }
        return;
    }
    if kernel != Kernel::F32 {
        let (a, b) = (View { data: a.data, rs: a_rs as usize, cs: a_cs as usize }, View { data: b.data, rs: b_rs as usize, cs: b_cs as usize });
        return bf16_product(kernel, a, b, c, ldc, m, n, k, accumulate, par);
    }
    // SAFETY: the assertions above keep every index the kernel touches inside the three slices,
    // and `c` is borrowed mutably so it cannot alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            ldc as isize,
            accumulate,
            a.data.as_ptr(),
            a_cs,
            a_rs,
            b.data.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            par.to_gemm(),
        );
    }
}

/// The bf16 product: packs both operands, then runs the 32 x 32 blocks of `c`.
#[allow(clippy::too_many_arguments)]
fn bf16_product(kernel: Kernel, a: View, b: View, c: &mut [f32], ldc: usize, m: usize, n: usize, k: usize, accumulate: bool, par: Par) {
    // Taken out of the cell, not borrowed: a thread that waits in the parallel loop below may
    // run another product meanwhile.
    let (mut pa, mut pb) = PANELS.take();
    pa.resize(pa.len().max(bf16::packed_len(m, k)), 0);
    pb.resize(pb.len().max(bf16::packed_len(n, k)), 0);
    bf16::pack_a(a, m, k, &mut pa);
    bf16::pack_b(b, k, n, &mut pb);
    blocks(kernel, &pa, &pb, m, n, k, Dst(c.as_mut_ptr()), ldc, accumulate, par);
    PANELS.set((pa, pb));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], at: bool, b: &[f32], bt: bool, m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f32;
                for p in 0..k {
                    let av = if at { a[p * m + i] } else { a[i * k + p] };
                    let bv = if bt { b[j * k + p] } else { b[p * n + j] };
                    s += av * bv;
                }
                c[i * n + j] = s;
            }
        }
        c
    }

    #[test]
    fn matmul_matches_naive_exactly_on_integers_all_orientations() {
        // Small integers keep every partial sum exact in f32, so any indexing slip shows.
        for &(m, n, k) in &[(1, 1, 1), (3, 7, 5), (17, 2, 9), (0, 3, 4), (4, 0, 2), (5, 6, 0), (33, 65, 17)] {
            let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 - 3.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 - 2.0).collect();
            for &(at, bt) in &[(false, false), (true, false), (false, true), (true, true)] {
                let want = naive(&a, at, &b, bt, m, n, k);
                let mut c = vec![1.0f32; m * n];
                let ao = Op { data: &a, t: at, stride: None };
                let bo = Op { data: &b, t: bt, stride: None };
                matmul(ao, bo, &mut c, n, m, n, k, false, Par::One);
                assert_eq!(c, want, "m{m} n{n} k{k} at{at} bt{bt}");
                let mut c2 = vec![1.0f32; m * n];
                matmul(ao, bo, &mut c2, n, m, n, k, true, Par::Many(2));
                let want2: Vec<f32> = want.iter().map(|v| v + 1.0).collect();
                assert_eq!(c2, want2, "accumulate m{m} n{n} k{k}");
            }
        }
    }

    #[test]
    fn matmul_strided_rhs_columns_block() {
        // The right half of a 4x6 matrix, read with row stride 6.
        let (m, k, n) = (2, 4, 3);
        let a: Vec<f32> = (0..m * k).map(|i| i as f32).collect();
        let full: Vec<f32> = (0..k * 6).map(|i| (i % 4) as f32).collect();
        let half: Vec<f32> = (0..k).flat_map(|r| full[r * 6 + 3..r * 6 + 6].to_vec()).collect();
        let want = naive(&a, false, &half, false, m, n, k);
        let mut c = vec![0f32; m * n];
        matmul(Op::n(&a), Op::strided(&full[3..], 6), &mut c, n, m, n, k, false, Par::One);
        assert_eq!(c, want);
    }
}
