//! The loop over a bf16 product's 32 x 32 blocks, split over threads, and what is done with each
//! finished block: stored into or added onto a matrix, or handed to the caller (a convolution's
//! input gradient adds its blocks straight onto the image they came from).
use rayon::prelude::*;

use super::amx::Tiles;
use super::bf16::{self, BLOCK, TILE};
use super::gemm::{Kernel, Par};

/// The destination of a product, shared by the threads that write its disjoint blocks.
#[derive(Clone, Copy)]
pub(super) struct Dst(pub(super) *mut f32);
// SAFETY: each thread writes only the rows and columns of its own blocks.
unsafe impl Send for Dst {}
unsafe impl Sync for Dst {}

impl Dst {
    /// The destination's value `i` (for `store_rows`).
    pub(super) fn at(&self, i: usize) -> *mut f32 {
        self.0.wrapping_add(i)
    }

    /// # Safety
    /// `at..at + len` lies inside the destination and no other thread uses it meanwhile.
    #[allow(clippy::mut_from_ref)]
    pub(super) unsafe fn run(&self, at: usize, len: usize) -> &mut [f32] {
        std::slice::from_raw_parts_mut(self.0.add(at), len)
    }
}

/// One block `acc` (32 x 32, row stride 32) of the A band `a` and the B band `b` over `ks` steps,
/// on `kernel`; `rows` is how many of the block's rows the caller keeps (a short last band runs
/// a shorter kernel). `tiles` is this thread's AMX configuration when `kernel` is the tiles.
#[inline]
pub(super) fn block_on(kernel: Kernel, tiles: Option<&Tiles>, a: &[u16], b: &[u16], ks: usize, rows: usize, acc: &mut [f32; BLOCK * BLOCK]) {
    assert!(a.len() >= ks * 2 * TILE && b.len() >= ks * 2 * TILE, "block_on: bands shorter than {ks} steps");
    match (tiles, kernel) {
        (Some(t), _) => t.block(a, b, ks, acc),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Bf16Avx512` runs only where `runs_here` saw the features (checked by the
        // products that pack for it); both bands hold `ks` steps.
        (None, Kernel::Bf16Avx512) => unsafe { super::bf16_dot::block(a.as_ptr(), b.as_ptr(), ks, rows, acc.as_mut_ptr()) },
        _ => bf16::block_portable(a, b, ks, acc),
    }
}

/// Every block of `c` from the packed panels, split over threads by row bands (or by column
/// bands when there are fewer row bands than threads).
#[allow(clippy::too_many_arguments)]
pub(super) fn blocks(kernel: Kernel, pa: &[u16], pb: &[u16], m: usize, n: usize, k: usize, c: Dst, ldc: usize, accumulate: bool, par: Par) {
    blocks_with(kernel, pa, pb, m, n, k, par, |r0, c0, acc| {
        let (rows, w) = (BLOCK.min(m - r0), BLOCK.min(n - c0));
        // SAFETY: rows r0 + r < m and columns c0..c0 + w <= n lie inside `c` (checked by the
        // callers), and no other thread writes this block.
        unsafe { store_rows(acc, rows, 0, w, |r| c.at((r0 + r) * ldc + c0), accumulate) };
    });
}

/// `blocks`, with each finished block given to `store(first row, first column, block)`; the
/// block's rows and columns past the product's `m x n` hold nothing to keep.
#[allow(clippy::too_many_arguments)]
pub(super) fn blocks_with(kernel: Kernel, pa: &[u16], pb: &[u16], m: usize, n: usize, k: usize, par: Par, store: impl Fn(usize, usize, &[f32; BLOCK * BLOCK]) + Sync) {
    let (mb, nb, ks) = (m.div_ceil(BLOCK), n.div_ceil(BLOCK), bf16::steps(k));
    let panel = ks * 2 * TILE;
    let run = |rows: std::ops::Range<usize>, cols: std::ops::Range<usize>| {
        let tiles = (kernel == Kernel::Bf16Amx).then(Tiles::configure);
        let mut acc = [0f32; BLOCK * BLOCK];
        for i in rows {
            for j in cols.clone() {
                let (a, b) = (&pa[i * panel..(i + 1) * panel], &pb[j * panel..(j + 1) * panel]);
                block_on(kernel, tiles.as_ref(), a, b, ks, m - i * BLOCK, &mut acc);
                store(i * BLOCK, j * BLOCK, &acc);
            }
        }
    };
    split(par, mb, nb, run);
}

/// A finished block's rows onto their destinations: for each row `r < rows`, the `w` values
/// from the block's column `from` onto `dst(r)` (added when `accumulate`). One call a block, so
/// that the AVX-512 path keeps every row in masked registers instead of a call and a loop with
/// a scalar tail per row (a block deep by only a few steps, as an input gradient's, spends a
/// fifth of its time storing otherwise).
///
/// # Safety
/// `dst(r)` is valid for `w` floats for every `r < rows`, and no other thread uses them meanwhile.
pub(super) unsafe fn store_rows(acc: &[f32; BLOCK * BLOCK], rows: usize, from: usize, w: usize, dst: impl Fn(usize) -> *mut f32, accumulate: bool) {
    assert!(rows <= BLOCK && from + w <= BLOCK, "store_rows: {rows} rows of {w} from {from}");
    #[cfg(target_arch = "x86_64")]
    if bf16::simd() {
        return simd::store_rows(acc, rows, from, w, dst, accumulate);
    }
    for r in 0..rows {
        add_or_copy(&acc[r * BLOCK + from..][..w], std::slice::from_raw_parts_mut(dst(r), w), accumulate);
    }
}

/// Asks for the `w` floats at `dst(r)`, `r < rows`, to be brought into cache: the rows a block
/// is about to be added onto, fetched while it is computed instead of each waiting for memory
/// after it (no effect on memory or results).
pub(super) fn prefetch_rows(rows: usize, w: usize, dst: impl Fn(usize) -> *const f32) {
    #[cfg(target_arch = "x86_64")]
    for r in 0..rows.min(BLOCK) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = dst(r);
        // SAFETY: a prefetch reads nothing and faults on no address; SSE is x86-64's baseline.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(w.max(1) - 1) as *const i8);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (rows, w, dst);
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use super::super::bf16_simd::lanes;
    use super::BLOCK;
    use std::arch::x86_64::*;

    /// `super::store_rows` in masked AVX-512 registers.
    ///
    /// # Safety
    /// AVX-512F present, and as `super::store_rows`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn store_rows(acc: &[f32; BLOCK * BLOCK], rows: usize, from: usize, w: usize, dst: impl Fn(usize) -> *mut f32, accumulate: bool) {
        let (m0, m1) = (lanes(w.min(16)), lanes(w.saturating_sub(16)));
        for r in 0..rows {
            // Lanes past `w` are masked off: their addresses are never touched.
            let (s, d) = (acc.as_ptr().add(r * BLOCK + from), dst(r));
            let (mut v0, mut v1) = (_mm512_maskz_loadu_ps(m0, s), _mm512_maskz_loadu_ps(m1, s.wrapping_add(16)));
            if accumulate {
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, d));
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, d.wrapping_add(16)));
            }
            _mm512_mask_storeu_ps(d, m0, v0);
            _mm512_mask_storeu_ps(d.wrapping_add(16), m1, v1);
        }
    }
}

super::multiversion! {
/// `dst += src`, or `dst = src`: a block's row into its destination.
pub(super) fn add_or_copy(src: &[f32], dst: &mut [f32], accumulate: bool) {
    if accumulate {
        dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
    } else {
        dst.iter_mut().zip(src).for_each(|(d, s)| *d = *s);
    }
}
}

/// Runs `run(row bands, column bands)` over an `mb x nb` grid of blocks on `par`'s threads:
/// split by row bands, or by column bands when there are fewer row bands than threads.
pub(super) fn split(par: Par, mb: usize, nb: usize, run: impl Fn(std::ops::Range<usize>, std::ops::Range<usize>) + Sync) {
    let threads = match par {
        Par::Many(t) if t > 1 => t.min(mb.max(nb)),
        _ => 1,
    };
    if threads <= 1 {
        return run(0..mb, 0..nb);
    }
    let part = |len: usize, t: usize| {
        let step = len.div_ceil(threads);
        (t * step).min(len)..((t + 1) * step).min(len)
    };
    (0..threads).into_par_iter().for_each(|t| {
        if mb >= threads { run(part(mb, t), 0..nb) } else { run(0..mb, part(nb, t)) }
    });
}
