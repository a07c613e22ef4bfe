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
use rayon::prelude::*;

use super::amx::Tiles;
pub use super::kernel::{check_env, Cap, Cpu, Kernel, KERNELS_ENV};
use super::bf16::{self, View, BLOCK, TILE};

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
    fn steps(&self, rows: usize, cols: usize) -> (isize, isize, usize) {
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
    matmul_on(Kernel::for_precision(precision), a, b, c, ldc, m, n, k, accumulate, par)
}

/// `matmul` on a named kernel, for tests and benchmarks. Panics if the kernel does not run here
/// (`Kernel::runs_here`).
#[allow(clippy::too_many_arguments)]
pub fn matmul_on(kernel: Kernel, a: Op, b: Op, c: &mut [f32], ldc: usize, m: usize, n: usize, k: usize, accumulate: bool, par: Par) {
    assert!(kernel.runs_here(), "matmul: kernel {kernel:?} does not run on this machine");
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

thread_local! {
    /// Packed operands, kept per thread between products so that a product allocates only when
    /// it is larger than any before it on that thread.
    static PANELS: std::cell::Cell<(Vec<u16>, Vec<u16>)> = const { std::cell::Cell::new((Vec::new(), Vec::new())) };
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

/// A right operand (`k x n`, typically a layer's weights) rounded to bf16 and packed into tile
/// panels once, for products that reuse it: inference packs its weights once instead of on
/// every call.
pub struct PackedB {
    panels: Vec<u16>,
    k: usize,
    n: usize,
    kernel: Kernel,
}

impl PackedB {
    /// Packs `b` for a bf16 kernel. Panics for `Kernel::F32` or a
    /// kernel that does not run here.
    pub fn new(b: Op, k: usize, n: usize, kernel: Kernel) -> PackedB {
        PackedB::pack(b, k, n, kernel, false)
    }

    /// `new`, its column bands packed on the threads of the current pool. Not from inside a
    /// lock that another task of the pool may wait on: a thread waiting for its bands runs other
    /// tasks meanwhile, which may be that very wait.
    pub fn new_parallel(b: Op, k: usize, n: usize, kernel: Kernel) -> PackedB {
        PackedB::pack(b, k, n, kernel, true)
    }

    fn pack(b: Op, k: usize, n: usize, kernel: Kernel, parallel: bool) -> PackedB {
        assert!(kernel != Kernel::F32 && kernel.runs_here(), "PackedB: {kernel:?} is not a bf16 kernel that runs here");
        let (cs, rs, span) = b.steps(k, n);
        assert!(b.data.len() >= span, "PackedB: operand has {} elements, needs {span}", b.data.len());
        let mut panels = vec![0u16; bf16::packed_len(n, k)];
        // Band by band (on every thread of the pool when asked: a dense layer's weights are 38M
        // values).
        let band = bf16::packed_len(BLOCK, k).max(1);
        let one = |(j, dst): (usize, &mut [u16])| {
            let (c0, w) = (j * BLOCK, BLOCK.min(n - j * BLOCK));
            bf16::pack_b(View { data: &b.data[c0 * cs as usize..], rs: rs as usize, cs: cs as usize }, k, w, dst);
        };
        if parallel {
            panels.par_chunks_mut(band).enumerate().for_each(one);
        } else {
            panels.chunks_mut(band).enumerate().for_each(one);
        }
        PackedB { panels, k, n, kernel }
    }

    /// `b` packed when `precision` runs on a bf16 kernel here, `None` when it runs in `f32` (no
    /// bf16 on this CPU, or `SIAMFACE_KERNELS=f32`): the caller then multiplies by `b` itself.
    pub fn for_precision(b: Op, k: usize, n: usize, precision: Precision) -> Option<PackedB> {
        let kernel = Kernel::for_precision(precision);
        (kernel != Kernel::F32).then(|| PackedB::new(b, k, n, kernel))
    }

    pub fn k(&self) -> usize {
        self.k
    }
    pub fn n(&self) -> usize {
        self.n
    }
}

/// `c[m x n] = (accumulate ? c : 0) + a[m x k] * b`, with `b` packed beforehand: as `matmul_on`
/// with the kernel `b` was packed for, bit for bit.
#[allow(clippy::too_many_arguments)]
pub fn matmul_packed(a: Op, b: &PackedB, c: &mut [f32], ldc: usize, m: usize, accumulate: bool, par: Par) {
    let (n, k) = (b.n, b.k);
    if m == 0 || n == 0 {
        return;
    }
    let (a_cs, a_rs, a_span) = a.steps(m, k);
    assert!(a.data.len() >= a_span, "matmul_packed: lhs has {} elements, needs {a_span}", a.data.len());
    assert!(ldc >= n && c.len() >= (m - 1) * ldc + n, "matmul_packed: dst has {} elements for {m}x{n} (ldc {ldc})", c.len());
    if k == 0 {
        if !accumulate {
            c.chunks_mut(ldc).take(m).for_each(|row| row[..n].fill(0.0));
        }
        return;
    }
    let (mut pa, pb) = PANELS.take();
    pa.resize(pa.len().max(bf16::packed_len(m, k)), 0);
    bf16::pack_a(View { data: a.data, rs: a_rs as usize, cs: a_cs as usize }, m, k, &mut pa);
    blocks(b.kernel, &pa, &b.panels, m, n, k, Dst(c.as_mut_ptr()), ldc, accumulate, par);
    PANELS.set((pa, pb));
}

/// A layer's weight matrix (`k x n`, row-major) as products use it: its `f32` values, the
/// arithmetic of the layer's products, and, in bf16, the same already rounded and packed as a
/// right operand (`packed`) and transposed (`packed_t`), so that inference packs its weights
/// once per model and training once per step, not once per image and chunk.
#[derive(Clone, Copy)]
pub struct Weights<'a> {
    pub data: &'a [f32],
    pub prec: Precision,
    pub packed: Option<&'a PackedB>,
    pub packed_t: Option<&'a PackedB>,
}

impl<'a> Weights<'a> {
    /// Plain `f32` weights.
    pub fn f32(data: &'a [f32]) -> Self {
        Weights { data, prec: Precision::F32, packed: None, packed_t: None }
    }

    /// Weights in `prec`, packed on each product.
    pub fn with(data: &'a [f32], prec: Precision) -> Self {
        Weights { data, prec, packed: None, packed_t: None }
    }

    /// `c[m x n] = (accumulate ? c : 0) + a[m x k] * W`.
    #[allow(clippy::too_many_arguments)]
    pub fn right_of(&self, a: Op, c: &mut [f32], ldc: usize, m: usize, n: usize, k: usize, accumulate: bool, par: Par) {
        match self.packed {
            Some(p) if p.k == k && p.n == n => matmul_packed(a, p, c, ldc, m, accumulate, par),
            _ => matmul_with(a, Op::n(self.data), c, ldc, m, n, k, accumulate, par, self.prec),
        }
    }

    /// `c[m x k] = (accumulate ? c : 0) + a[m x n] * W^T`.
    #[allow(clippy::too_many_arguments)]
    pub fn right_of_t(&self, a: Op, c: &mut [f32], ldc: usize, m: usize, n: usize, k: usize, accumulate: bool, par: Par) {
        match self.packed_t {
            Some(p) if p.k == n && p.n == k => matmul_packed(a, p, c, ldc, m, accumulate, par),
            _ => matmul_with(a, Op::t(self.data), c, ldc, m, k, n, accumulate, par, self.prec),
        }
    }
}

/// `c[m x n] = (accumulate ? c : 0) + A * b` with both operands packed beforehand: A's panels
/// `pa` (`bf16::packed_len(m, b.k())` values, `bf16::pack_a`'s layout; the rows past `m` of the
/// last band may hold anything finite or not, they are never stored) and `b`.
#[allow(clippy::too_many_arguments)]
pub fn matmul_packed_a(pa: &[u16], m: usize, b: &PackedB, c: &mut [f32], ldc: usize, accumulate: bool, par: Par) {
    let (n, k) = (b.n, b.k);
    if m == 0 || n == 0 {
        return;
    }
    assert!(pa.len() >= bf16::packed_len(m, k), "matmul_packed_a: {} panel values for {m}x{k}", pa.len());
    assert!(ldc >= n && c.len() >= (m - 1) * ldc + n, "matmul_packed_a: dst has {} elements for {m}x{n} (ldc {ldc})", c.len());
    if k == 0 {
        if !accumulate {
            c.chunks_mut(ldc).take(m).for_each(|row| row[..n].fill(0.0));
        }
        return;
    }
    blocks(b.kernel, pa, &b.panels, m, n, k, Dst(c.as_mut_ptr()), ldc, accumulate, par);
}

thread_local! {
    /// A's panels for `matmul_rows_packed`, kept per thread between calls.
    static ROW_PANELS: std::cell::Cell<Vec<u16>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Rows of A per product of `matmul_rows_packed`: two panel bands, whose bf16 rows (a few
/// hundred KB for a convolution's patches) stay in cache while they are multiplied.
const ROW_CHUNK: usize = 2 * BLOCK;

/// `c[m x n] = A * b` for an A that is never stored in `f32`: `row(i, buf)` writes row `i` of A
/// (`b.k()` values) into `buf`, and each row is rounded straight into A's panels, 64 rows per
/// product. A convolution's patches come this way instead of through an im2col matrix.
#[allow(clippy::too_many_arguments)]
pub fn matmul_rows_packed(m: usize, b: &PackedB, buf: &mut [f32], mut row: impl FnMut(usize, &mut [f32]), c: &mut [f32], ldc: usize, par: Par) {
    let k = b.k;
    let buf = &mut buf[..k];
    let mut pa = ROW_PANELS.take();
    for r in (0..m).step_by(ROW_CHUNK) {
        let rows = ROW_CHUNK.min(m - r);
        pa.resize(pa.len().max(bf16::packed_len(rows, k)), 0);
        for i in 0..rows {
            row(r + i, buf);
            bf16::pack_a_row(buf, i, k, &mut pa);
        }
        // Rows past `rows` in the last band hold an earlier call's values: the kernels never
        // store them, and rows of a product do not mix.
        matmul_packed_a(&pa, rows, b, &mut c[r * ldc..], ldc, false, par);
    }
    ROW_PANELS.set(pa);
}

/// The bf16 kernels a test checks here: the portable one everywhere, and the CPU's own where it
/// has one; its absence is named on stderr (which the test harness does not capture) under `what`.
#[cfg(test)]
pub fn bf16_kernels_to_check(what: &str) -> Vec<Kernel> {
    let mut kernels = vec![Kernel::Bf16Portable];
    match Kernel::for_precision(Precision::Bf16) {
        Kernel::F32 => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED {what} on a native bf16 kernel: none on this CPU (portable checked)");
        }
        k => kernels.push(k),
    }
    kernels
}

/// The destination of a product, shared by the threads that write its disjoint blocks.
#[derive(Clone, Copy)]
struct Dst(*mut f32);
// SAFETY: each thread writes only the rows and columns of its own blocks.
unsafe impl Send for Dst {}
unsafe impl Sync for Dst {}

impl Dst {
    /// # Safety
    /// `at..at + len` lies inside the destination and no other thread uses it meanwhile.
    #[allow(clippy::mut_from_ref)]
    unsafe fn run(&self, at: usize, len: usize) -> &mut [f32] {
        std::slice::from_raw_parts_mut(self.0.add(at), len)
    }
}

/// Every block of `c` from the packed panels, split over threads by row bands (or by column
/// bands when there are fewer row bands than threads).
#[allow(clippy::too_many_arguments)]
fn blocks(kernel: Kernel, pa: &[u16], pb: &[u16], m: usize, n: usize, k: usize, c: Dst, ldc: usize, accumulate: bool, par: Par) {
    let (mb, nb, ks) = (m.div_ceil(BLOCK), n.div_ceil(BLOCK), bf16::steps(k));
    let panel = ks * 2 * TILE;
    let run = |rows: std::ops::Range<usize>, cols: std::ops::Range<usize>| {
        let tiles = (kernel == Kernel::Bf16Amx).then(Tiles::configure);
        let mut acc = [0f32; BLOCK * BLOCK];
        for i in rows {
            for j in cols.clone() {
                let (a, b) = (&pa[i * panel..(i + 1) * panel], &pb[j * panel..(j + 1) * panel]);
                let (r0, c0) = (i * BLOCK, j * BLOCK);
                match (&tiles, kernel) {
                    (Some(t), _) => t.block(a, b, ks, &mut acc),
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: `Bf16Avx512` runs only where `runs_here` saw the features (checked
                    // by `matmul_on` and `PackedB::new`); both bands hold `ks` steps.
                    (None, Kernel::Bf16Avx512) => unsafe { super::bf16_dot::block(a.as_ptr(), b.as_ptr(), ks, m - r0, acc.as_mut_ptr()) },
                    _ => bf16::block_portable(a, b, ks, &mut acc),
                }
                for r in 0..BLOCK.min(m - r0) {
                    let w = BLOCK.min(n - c0);
                    // SAFETY: row r0 + r < m and columns c0..c0 + w <= n lie inside `c` (checked
                    // by `matmul_on`), and no other thread writes this block.
                    let dst = unsafe { c.run((r0 + r) * ldc + c0, w) };
                    let src = &acc[r * BLOCK..r * BLOCK + w];
                    if accumulate {
                        dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                    } else {
                        dst.copy_from_slice(src);
                    }
                }
            }
        }
    };
    let threads = match par {
        Par::Many(t) if t > 1 => t.min(mb.max(nb)),
        _ => 1,
    };
    if threads <= 1 {
        return run(0..mb, 0..nb);
    }
    let split = |len: usize, t: usize| {
        let step = len.div_ceil(threads);
        (t * step).min(len)..((t + 1) * step).min(len)
    };
    (0..threads).into_par_iter().for_each(|t| {
        if mb >= threads { run(split(mb, t), 0..nb) } else { run(0..mb, split(nb, t)) }
    });
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
