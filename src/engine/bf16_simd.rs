//! The bf16 packers of `bf16` in AVX-512: sixteen roundings per instruction sequence, so that
//! packing keeps pace with the tiles instead of costing more than the product.
//!
//! Both operands come in the two orientations the engine stores: contiguous along the depth
//! (row-major A, transposed B) or across it (transposed A, row-major B). Reading across the depth
//! two rows at a time yields VNNI pairs directly (`lo | hi << 16`), which is B's tile layout;
//! reading along it yields A's. The other combination goes through a 16 x 16 transpose of dwords
//! (pairs) in a stack buffer. Rounding is bit for bit `bf16::from_f32`.
use std::arch::x86_64::*;

use super::bf16::{packed_len, steps, Seg, Segments, View, BLOCK, STEP, TILE};

/// 16 floats rounded to bf16 (nearest, ties to even; NaN kept quiet), each in the low half of
/// its dword.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn round16(x: __m512) -> __m512i {
    let b = _mm512_castps_si512(x);
    let lsb = _mm512_and_si512(_mm512_srli_epi32::<16>(b), _mm512_set1_epi32(1));
    let r = _mm512_srli_epi32::<16>(_mm512_add_epi32(b, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))));
    let abs = _mm512_and_si512(b, _mm512_set1_epi32(0x7fff_ffff));
    let nan = _mm512_cmpgt_epu32_mask(abs, _mm512_set1_epi32(0x7f80_0000));
    let quiet = _mm512_or_si512(_mm512_srli_epi32::<16>(b), _mm512_set1_epi32(0x40));
    _mm512_mask_blend_epi32(nan, r, quiet)
}

/// Lanes `0..n` of 16.
#[inline]
pub(super) fn lanes(n: usize) -> __mmask16 {
    if n >= 16 { 0xffff } else { ((1u32 << n) - 1) as __mmask16 }
}

/// `len` (<= 16) floats from `p`, rounded, zero past `len`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn load16(p: *const f32, len: usize) -> __m512i {
    if len == 0 { _mm512_setzero_si512() } else { round16(_mm512_maskz_loadu_ps(lanes(len), p)) }
}

/// Rounds `len` (<= 32) contiguous floats at `p` into 32 bf16 (zero past `len`) at `out`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn row32(p: *const f32, len: usize, out: *mut u16) {
    let lo = load16(p, len.min(16));
    let hi = load16(p.add(16.min(len)), len.saturating_sub(16));
    _mm256_storeu_si256(out as *mut __m256i, _mm512_cvtepi32_epi16(lo));
    _mm256_storeu_si256(out.add(16) as *mut __m256i, _mm512_cvtepi32_epi16(hi));
}

/// VNNI pairs of two rows: 16 dwords `row0[q] | row1[q] << 16`, `len` (<= 16) wide; a row past
/// the depth (`None`) is zero.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn pairs16(row0: Option<*const f32>, row1: Option<*const f32>, len: usize) -> __m512i {
    let lo = row0.map_or(_mm512_setzero_si512(), |p| load16(p, len));
    let hi = row1.map_or(_mm512_setzero_si512(), |p| load16(p, len));
    _mm512_or_si512(lo, _mm512_slli_epi32::<16>(hi))
}

/// The 16 lanes that `segs` read from past `base` (zero in lanes no segment covers).
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn gather16(base: *const f32, segs: &[Seg]) -> __m512 {
    let mut v = _mm512_setzero_ps();
    for g in segs {
        // Lanes below `g.lane` are masked off, so the address they would read is never touched.
        v = _mm512_mask_loadu_ps(v, lanes(g.len) << g.lane, base.add(g.offset).wrapping_sub(g.lane));
    }
    v
}

/// 32 floats rounded to bf16 by `vcvtne2ps2bf16`, `lo`'s 16 first: to nearest even as
/// `round16`, NaN kept quiet, but an `f32` subnormal becomes zero (as `vdpbf16ps` and the tiles
/// read a bf16 subnormal anyway).
#[inline]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn round32(lo: __m512, hi: __m512) -> __m512i {
    std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo))
}

/// One row of A whose 16-value halves are read by `halves` past `base`, rounded into its
/// 32-value slots (zero past the last half), the slot of depth step `s` at `out + s * stride`:
/// a convolution's patch row packed straight from its input.
///
/// # Safety
/// AVX-512F and AVX512_BF16 present; every segment lies inside the input's allocation; every
/// slot of `halves.halves().div_ceil(2)` steps lies inside the destination.
#[target_feature(enable = "avx512f,avx512bf16")]
pub unsafe fn pack_row_segments(base: *const f32, halves: &Segments, out: *mut u16, stride: usize) {
    let half = |h: usize| gather16(base, halves.half(h));
    for s in 0..halves.halves().div_ceil(2) {
        _mm512_storeu_si512(out.add(s * stride) as *mut _, round32(half(2 * s), half(2 * s + 1)));
    }
}

/// One 16-column half of a B band whose depth row `p < depth` is read by `segs` past
/// `x + bases[p]` (zero past the depth): the slot of depth pair `r` of step `s` at
/// `out + s * 2 * TILE + r * STEP`. A convolution's patch columns, all pixels deep.
///
/// # Safety
/// AVX-512F, AVX-512BW and AVX512_BF16 present; every segment of every pixel lies inside `x`'s
/// allocation; `out` holds `ks` steps.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
pub unsafe fn pack_half_rows(x: *const f32, bases: &[usize], segs: &[Seg], depth: usize, ks: usize, out: *mut u16) {
    // Two rows rounded side by side, then interleaved into VNNI pairs.
    let order: [u16; 32] = std::array::from_fn(|i| (i / 2 + 16 * (i % 2)) as u16);
    let order = _mm512_loadu_si512(order.as_ptr() as *const _);
    let row = |p: usize| if p < depth { gather16(x.add(bases[p]), segs) } else { _mm512_setzero_ps() };
    for s in 0..ks {
        for r in 0..STEP / 2 {
            let p = s * STEP + 2 * r;
            let pair = _mm512_permutexvar_epi16(order, round32(row(p), row(p + 1)));
            _mm512_storeu_si512(out.add(s * 2 * TILE + r * STEP) as *mut _, pair);
        }
    }
}

/// `len` floats at `src` rounded as `round32` into bf16 at `out`, which holds `len` rounded up
/// to 32 values (zero past `len`): an image that `conv_direct` reads in place.
///
/// # Safety
/// AVX-512F and AVX512_BF16 present; `src` holds `len` floats and `out` `len.next_multiple_of(32)`.
#[target_feature(enable = "avx512f,avx512bf16")]
pub unsafe fn round_run(src: *const f32, len: usize, out: *mut u16) {
    for i in (0..len).step_by(32) {
        let (lo, hi) = ((len - i).min(16), (len - i).saturating_sub(16));
        let lo = _mm512_maskz_loadu_ps(lanes(lo), src.add(i));
        let hi = if hi == 0 { _mm512_setzero_ps() } else { _mm512_maskz_loadu_ps(lanes(hi), src.add(i + 16)) };
        _mm512_storeu_si512(out.add(i) as *mut _, round32(lo, hi));
    }
}

/// The VNNI pairs `lo[i] | hi[i] << 16` of two runs of floats, rounded as `round32`, for
/// `i < len` (a multiple of 16) at `out`; values at `valid` and past are zero, and so is every
/// `hi` when it is `None`.
///
/// # Safety
/// AVX-512F, AVX-512BW and AVX512_BF16 present; `lo` and `hi` hold `valid.min(len)` floats and
/// `out` `len` dwords.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
pub unsafe fn pair_runs(lo: *const f32, hi: Option<*const f32>, len: usize, valid: usize, out: *mut u32) {
    let order: [u16; 32] = std::array::from_fn(|i| (i / 2 + 16 * (i % 2)) as u16);
    let order = _mm512_loadu_si512(order.as_ptr() as *const _);
    for i in (0..len).step_by(16) {
        let m = lanes(valid.saturating_sub(i));
        let l = _mm512_maskz_loadu_ps(m, lo.wrapping_add(i));
        let h = hi.map_or(_mm512_setzero_ps(), |h| _mm512_maskz_loadu_ps(m, h.wrapping_add(i)));
        _mm512_storeu_si512(out.add(i) as *mut _, _mm512_permutexvar_epi16(order, round32(l, h)));
    }
}

/// Writes the 16 x 16 dword transpose of `d` as one 16-row tile at `out`.
#[inline]
unsafe fn transposed_tile(d: &[u32; 256], out: *mut u16) {
    let out = out as *mut u32;
    for y in 0..16 {
        for x in 0..16 {
            out.add(y * 16 + x).write_unaligned(d[x * 16 + y]);
        }
    }
}

/// One row of A, `k` contiguous floats at `src`, rounded into its 32-value slots, the slot of
/// depth step `s` at `out + s * stride` (zero past `k`).
///
/// # Safety
/// AVX-512F present; `src` holds `k` floats; every slot lies inside the destination.
#[target_feature(enable = "avx512f")]
pub unsafe fn pack_row(src: *const f32, k: usize, out: *mut u16, stride: usize) {
    for s in 0..steps(k) {
        row32(src.add(s * STEP), STEP.min(k - s * STEP), out.add(s * stride));
    }
}

/// # Safety
/// AVX-512F present, `a.cs == 1 || a.rs == 1`, `a` covers `m x k`, `dst` holds `packed_len(m, k)`.
#[target_feature(enable = "avx512f")]
pub unsafe fn pack_a(a: View, m: usize, k: usize, dst: &mut [u16]) {
    let (ks, bands) = (steps(k), m.div_ceil(BLOCK));
    debug_assert!(dst.len() >= packed_len(m, k));
    let (src, out) = (a.data.as_ptr(), dst.as_mut_ptr());
    let tile = |band: usize, s: usize, half: usize| out.add(((band * ks + s) * 2 + half) * TILE);
    if a.cs == 1 {
        // Rows contiguous along the depth: each tile row is 32 consecutive values.
        for i in 0..bands * BLOCK {
            for s in 0..ks {
                let o = tile(i / BLOCK, s, 0).add((i % BLOCK) * STEP);
                let len = if i < m { STEP.min(k - s * STEP) } else { 0 };
                row32(src.add(i.min(m - 1) * a.rs + s * STEP), len, o);
            }
        }
        return;
    }
    // Transposed: stored row p holds A[.., p]; two stored rows give the pairs of 16 A rows.
    let mut d = [0u32; 256];
    for s in 0..ks {
        for band in 0..bands {
            for half in 0..2 {
                let i0 = band * BLOCK + half * 16;
                let width = m.saturating_sub(i0).min(16);
                for r in 0..16 {
                    let p = s * STEP + 2 * r;
                    let row = |p: usize| (p < k && width > 0).then(|| src.add(p * a.cs + i0));
                    _mm512_storeu_si512(d.as_mut_ptr().add(r * 16) as *mut _, pairs16(row(p), row(p + 1), width));
                }
                transposed_tile(&d, tile(band, s, half));
            }
        }
    }
}

/// # Safety
/// AVX-512F present, `b.cs == 1 || b.rs == 1`, `b` covers `k x n`, `dst` holds `packed_len(n, k)`.
#[target_feature(enable = "avx512f")]
pub unsafe fn pack_b(b: View, k: usize, n: usize, dst: &mut [u16]) {
    let (ks, bands) = (steps(k), n.div_ceil(BLOCK));
    debug_assert!(dst.len() >= packed_len(n, k));
    let (src, out) = (b.data.as_ptr(), dst.as_mut_ptr());
    let tile = |band: usize, s: usize, half: usize| out.add(((band * ks + s) * 2 + half) * TILE);
    if b.cs == 1 {
        // Rows across the depth: two stored rows are a row of VNNI pairs. Depth pairs outside,
        // so the source streams row by row.
        for s in 0..ks {
            for r in 0..16 {
                let p = s * STEP + 2 * r;
                let row = |p: usize, j0: usize| (p < k).then(|| src.add(p * b.rs + j0));
                for band in 0..bands {
                    for half in 0..2 {
                        let j0 = band * BLOCK + half * 16;
                        let width = n.saturating_sub(j0).min(16);
                        let (r0, r1) = if width > 0 { (row(p, j0), row(p + 1, j0)) } else { (None, None) };
                        _mm512_storeu_si512(tile(band, s, half).add(r * STEP) as *mut _, pairs16(r0, r1, width));
                    }
                }
            }
        }
        return;
    }
    // Transposed: stored row j holds B[.., j] along the depth, 32 values of it one column's 16
    // pairs; 16 columns transposed make the tile.
    let mut d = [0u32; 256];
    for band in 0..bands {
        for s in 0..ks {
            let len = STEP.min(k - s * STEP);
            for half in 0..2 {
                let j0 = band * BLOCK + half * 16;
                for q in 0..16 {
                    let j = j0 + q;
                    let at = d.as_mut_ptr().add(q * 16) as *mut u16;
                    row32(src.add(j.min(n - 1) * b.cs + s * STEP), if j < n { len } else { 0 }, at);
                }
                transposed_tile(&d, tile(band, s, half));
            }
        }
    }
}
