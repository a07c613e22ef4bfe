//! The bf16 block kernel on `vdpbf16ps` (AVX512_BF16: AMD Zen 4 and later, Intel Cooper Lake and Sapphire Rapids and later),
//! for CPUs without AMX tiles. It reads the very panels the tiles read (see `bf16`): B's tile rows
//! are already the VNNI pairs `vdpbf16ps` multiplies, sixteen columns to a register, and a dword
//! of A's row is the matching pair of one row, broadcast across the register.
//!
//! A 32 x 32 block is computed as four strips of 8 rows x 32 columns: 16 accumulators, 2 B loads
//! and 8 broadcasts per pair of depths for 16 instructions, which leaves the registers for the
//! operands and keeps the loads under the arithmetic. Rows past the matrix's last are not
//! computed, so a product with few rows (one image through the dense layer) costs its stream of
//! B, not the padding.
use std::arch::x86_64::*;

use super::bf16::{BLOCK, STEP, TILE};

/// Whether this CPU has `vdpbf16ps`.
pub fn supported() -> bool {
    // BW too: the `avx512bf16` target feature implies it, so a CPU (or hypervisor) without it
    // must not run code compiled for that feature.
    std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bw") && std::arch::is_x86_feature_detected!("avx512bf16")
}

/// `acc` (32 x 32 `f32`, row stride 32) = the product of `ks` depth steps of the packed A band `a`
/// and B band `b`, for the first `rows` rows (the others are left as they are).
///
/// # Safety
/// The CPU has AVX512F and AVX512_BF16 (`supported`), `a` and `b` hold at least `ks` steps
/// (`ks * 2 * TILE` values each), and `acc` holds `BLOCK * BLOCK` floats.
#[target_feature(enable = "avx512f,avx512bf16")]
pub unsafe fn block(a: *const u16, b: *const u16, ks: usize, rows: usize, acc: *mut f32) {
    super::strips!(rows, strip(a, b, ks, acc));
}

/// Rows `row0..row0 + R` (R <= 8, within one 16-row half) of the block, into `acc`.
#[inline]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn strip<const R: usize>(a: *const u16, b: *const u16, ks: usize, row0: usize, acc: *mut f32) {
    // Rows 0-15 of the block are A's first tile of each step, rows 16-31 its second.
    let (half, r0) = (row0 / 16, row0 % 16);
    let mut c = [[_mm512_setzero_ps(); 2]; R];
    for s in 0..ks {
        let ap = a.add((2 * s + half) * TILE + r0 * STEP) as *const i32;
        let b0 = b.add(2 * s * TILE);
        let b1 = b0.add(TILE);
        for p in 0..STEP / 2 {
            let x0: __m512bh = std::mem::transmute(_mm512_loadu_si512(b0.add(p * STEP) as *const _));
            let x1: __m512bh = std::mem::transmute(_mm512_loadu_si512(b1.add(p * STEP) as *const _));
            for (r, cr) in c.iter_mut().enumerate() {
                let pair: __m512bh = std::mem::transmute(_mm512_set1_epi32(ap.add(r * STEP / 2 + p).read_unaligned()));
                cr[0] = _mm512_dpbf16_ps(cr[0], pair, x0);
                cr[1] = _mm512_dpbf16_ps(cr[1], pair, x1);
            }
        }
    }
    store(&c, row0, acc);
}

/// `block`, with A's rows read in place from an image instead of from packed panels (a
/// convolution's patches, `conv_direct`): row `r`'s depth pair `q` is the two bf16 values at
/// `rows[r] + offs[q]`, the VNNI pair that A's packed tile row would hold; B is packed as for
/// `block`, `offs.len()` pairs deep (its padding past them is not read). Rows past
/// `rows.len()` are not computed.
///
/// # Safety
/// As `block`, for `offs.len()` pairs of `b`; each `rows[r] + offs[q]` starts 2 readable values.
#[target_feature(enable = "avx512f,avx512bf16")]
pub unsafe fn block_gathered(rows: &[*const u16], offs: &[usize], b: *const u16, acc: *mut f32) {
    super::strips!(rows.len(), gathered_strip(rows, b, offs, acc));
}

#[inline]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn gathered_strip<const R: usize>(rows: &[*const u16], b: *const u16, offs: &[usize], row0: usize, acc: *mut f32) {
    let mut c = [[_mm512_setzero_ps(); 2]; R];
    let at: [*const u16; R] = std::array::from_fn(|r| rows[row0 + r]);
    for (q, &off) in offs.iter().enumerate() {
        // Pair `p` of step `s` of B's band: see `bf16`'s layout.
        let b0 = b.add(2 * (q / (STEP / 2)) * TILE + (q % (STEP / 2)) * STEP);
        let x0: __m512bh = std::mem::transmute(_mm512_loadu_si512(b0 as *const _));
        let x1: __m512bh = std::mem::transmute(_mm512_loadu_si512(b0.add(TILE) as *const _));
        for (cr, a) in c.iter_mut().zip(&at) {
            let pair: __m512bh = std::mem::transmute(_mm512_set1_epi32((a.add(off) as *const i32).read_unaligned()));
            cr[0] = _mm512_dpbf16_ps(cr[0], pair, x0);
            cr[1] = _mm512_dpbf16_ps(cr[1], pair, x1);
        }
    }
    store(&c, row0, acc);
}

/// Where `block_pairs` reads: depth pair `q` has A's row `r` at dword `a + rows[r] + pairs[q]`
/// and B's 32 columns at dwords `b + q * b_step`. The pairs' offsets come from a table, so that
/// the walk is one loop however the image's rows split it (a loop per row of 3 to 21 pairs
/// would mispredict its exit every row).
#[derive(Clone, Copy)]
pub struct PairWalk {
    pub a: *const u32,
    pub rows: *const usize,
    pub pairs: *const usize,
    pub depth: usize,
    pub b: *const u32,
    pub b_step: usize,
}

/// The block of `walk.depth` depth pairs laid out as `walk` says, for the first `rows` rows: a
/// convolution's weight gradient, whose depth is the image's pixel pairs (`conv_direct`).
///
/// # Safety
/// AVX512F and AVX512_BF16 present; every dword `walk` names for `rows` rows and 32 columns is
/// readable (`rows` holds `rows` offsets, `pairs` `depth`); `acc` holds `BLOCK * BLOCK` floats.
#[target_feature(enable = "avx512f,avx512bf16")]
pub unsafe fn block_pairs(walk: PairWalk, rows: usize, acc: *mut f32) {
    super::strips!(rows, pairs_strip(walk, (), (), acc));
}

#[inline]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn pairs_strip<const R: usize>(w: PairWalk, _: (), _: (), row0: usize, acc: *mut f32) {
    let mut c = [[_mm512_setzero_ps(); 2]; R];
    let at: [*const i32; R] = std::array::from_fn(|r| w.a.add(*w.rows.add(row0 + r)) as *const i32);
    let b = w.b as *const i32;
    for q in 0..w.depth {
        let x0: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.add(q * w.b_step) as *const _));
        let x1: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.add(q * w.b_step + 16) as *const _));
        let o = *w.pairs.add(q);
        for (cr, a) in c.iter_mut().zip(&at) {
            let pair: __m512bh = std::mem::transmute(_mm512_set1_epi32(a.add(o).read_unaligned()));
            cr[0] = _mm512_dpbf16_ps(cr[0], pair, x0);
            cr[1] = _mm512_dpbf16_ps(cr[1], pair, x1);
        }
    }
    store(&c, row0, acc);
}

/// A strip's accumulators into rows `row0..` of the 32 x 32 block.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn store<const R: usize>(c: &[[__m512; 2]; R], row0: usize, acc: *mut f32) {
    for (r, cr) in c.iter().enumerate() {
        let out = acc.add((row0 + r) * BLOCK);
        _mm512_storeu_ps(out, cr[0]);
        _mm512_storeu_ps(out.add(16), cr[1]);
    }
}

/// `iters` rounds of 16 independent `vdpbf16ps` on registers: the instruction's peak on one
/// thread, with no memory traffic. Returns the floating-point operations done.
pub fn peak_loop(iters: usize) -> f64 {
    assert!(supported(), "vdpbf16ps is not available on this CPU");
    // SAFETY: the features were checked just above.
    unsafe { peak(iters.max(1)) };
    // Each instruction: 16 lanes, two products and two additions each.
    iters.max(1) as f64 * 16.0 * 16.0 * 4.0
}

#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn peak(iters: usize) {
    let x: __m512bh = std::mem::transmute(_mm512_set1_epi32(std::hint::black_box(0x3f80_3f80)));
    let mut c = [_mm512_setzero_ps(); 16];
    for _ in 0..iters {
        for v in c.iter_mut() {
            *v = _mm512_dpbf16_ps(*v, x, x);
        }
    }
    std::hint::black_box(c);
}
