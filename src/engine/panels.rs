//! Right operands packed once and multiplied many times (a model's weights), and the loops
//! that run a product's 32 x 32 blocks over threads: bf16 panels on AMX tiles or `vdpbf16ps`,
//! int8 panels on `vpdpbusd`, and `f32` weights that record their left operands for
//! calibration.
use std::sync::Mutex;

use rayon::prelude::*;

use super::bf16::{self, View, BLOCK, STEP, TILE};
use super::blocks::{blocks, split, Dst};
use super::gemm::{matmul_with, Kernel, Op, Par, Precision};
use super::int8::{self, Quant, Stats};

thread_local! {
    /// Packed operands, kept per thread between products so that a product allocates only when
    /// it is larger than any before it on that thread.
    pub(super) static PANELS: std::cell::Cell<(Vec<u16>, Vec<u16>)> = const { std::cell::Cell::new((Vec::new(), Vec::new())) };
}

/// A right operand (`k x n`, typically a layer's weights) packed once for products that reuse
/// it: rounded to bf16 into tile panels, or to int8 per column with the quantisation of the left
/// operands it will meet, or (for calibration) kept in `f32` with a record of those left
/// operands. Inference packs its weights once instead of on every call.
pub struct PackedB {
    panels: Panels,
    k: usize,
    n: usize,
    kernel: Kernel,
}

enum Panels {
    Bf16(Vec<u16>),
    Int8 {
        w: int8::PackedWeights,
        a: Quant,
        /// `s_a * s_w[j]`: what each column's integer sums are multiplied by.
        scale: Vec<f32>,
    },
    /// `f32` weights (`k x n`, row-major) and what calibration saw of the left operands.
    Observe { w: Vec<f32>, stats: Mutex<Stats> },
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

    /// `b` rounded to int8 per column for an int8 kernel, to multiply left operands quantised
    /// with `a`. Panics for a kernel that is not int8 or does not run here.
    pub fn int8(b: Op, k: usize, n: usize, kernel: Kernel, a: Quant) -> PackedB {
        assert!(kernel.is_int8() && kernel.runs_here(), "PackedB::int8: {kernel:?} is not an int8 kernel that runs here");
        assert!(k <= int8::MAX_DEPTH, "PackedB::int8: a depth of {k} would overflow the i32 sums (at most {})", int8::MAX_DEPTH);
        let (cs, rs, span) = b.steps(k, n);
        assert!(b.data.len() >= span, "PackedB: operand has {} elements, needs {span}", b.data.len());
        let w = int8::pack_b(b.data, rs as usize, cs as usize, k, n);
        let scale = w.scale.iter().map(|s| s * a.scale).collect();
        PackedB { panels: Panels::Int8 { w, a, scale }, k, n, kernel }
    }

    /// `b` kept in `f32` (products run on `Kernel::F32`), recording into `stats` the values of
    /// every left operand multiplied by it: calibration's first and second passes.
    pub fn observe(b: Op, k: usize, n: usize, stats: Stats) -> PackedB {
        let mut w = vec![0f32; k * n];
        let (cs, rs, span) = b.steps(k, n);
        assert!(b.data.len() >= span, "PackedB: operand has {} elements, needs {span}", b.data.len());
        for p in 0..k {
            for j in 0..n {
                w[p * n + j] = b.data[p * rs as usize + j * cs as usize];
            }
        }
        PackedB { panels: Panels::Observe { w, stats: Mutex::new(stats) }, k, n, kernel: Kernel::F32 }
    }

    /// What an observing operand has recorded (`None` for packed ones).
    pub fn observed(&self) -> Option<Stats> {
        match &self.panels {
            Panels::Observe { stats, .. } => Some(stats.lock().unwrap_or_else(|e| e.into_inner()).clone()),
            _ => None,
        }
    }

    /// How left operands are quantised for it, when it is packed for an int8 kernel.
    pub fn int8_quant(&self) -> Option<Quant> {
        match &self.panels {
            Panels::Int8 { a, .. } => Some(*a),
            _ => None,
        }
    }

    /// The kernel its products run on.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    fn pack(b: Op, k: usize, n: usize, kernel: Kernel, parallel: bool) -> PackedB {
        assert!(kernel != Kernel::F32 && !kernel.is_int8() && kernel.runs_here(), "PackedB: {kernel:?} is not a bf16 kernel that runs here");
        let span = b.steps(k, n).2;
        assert!(b.data.len() >= span, "PackedB: operand has {} elements, needs {span}", b.data.len());
        let mut panels = vec![0u16; bf16::packed_len(n, k)];
        fill_bf16(&mut panels, b, k, n, parallel);
        PackedB { panels: Panels::Bf16(panels), k, n, kernel }
    }

    /// Packs `b` (`k x n` as before) over these bf16 panels, on the current pool's threads:
    /// training's weights after each update, without allocating (and faulting in) the panels
    /// again. False, and nothing written, unless these are bf16 panels of that shape.
    #[must_use]
    pub fn repack(&mut self, b: Op) -> bool {
        let (k, n) = (self.k, self.n);
        match &mut self.panels {
            Panels::Bf16(panels) if b.data.len() >= b.steps(k, n).2 => {
                fill_bf16(panels, b, k, n, true);
                true
            }
            _ => false,
        }
    }

    /// `b` packed when `precision` runs on a bf16 kernel here, `None` when it runs in `f32` (no
    /// bf16 on this CPU, or `SIAMFACE_KERNELS=f32`): the caller then multiplies by `b` itself.
    /// (bf16 only: int8 needs the left operands' calibration, see `int8`.)
    pub fn for_precision(b: Op, k: usize, n: usize, precision: Precision) -> Option<PackedB> {
        let kernel = Kernel::for_precision(precision);
        (kernel != Kernel::F32 && !kernel.is_int8()).then(|| PackedB::new(b, k, n, kernel))
    }

    /// The bf16 panels, for the products that run their own block loop over them.
    pub(super) fn bf16_panels(&self) -> Option<&[u16]> {
        match &self.panels {
            Panels::Bf16(p) => Some(p),
            _ => None,
        }
    }

    pub fn k(&self) -> usize {
        self.k
    }
    pub fn n(&self) -> usize {
        self.n
    }
}

/// Writes every value of `panels` (`bf16::packed_len(n, k)`) from `b`, band by band (on every
/// thread of the pool when `parallel`: a dense layer's weights are 38M values).
fn fill_bf16(panels: &mut [u16], b: Op, k: usize, n: usize, parallel: bool) {
    // Bands go in groups, each packed a few steps of depth at a time across all its bands: a
    // row-major matrix's rows are then read 16 bands (2 KB) wide, instead of 128 bytes of a
    // new page per row and band (a dense layer's weights are 150 MB; their pages then miss the
    // TLB on every row of every band).
    const GROUP: usize = 16;
    const DEPTH: usize = 2 * STEP;
    let (cs, rs, _) = b.steps(k, n);
    let (cs, rs) = (cs as usize, rs as usize);
    let band = bf16::packed_len(BLOCK, k).max(1);
    let one = |(g, dst): (usize, &mut [u16])| {
        for k0 in (0..k.max(1)).step_by(DEPTH) {
            let depth = DEPTH.min(k - k0);
            for (i, panel) in dst.chunks_mut(band).enumerate() {
                let c0 = (g * GROUP + i) * BLOCK;
                let view = View { data: &b.data[(c0 * cs + k0 * rs).min(b.data.len())..], rs, cs };
                bf16::pack_b(view, depth, BLOCK.min(n - c0), &mut panel[k0 / STEP * 2 * TILE..]);
            }
        }
    };
    if parallel {
        panels.par_chunks_mut(band * GROUP).enumerate().for_each(one);
    } else {
        panels.chunks_mut(band * GROUP).enumerate().for_each(one);
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
    let view = View { data: a.data, rs: a_rs as usize, cs: a_cs as usize };
    match &b.panels {
        Panels::Bf16(panels) => {
            let (mut pa, pb) = PANELS.take();
            pa.resize(pa.len().max(bf16::packed_len(m, k)), 0);
            bf16::pack_a(view, m, k, &mut pa);
            blocks(b.kernel, &pa, panels, m, n, k, Dst(c.as_mut_ptr()), ldc, accumulate, par);
            PANELS.set((pa, pb));
        }
        Panels::Int8 { .. } => {
            let mut row = vec![0f32; k];
            int8_rows(m, b, |i, r| (0..k).for_each(|p| r[p] = view.data[i * view.rs + p * view.cs]), &mut row, c, ldc, accumulate, par);
        }
        Panels::Observe { w, stats } => {
            let mut s = stats.lock().unwrap_or_else(|e| e.into_inner());
            for i in 0..m {
                let row: Vec<f32> = (0..k).map(|p| view.data[i * view.rs + p * view.cs]).collect();
                s.observe(&row);
            }
            drop(s);
            super::gemm::matmul(a, Op::n(w), c, ldc, m, n, k, accumulate, par);
        }
    }
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
    let Panels::Bf16(panels) = &b.panels else { panic!("matmul_packed_a: B is not packed for a bf16 kernel") };
    blocks(b.kernel, pa, panels, m, n, k, Dst(c.as_mut_ptr()), ldc, accumulate, par);
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
    match &b.panels {
        Panels::Bf16(_) => matmul_packed_rows(m, b, |g, i, pa| {
            row(g, buf);
            bf16::pack_a_row(buf, i, k, pa);
        }, c, ldc, par),
        Panels::Int8 { .. } => int8_rows(m, b, row, buf, c, ldc, false, par),
        Panels::Observe { w, stats } => {
            let mut a = vec![0f32; ROW_CHUNK.min(m) * k];
            for r in (0..m).step_by(ROW_CHUNK) {
                let rows = ROW_CHUNK.min(m - r);
                for (i, dst) in a.chunks_exact_mut(k).take(rows).enumerate() {
                    row(r + i, dst);
                }
                stats.lock().unwrap_or_else(|e| e.into_inner()).observe(&a[..rows * k]);
                super::gemm::matmul(Op::n(&a), Op::n(w), &mut c[r * ldc..], ldc, rows, b.n, k, false, par);
            }
        }
    }
}

/// `c[m x n] = A * b` on bf16 panels, with `pack(row, row within the chunk, panels)` packing
/// each row of A straight into A's panels, 64 rows per product.
pub fn matmul_packed_rows(m: usize, b: &PackedB, mut pack: impl FnMut(usize, usize, &mut [u16]), c: &mut [f32], ldc: usize, par: Par) {
    let k = b.k;
    assert!(matches!(b.panels, Panels::Bf16(_)), "matmul_packed_rows: B is not packed for a bf16 kernel");
    let mut pa = ROW_PANELS.take();
    for r in (0..m).step_by(ROW_CHUNK) {
        let rows = ROW_CHUNK.min(m - r);
        pa.resize(pa.len().max(bf16::packed_len(rows, k)), 0);
        for i in 0..rows {
            pack(r + i, i, &mut pa);
        }
        // Rows past `rows` in the last band hold an earlier call's values: the kernels never
        // store them, and rows of a product do not mix.
        matmul_packed_a(&pa, rows, b, &mut c[r * ldc..], ldc, false, par);
    }
    ROW_PANELS.set(pa);
}

thread_local! {
    /// A's int8 panels, kept per thread between calls.
    static INT8_PANELS: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The int8 product of `matmul_rows_packed`: each row of A quantised straight into A's panels,
/// 64 rows per product.
#[allow(clippy::too_many_arguments)]
fn int8_rows(m: usize, b: &PackedB, mut row: impl FnMut(usize, &mut [f32]), buf: &mut [f32], c: &mut [f32], ldc: usize, accumulate: bool, par: Par) {
    let (k, q) = (b.k, b.int8_quant().expect("int8 panels"));
    int8_chunks(m, b, |g, i, pa| {
        row(g, buf);
        int8::pack_a_row(buf, i, k, q, pa);
    }, c, ldc, accumulate, par);
}

/// `c[m x n] = A * b` for `b` packed for an int8 kernel and an A whose rows come already
/// quantised with `b.int8_quant()`: `row(i, levels)` writes row `i`'s `b.k()` levels. A
/// convolution quantises its input once and gathers its patches as levels this way.
pub fn matmul_levels_packed(m: usize, b: &PackedB, buf: &mut [u8], mut row: impl FnMut(usize, &mut [u8]), c: &mut [f32], ldc: usize, par: Par) {
    assert!(b.int8_quant().is_some(), "matmul_levels_packed: B is not packed for an int8 kernel");
    let k = b.k;
    let buf = &mut buf[..k];
    int8_chunks(m, b, |g, i, pa| {
        row(g, buf);
        int8::place_row(buf, i, k, pa);
    }, c, ldc, false, par);
}

/// The int8 product over A's rows in chunks of 64: `fill(row, row within the chunk, panels)`
/// packs each row, then the chunk's blocks are multiplied.
#[allow(clippy::too_many_arguments)]
fn int8_chunks(m: usize, b: &PackedB, mut fill: impl FnMut(usize, usize, &mut [u8]), c: &mut [f32], ldc: usize, accumulate: bool, par: Par) {
    let Panels::Int8 { w, a: q, scale } = &b.panels else { unreachable!("int8 products on int8 panels only") };
    let (k, n) = (b.k, b.n);
    assert!(ldc >= n && (m == 0 || c.len() >= (m - 1) * ldc + n), "int8 product: dst has {} elements for {m}x{n} (ldc {ldc})", c.len());
    let mut pa = INT8_PANELS.take();
    for r in (0..m).step_by(ROW_CHUNK) {
        let rows = ROW_CHUNK.min(m - r);
        pa.resize(pa.len().max(int8::packed_len(rows, k)), 0);
        for i in 0..rows {
            fill(r + i, i, &mut pa);
        }
        let cols = Int8Cols { zero: q.zero, sum: &w.sum, scale };
        blocks_int8(b.kernel, &pa, &w.panels, rows, n, k, cols, Dst(c[r * ldc..].as_mut_ptr()), ldc, accumulate, par);
    }
    INT8_PANELS.set(pa);
}

/// What turns an int8 block's sums into real values: A's zero point, and each column's sum of
/// weight levels and scale.
#[derive(Clone, Copy)]
struct Int8Cols<'a> {
    zero: i32,
    sum: &'a [i32],
    scale: &'a [f32],
}

/// Every block of an int8 product, split over threads as `blocks` splits a bf16 one.
#[allow(clippy::too_many_arguments)]
fn blocks_int8(kernel: Kernel, pa: &[u8], pb: &[i8], m: usize, n: usize, k: usize, cols: Int8Cols, c: Dst, ldc: usize, accumulate: bool, par: Par) {
    use int8::BLOCK;
    let (mb, nb, ks) = (m.div_ceil(BLOCK), n.div_ceil(BLOCK), int8::steps(k));
    let panel = ks * int8::BAND_STEP;
    let run = |rows: std::ops::Range<usize>, cs: std::ops::Range<usize>| {
        let mut acc = [0i32; BLOCK * BLOCK];
        for i in rows {
            for j in cs.clone() {
                let (a, b) = (&pa[i * panel..(i + 1) * panel], &pb[j * panel..(j + 1) * panel]);
                let (r0, c0) = (i * BLOCK, j * BLOCK);
                match kernel {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: `Int8Vnni` runs only where `runs_here` saw the features (checked by
                    // `PackedB::int8`); both bands hold `ks` steps.
                    Kernel::Int8Vnni => unsafe { super::int8_dot::block(a.as_ptr(), b.as_ptr(), ks, m - r0, acc.as_mut_ptr()) },
                    _ => int8::block_portable(a, b, ks, &mut acc),
                }
                let w = BLOCK.min(n - c0);
                for r in 0..BLOCK.min(m - r0) {
                    // SAFETY: row r0 + r < m and columns c0..c0 + w <= n lie inside `c` (checked
                    // by the caller), and no other thread writes this block.
                    let dst = unsafe { c.run((r0 + r) * ldc + c0, w) };
                    int8::store_row(&acc[r * BLOCK..][..w], cols.zero, &cols.sum[c0..][..w], &cols.scale[c0..][..w], dst, accumulate);
                }
            }
        }
    };
    split(par, mb, nb, run);
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
