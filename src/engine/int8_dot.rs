//! The int8 block kernel on `vpdpbusd` (AVX512_VNNI: AMD Zen 4, Intel Ice Lake and later) and
//! the AVX-512 quantiser that fills A's panels. The kernel mirrors `bf16_dot`: strips of up to 8
//! rows x 32 columns, 16 accumulators, two B loads and one broadcast dword of A per row for each
//! four depths; `vpdpbusd` does 64 multiply-adds per instruction, twice `vdpbf16ps`'s.
use std::arch::x86_64::*;

use super::int8::{Quant, BAND_STEP, BLOCK, STEP};

/// Whether this CPU has `vpdpbusd` on 512-bit registers.
pub fn supported() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512vnni")
}

/// `acc` (32 x 32 `i32`, row stride 32) = the product of `ks` depth steps of the packed A band
/// `a` and B band `b`, for the first `rows` rows (the others are left as they are).
///
/// # Safety
/// The CPU has AVX512F and AVX512_VNNI (`supported`), `a` and `b` hold at least `ks` steps
/// (`ks * BAND_STEP` bytes each), and `acc` holds `BLOCK * BLOCK` values.
#[target_feature(enable = "avx512f,avx512vnni")]
pub unsafe fn block(a: *const u8, b: *const i8, ks: usize, rows: usize, acc: *mut i32) {
    super::strips!(rows, strip(a, b, ks, acc));
}

#[inline]
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn strip<const R: usize>(a: *const u8, b: *const i8, ks: usize, row0: usize, acc: *mut i32) {
    let mut c = [[_mm512_setzero_si512(); 2]; R];
    for s in 0..ks {
        let ap = a.add(s * BAND_STEP + row0 * STEP);
        let bp = b.add(s * BAND_STEP);
        for p in 0..STEP / 4 {
            let x0 = _mm512_loadu_si512(bp.add(p * 4 * BLOCK) as *const _);
            let x1 = _mm512_loadu_si512(bp.add(p * 4 * BLOCK + 64) as *const _);
            for (r, cr) in c.iter_mut().enumerate() {
                let quad = _mm512_set1_epi32((ap.add(r * STEP + 4 * p) as *const i32).read_unaligned());
                cr[0] = _mm512_dpbusd_epi32(cr[0], quad, x0);
                cr[1] = _mm512_dpbusd_epi32(cr[1], quad, x1);
            }
        }
    }
    for (r, cr) in c.iter().enumerate() {
        let out = acc.add((row0 + r) * BLOCK);
        _mm512_storeu_si512(out as *mut _, cr[0]);
        _mm512_storeu_si512(out.add(16) as *mut _, cr[1]);
    }
}

/// Quantises `k` floats at `row` with `q` into steps of 64 bytes, step `s` at `dst + s * stride`,
/// bit for bit as `int8::quantise_row_portable`; bytes past `k` in the last step are left.
///
/// # Safety
/// AVX-512F/BW/VL are present, `row` holds `k` floats and every step's slot lies inside `dst`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub unsafe fn quantise_row(row: *const f32, k: usize, q: Quant, dst: *mut u8, stride: usize) {
    let inv = _mm512_set1_ps(1.0 / q.scale);
    let (lo, hi, zero, none) = (_mm512_set1_ps(-512.0), _mm512_set1_ps(512.0), _mm512_set1_epi32(q.zero), _mm512_setzero_si512());
    let mut p = 0;
    while p < k {
        let n = (k - p).min(16);
        let mask: __mmask16 = if n == 16 { 0xffff } else { ((1u32 << n) - 1) as __mmask16 };
        let x = _mm512_maskz_loadu_ps(mask, row.add(p));
        // max first: a NaN lane takes the second operand, the lowest level.
        let v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(x, inv), lo), hi);
        let i = _mm512_max_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(v), zero), none);
        let bytes = _mm512_cvtusepi32_epi8(i);
        _mm_mask_storeu_epi8(dst.add((p / STEP) * stride + p % STEP) as *mut i8, mask, bytes);
        p += 16;
    }
}

/// `iters` rounds of 16 independent `vpdpbusd` on registers: the instruction's peak on one
/// thread. Returns the integer operations done (a multiply and an add per byte pair).
pub fn peak_loop(iters: usize) -> f64 {
    assert!(supported(), "vpdpbusd is not available on this CPU");
    // SAFETY: the features were checked just above.
    unsafe { peak(iters.max(1)) };
    iters.max(1) as f64 * 16.0 * 64.0 * 2.0
}

#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn peak(iters: usize) {
    let x = _mm512_set1_epi32(std::hint::black_box(0x0101_0101));
    let mut c = [_mm512_setzero_si512(); 16];
    for _ in 0..iters {
        for v in c.iter_mut() {
            *v = _mm512_dpbusd_epi32(*v, x, x);
        }
    }
    std::hint::black_box(c);
}
