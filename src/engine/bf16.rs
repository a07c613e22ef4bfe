//! bf16 operands for the tile GEMM: rounding `f32` to bf16, packing the two operands of a product
//! into the panel layout AMX tiles load, and a portable kernel over the same panels.
//!
//! A product is computed in 32 x 32 blocks of `C`, each four 16 x 16 tiles, with `K` taken 32 at a
//! time. The panels are laid out so that one step of `K` for one block is two contiguous A tiles
//! and two contiguous B tiles of 1 KiB each (rows of 64 bytes):
//! - A band `i` (rows `32i..32i+32`), step `s`, half `h`: row `r` holds
//!   `A[32i + 16h + r][32s .. 32s + 32]`;
//! - B band `j` (columns `32j..32j+32`), step `s`, half `h`: row `r` holds, for each of its 16
//!   columns `q`, the VNNI pair `B[32s + 2r][32j + 16h + q], B[32s + 2r + 1][32j + 16h + q]`.
//!
//! Rows, columns and depths past the matrix are zero (rows past it, when A is built a row at a
//! time by `pack_a_row`, may hold stale values instead), so ragged shapes need no special
//! kernel: the zeros add nothing, and the rows and columns past `C` are dropped when the block is
//! stored; rows of a product never mix.
//! The portable kernel follows `tdpbf16ps`'s definition (two products per pair, added in order to
//! an `f32` accumulator), so it checks the packing on machines without AMX. It differs from the
//! tiles only where they flush: `tdpbf16ps` reads bf16 subnormals (below 2^-126) as zero and
//! writes subnormal sums as zero, the portable kernel keeps them.

/// Rows and columns of a `C` block (two tiles each way).
pub const BLOCK: usize = 32;
/// Depth of one tile step, in bf16 values (64 bytes).
pub const STEP: usize = 32;
/// bf16 values in one 16-row tile.
pub const TILE: usize = 16 * STEP;

/// `x` rounded to the nearest bf16, ties to even; NaN stays NaN (quiet), and values past the
/// largest bf16 round to infinity as IEEE rounding does.
#[inline(always)]
pub fn from_f32(x: f32) -> u16 {
    let b = x.to_bits();
    if b & 0x7fff_ffff > 0x7f80_0000 {
        return ((b >> 16) | 0x40) as u16;
    }
    (b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

/// The `f32` with the same value as bf16 `h` (exact: bf16 is the top half of an `f32`).
#[inline(always)]
pub fn to_f32(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// A logical `rows x cols` matrix read as `data[r * rs + c * cs]`.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

/// Depth steps of a product of depth `k`.
pub fn steps(k: usize) -> usize {
    k.div_ceil(STEP)
}

/// bf16 values of the packed A operand (`m x k`), or of the packed B operand (`k x n`, with `n`
/// in place of `m`).
pub fn packed_len(m: usize, k: usize) -> usize {
    m.div_ceil(BLOCK) * steps(k) * 2 * TILE
}

impl View<'_> {
    /// Panics unless every element of a `rows x cols` view lies inside `data`.
    fn check(&self, rows: usize, cols: usize, what: &str) {
        let span = if rows == 0 || cols == 0 { 0 } else { (rows - 1) * self.rs + (cols - 1) * self.cs + 1 };
        assert!(self.data.len() >= span, "{what}: {} elements for a {rows}x{cols} view needing {span}", self.data.len());
    }
}

/// Lanes `lane..lane + len` of a 16-lane half of a row, read from `offset..offset + len` past
/// the row's base: one of the contiguous runs a convolution's patch row is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seg {
    pub lane: usize,
    pub len: usize,
    pub offset: usize,
}

/// A row's 16-value halves as the segments each reads past the row's base (`Seg`), checked
/// once: segments of half `h` are `segs[start[h]..start[h + 1]]`, and none reads past `end`.
#[derive(Clone, Debug)]
pub struct Segments {
    segs: Vec<Seg>,
    start: Vec<usize>,
    end: usize,
}

impl Segments {
    /// Panics on a segment outside its half's 16 lanes.
    pub fn new(halves: impl IntoIterator<Item = Vec<Seg>>) -> Segments {
        let (mut segs, mut start) = (Vec::new(), vec![0]);
        for h in halves {
            assert!(h.iter().all(|g| g.len >= 1 && g.lane < 16 && g.len <= 16 - g.lane), "Segments: a segment outside its half's 16 lanes");
            segs.extend(h);
            start.push(segs.len());
        }
        let end = segs.iter().map(|g| g.offset.checked_add(g.len).expect("Segments: a segment past the address space")).max().unwrap_or(0);
        Segments { segs, start, end }
    }

    pub fn halves(&self) -> usize {
        self.start.len() - 1
    }

    /// The segments of half `h` (none past the last half).
    pub fn half(&self, h: usize) -> &[Seg] {
        if h < self.halves() { &self.segs[self.start[h]..self.start[h + 1]] } else { &[] }
    }

    /// One past the furthest value any segment reads.
    pub fn end(&self) -> usize {
        self.end
    }
}

/// Where row `i` of an A of depth `k` starts in its panels (its slot of step `s` is
/// `2 * TILE * s` further).
pub fn row_slot(i: usize, k: usize) -> usize {
    (i / BLOCK) * steps(k) * 2 * TILE + ((i % BLOCK) / 16) * TILE + (i % 16) * STEP
}

/// Whether the AVX-512 packers run here (every CPU with AMX has AVX-512F).
pub(super) fn simd() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Packs row `i` of an A of depth `k` (its values `row`) into `dst`, A's panels (`pack_a`'s
/// layout, bit for bit), so that a caller can build A one row at a time in a small buffer
/// instead of the whole matrix in `f32` first (a convolution's patches).
pub fn pack_a_row(row: &[f32], i: usize, k: usize, dst: &mut [u16]) {
    let (ks, base) = (steps(k), row_slot(i, k));
    assert!(row.len() >= k, "pack_a_row: {} values for a depth of {k}", row.len());
    assert!(ks == 0 || dst.len() >= base + (ks - 1) * 2 * TILE + STEP, "pack_a_row: destination too short for row {i}");
    #[cfg(target_arch = "x86_64")]
    if simd() {
        // SAFETY: AVX-512F is present; the assertions bound the source and every slot.
        return unsafe { super::bf16_simd::pack_row(row.as_ptr(), k, dst.as_mut_ptr().add(base), 2 * TILE) };
    }
    for s in 0..ks {
        let slot = &mut dst[base + s * 2 * TILE..][..STEP];
        for (p, d) in slot.iter_mut().enumerate() {
            *d = row.get(s * STEP + p).filter(|_| s * STEP + p < k).map_or(0, |x| from_f32(*x));
        }
    }
}

/// Whether the AVX-512 packers that round with `vcvtne2ps2bf16` run here: on every CPU with a
/// bf16 kernel (AVX512_BF16 or AMX), where they replace the portable rounding. They differ from
/// `from_f32` only on `f32` subnormals, which they make zero: most round to bf16 subnormals,
/// which the kernels read as zero anyway, but the largest (magnitude at least
/// `0x007F8000`) round up to 2^-126, so a product with one of them differs by at most 2^-126 times
/// the other operand.
pub(super) fn simd_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    return simd() && std::arch::is_x86_feature_detected!("avx512bw") && std::arch::is_x86_feature_detected!("avx512bf16");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Packs row `i` of an A of depth `k` whose 16-value halves are read by `halves` past
/// `x[base]` (zero in lanes no segment covers): `pack_a_row` of the gathered row, bit for bit,
/// without gathering it first (a convolution's patch row straight from its input).
pub fn pack_a_row_segments(x: &[f32], base: usize, halves: &Segments, i: usize, k: usize, dst: &mut [u16]) {
    pack_a_row_segments_on(simd_bf16(), x, base, halves, i, k, dst)
}

/// `pack_a_row_segments` in AVX-512 when `simd` (`simd_bf16()`, which the caller has
/// checked), portable otherwise.
pub(super) fn pack_a_row_segments_on(simd: bool, x: &[f32], base: usize, halves: &Segments, i: usize, k: usize, dst: &mut [u16]) {
    let (ks, at) = (steps(k), row_slot(i, k));
    assert!(halves.halves() == k.div_ceil(16), "pack_a_row_segments: {} halves for a depth of {k}", halves.halves());
    assert!(halves.end() <= x.len() && base <= x.len() - halves.end(), "pack_a_row_segments: a segment past the input");
    assert!(ks == 0 || dst.len() >= at + (ks - 1) * 2 * TILE + STEP, "pack_a_row_segments: destination too short for row {i}");
    #[cfg(target_arch = "x86_64")]
    if simd && simd_bf16() {
        // SAFETY: AVX-512F, BW and BF16 are present (`simd_bf16`); the assertions bound every
        // segment and slot.
        return unsafe { super::bf16_simd::pack_row_segments(x.as_ptr().add(base), halves, dst.as_mut_ptr().add(at), 2 * TILE) };
    }
    let _ = simd;
    for s in 0..ks {
        let slot = &mut dst[at + s * 2 * TILE..][..STEP];
        slot.fill(0);
        for part in 0..2 {
            for g in halves.half(2 * s + part) {
                for l in 0..g.len {
                    slot[16 * part + g.lane + l] = from_f32(x[base + g.offset + l]);
                }
            }
        }
    }
}

/// Packs A (`m x k`) into `dst` (at least `packed_len(m, k)` values).
pub fn pack_a(a: View, m: usize, k: usize, dst: &mut [u16]) {
    a.check(m, k, "pack_a");
    assert!(dst.len() >= packed_len(m, k), "pack_a: destination too short");
    #[cfg(target_arch = "x86_64")]
    if simd() && (a.cs == 1 || a.rs == 1) {
        // SAFETY: AVX-512F is present; `check` and the assertion bound every access.
        return unsafe { super::bf16_simd::pack_a(a, m, k, dst) };
    }
    pack_a_portable(a, m, k, dst)
}

/// Packs B (`k x n`) into `dst` (at least `packed_len(n, k)` values) as VNNI pairs.
pub fn pack_b(b: View, k: usize, n: usize, dst: &mut [u16]) {
    b.check(k, n, "pack_b");
    assert!(dst.len() >= packed_len(n, k), "pack_b: destination too short");
    #[cfg(target_arch = "x86_64")]
    if simd() && (b.cs == 1 || b.rs == 1) {
        // SAFETY: AVX-512F is present; `check` and the assertion bound every access.
        return unsafe { super::bf16_simd::pack_b(b, k, n, dst) };
    }
    pack_b_portable(b, k, n, dst)
}

super::multiversion! {
/// `pack_a` in plain Rust, for any strides.
pub fn pack_a_portable(a: View, m: usize, k: usize, dst: &mut [u16]) {
    let ks = steps(k);
    let dst = &mut dst[..packed_len(m, k)];
    for (band, panel) in dst.chunks_exact_mut(ks * 2 * TILE).enumerate() {
        for (s, step) in panel.chunks_exact_mut(2 * TILE).enumerate() {
            let p0 = s * STEP;
            let depth = STEP.min(k - p0);
            for (rr, row) in step.chunks_exact_mut(STEP).enumerate() {
                let i = band * BLOCK + rr;
                if i >= m {
                    row.fill(0);
                    continue;
                }
                let base = i * a.rs + p0 * a.cs;
                if a.cs == 1 {
                    for (d, x) in row[..depth].iter_mut().zip(&a.data[base..base + depth]) {
                        *d = from_f32(*x);
                    }
                } else {
                    for (p, d) in row[..depth].iter_mut().enumerate() {
                        *d = from_f32(a.data[base + p * a.cs]);
                    }
                }
                row[depth..].fill(0);
            }
        }
    }
}
}

super::multiversion! {
/// `pack_b` in plain Rust, for any strides.
pub fn pack_b_portable(b: View, k: usize, n: usize, dst: &mut [u16]) {
    let ks = steps(k);
    let dst = &mut dst[..packed_len(n, k)];
    for (band, panel) in dst.chunks_exact_mut(ks * 2 * TILE).enumerate() {
        for (s, step) in panel.chunks_exact_mut(2 * TILE).enumerate() {
            for (h, tile) in step.chunks_exact_mut(TILE).enumerate() {
                let j0 = band * BLOCK + h * 16;
                let width = if j0 >= n { 0 } else { 16.min(n - j0) };
                for (r, row) in tile.chunks_exact_mut(STEP).enumerate() {
                    let p = s * STEP + 2 * r;
                    for q in 0..16 {
                        let (mut lo, mut hi) = (0, 0);
                        if q < width && p < k {
                            let at = p * b.rs + (j0 + q) * b.cs;
                            lo = from_f32(b.data[at]);
                            if p + 1 < k {
                                hi = from_f32(b.data[at + b.rs]);
                            }
                        }
                        row[2 * q] = lo;
                        row[2 * q + 1] = hi;
                    }
                }
            }
        }
    }
}
}

/// Adds the 32 x 32 block `acc` (row stride `BLOCK`) into, or stores it over, the `rows x cols`
/// corner of `c` at `c[0]` with row stride `ldc`.
#[inline(always)]
pub fn store_block(acc: &[f32; BLOCK * BLOCK], c: &mut [f32], ldc: usize, rows: usize, cols: usize, accumulate: bool) {
    for r in 0..rows {
        let (dst, src) = (&mut c[r * ldc..r * ldc + cols], &acc[r * BLOCK..r * BLOCK + cols]);
        if accumulate {
            dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
        } else {
            dst.copy_from_slice(src);
        }
    }
}

/// One block by the definition of `tdpbf16ps`: `acc` (32 x 32, row stride 32) over `ks` steps of
/// the A band `a` and the B band `b`.
pub fn block_portable(a: &[u16], b: &[u16], ks: usize, acc: &mut [f32; BLOCK * BLOCK]) {
    acc.fill(0.0);
    for s in 0..ks {
        let (at, bt) = (&a[s * 2 * TILE..(s + 1) * 2 * TILE], &b[s * 2 * TILE..(s + 1) * 2 * TILE]);
        for ha in 0..2 {
            for hb in 0..2 {
                let (ta, tb) = (&at[ha * TILE..(ha + 1) * TILE], &bt[hb * TILE..(hb + 1) * TILE]);
                for m in 0..16 {
                    let arow = &ta[m * STEP..(m + 1) * STEP];
                    let crow = &mut acc[(16 * ha + m) * BLOCK + 16 * hb..][..16];
                    for r in 0..16 {
                        let (a0, a1) = (to_f32(arow[2 * r]), to_f32(arow[2 * r + 1]));
                        let brow = &tb[r * STEP..(r + 1) * STEP];
                        for (q, c) in crow.iter_mut().enumerate() {
                            *c += a0 * to_f32(brow[2 * q]);
                            *c += a1 * to_f32(brow[2 * q + 1]);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_f32_rounds_to_nearest_even() {
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even significand (1).
        assert_eq!(from_f32(1.0 + 2f32.powi(-8)), 0x3f80);
        // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up to the even one.
        assert_eq!(from_f32(1.0 + 3.0 * 2f32.powi(-8)), 0x3f82);
        // Just above halfway rounds up, just below rounds down.
        assert_eq!(from_f32(f32::from_bits(0x3f80_8001)), 0x3f81);
        assert_eq!(from_f32(f32::from_bits(0x3f80_7fff)), 0x3f80);
        assert_eq!(from_f32(-2.5), 0xc020);
        assert_eq!(from_f32(f32::INFINITY), 0x7f80);
        assert_eq!(from_f32(f32::MAX), 0x7f80, "past the largest bf16 rounds to infinity");
        assert!(to_f32(from_f32(f32::NAN)).is_nan());
        assert!(to_f32(from_f32(f32::from_bits(0x7f80_0001))).is_nan(), "a NaN with only low bits set stays NaN");
    }

    #[test]
    fn from_f32_relative_error_is_at_most_2_pow_minus_8() {
        // bf16 keeps 8 significant bits, so rounding to nearest errs by at most half a unit in
        // the last place: 2^-8 relative.
        let mut x = 1e-30f32;
        while x < 1e30 {
            for v in [x, -x, x * 1.337, x * 1.999] {
                let err = ((to_f32(from_f32(v)) - v) / v).abs();
                assert!(err <= 2f32.powi(-8), "{v}: relative error {err}");
            }
            x *= 1.1;
        }
    }

    #[test]
    fn simd_packing_equals_portable_packing_bit_for_bit() {
        // Every orientation the engine uses (row-major, transposed, strided), ragged sizes, and
        // values that round up, down, to even, overflow, and NaN.
        if !simd() {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED AVX-512 bf16 packing: this CPU has no AVX-512F, portable compared with itself");
        }
        let mut rng = crate::rng::Rng::new(5);
        let specials = [f32::NAN, f32::INFINITY, -0.0, f32::MAX, 1.0 + 2f32.powi(-8), 1e-40];
        for &(rows, cols) in &[(1, 1), (3, 70), (33, 17), (16, 32), (40, 65), (100, 3)] {
            for &(transposed, pad) in &[(false, 0), (true, 0), (false, 3), (true, 2)] {
                let ld = if transposed { rows + pad } else { cols + pad };
                let stored = if transposed { cols } else { rows };
                let data: Vec<f32> = (0..stored * ld)
                    .map(|i| if i % 29 == 7 { specials[i % specials.len()] } else { rng.normal() as f32 * 100.0 })
                    .collect();
                let v = if transposed { View { data: &data, rs: 1, cs: ld } } else { View { data: &data, rs: ld, cs: 1 } };
                let (mut fast, mut slow) = (vec![1u16; packed_len(rows, cols)], vec![2u16; packed_len(rows, cols)]);
                pack_a(v, rows, cols, &mut fast);
                pack_a_portable(v, rows, cols, &mut slow);
                assert_eq!(fast, slow, "A {rows}x{cols} transposed {transposed} pad {pad}");
                let (mut fast, mut slow) = (vec![1u16; packed_len(cols, rows)], vec![2u16; packed_len(cols, rows)]);
                pack_b(v, rows, cols, &mut fast);
                pack_b_portable(v, rows, cols, &mut slow);
                assert_eq!(fast, slow, "B {rows}x{cols} transposed {transposed} pad {pad}");
            }
        }
    }

    #[test]
    fn rows_packed_one_at_a_time_equal_the_packed_matrix() {
        let mut rng = crate::rng::Rng::new(6);
        for &(m, k) in &[(1, 1), (5, 31), (33, 32), (64, 100), (70, 3136)] {
            let a: Vec<f32> = (0..m * k).map(|_| rng.normal() as f32).collect();
            let mut whole = vec![0u16; packed_len(m, k)];
            pack_a(View { data: &a, rs: k, cs: 1 }, m, k, &mut whole);
            let mut rows = vec![0u16; packed_len(m, k)];
            for i in 0..m {
                pack_a_row(&a[i * k..(i + 1) * k], i, k, &mut rows);
            }
            assert_eq!(rows, whole, "{m}x{k}");
        }
    }

    #[test]
    fn pack_b_pairs_consecutive_depths_and_pads_with_zero() {
        // B is 3 x 17: entry (p, j) = 1 + p * 17 + j, all exact in bf16 (< 256).
        let (k, n) = (3, 17);
        let b: Vec<f32> = (0..k * n).map(|i| 1.0 + i as f32).collect();
        let mut dst = vec![7u16; packed_len(n, k)];
        pack_b(View { data: &b, rs: n, cs: 1 }, k, n, &mut dst);
        let at = |p: usize, j: usize| to_f32(dst[(j / 16) * TILE + (p / 2) * STEP + (j % 16) * 2 + p % 2]);
        assert_eq!(at(0, 0), 1.0);
        assert_eq!(at(1, 0), 18.0);
        assert_eq!(at(2, 5), 1.0 + 34.0 + 5.0);
        assert_eq!(at(0, 16), 17.0);
        assert_eq!(at(3, 5), 0.0, "depth past k");
        assert_eq!(at(0, 17), 0.0, "column past n");
        for r in 0..16 {
            for q in 1..16 {
                assert_eq!(dst[TILE + r * STEP + 2 * q..][..2], [0, 0], "column {} past n", 16 + q);
            }
        }
    }

    #[test]
    fn the_simd_rounding_differs_from_the_portable_one_only_by_making_f32_subnormals_zero() {
        if !simd_bf16() {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED vcvtne2ps2bf16 rounding: no AVX512_BF16 on this CPU (portable rounding only)");
            return;
        }
        let bits = [1u32, 0x007F_7FFF, 0x007F_8000, 0x807F_FFFF, 0x0080_0000, 0x3F80_8000, 0x3F81_8000, 0xBF80_7FFF, 0x7F7F_FFFF, 0x7F80_0000, 0xFF80_0000, 0x7FC0_0001, 0x7F80_0001, 0, 0x8000_0000, 0x4049_0FDB];
        let x: Vec<f32> = bits.iter().map(|b| f32::from_bits(*b)).collect();
        let halves = Segments::new([vec![Seg { lane: 0, len: 16, offset: 0 }]]);
        let (mut fast, mut slow) = (vec![7u16; packed_len(BLOCK, 16)], vec![7u16; packed_len(BLOCK, 16)]);
        pack_a_row_segments_on(true, &x, 0, &halves, 0, 16, &mut fast);
        pack_a_row_segments_on(false, &x, 0, &halves, 0, 16, &mut slow);
        for (q, b) in bits.iter().enumerate() {
            if b & 0x7F80_0000 == 0 && b & 0x007F_FFFF != 0 {
                assert_eq!(fast[q] & 0x7FFF, 0, "subnormal {b:#010x} becomes zero");
            } else {
                assert_eq!(fast[q], slow[q], "{b:#010x}");
            }
        }
        assert_eq!(slow[2], 0x0080, "the largest subnormals round up to 2^-126 in the portable rounding");
    }
}
