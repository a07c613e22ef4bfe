//! int8 operands for inference: weights rounded per output column to signed 8-bit integers,
//! activations to unsigned 8-bit integers with a scale and zero point calibrated beforehand, and
//! the panel layout AVX512_VNNI's `vpdpbusd` multiplies (four `u8 x i8` products into each
//! `i32` lane), with a portable kernel over the same panels.
//!
//! A product is computed in 32 x 32 blocks of `C`, `K` taken 64 at a time. One step of one
//! block is 2 KiB of A and 2 KiB of B:
//! - A band `i` (rows `32i..32i+32`), step `s`: row `r` is 64 bytes, `A[32i + r][64s .. 64s + 64]`;
//! - B band `j` (columns `32j..32j+32`), step `s`: dword row `p` (0..16) holds, for each of the
//!   32 columns `q`, the four bytes `B[64s + 4p .. 64s + 4p + 4][32j + q]`: two registers of
//!   sixteen columns, each lane the four depths that one broadcast dword of A's row multiplies.
//!
//! Depths past `K` are zero in B, so whatever A holds there adds nothing; columns past `N` are
//! zero and dropped; rows past `M` are never stored. With `a = s_a (q_a - z)` and
//! `w = s_w[j] q_w`, `C[i][j] = s_a s_w[j] (sum q_a q_w - z sum q_w)`: the sum of each column's
//! weights is kept beside the panels, so the zero point costs one subtraction per output.
//! The sums are exact in `i32` (a depth of 66,000 at most; wrapping arithmetic, as the
//! instruction's, makes intermediate overflow harmless).

/// Rows and columns of a `C` block.
pub const BLOCK: usize = 32;
/// Depth of one step, in bytes (one 64-byte row of A).
pub const STEP: usize = 64;
/// Bytes of one step of one band, in A or in B.
pub const BAND_STEP: usize = BLOCK * STEP;

/// The deepest product whose integer sums stay exact: 255 * 127 * k < 2^31.
pub const MAX_DEPTH: usize = 66_000;

/// Depth steps of a product of depth `k`.
pub fn steps(k: usize) -> usize {
    k.div_ceil(STEP)
}

/// Bytes of a packed A (`m x k`) or B (`k x n`, with `n` in place of `m`).
pub fn packed_len(m: usize, k: usize) -> usize {
    m.div_ceil(BLOCK) * steps(k) * BAND_STEP
}

/// How real values map to `u8`: `x = scale * (q - zero)`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Quant {
    pub scale: f32,
    pub zero: i32,
}

impl Quant {
    /// The map that covers `[lo, hi]` (widened to hold 0, which must be exact: a convolution's
    /// padding and ReLU's zeros).
    pub fn covering(lo: f32, hi: f32) -> Quant {
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        let span = hi - lo;
        if !span.is_finite() || span <= 0.0 {
            return Quant { scale: 1.0, zero: 0 };
        }
        let scale = span / 255.0;
        if scale < f32::MIN_POSITIVE {
            return Quant { scale: 1.0, zero: 0 };
        }
        Quant { scale, zero: (-lo / scale).round().clamp(0.0, 255.0) as i32 }
    }

    /// `x` as its `u8` level: `x / scale` to the nearest integer (ties to even, as the SIMD
    /// conversion rounds), plus the zero point, clamped; NaN reads as the lowest level.
    #[inline(always)]
    pub fn level(&self, x: f32) -> u8 {
        let v = x * (1.0 / self.scale);
        let v = if v.is_nan() { -512.0 } else { v.clamp(-512.0, 512.0) };
        (v.round_ties_even() as i32 + self.zero).clamp(0, 255) as u8
    }
}

/// Whether the AVX-512 quantiser runs here.
fn simd() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bw") && std::arch::is_x86_feature_detected!("avx512vl");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Quantises row `i` of an A of depth `k` (its values `row`) with `q` into `dst`, A's panels.
/// The bytes past `k` in the row's last step are left as they are (B is zero there).
pub fn pack_a_row(row: &[f32], i: usize, k: usize, q: Quant, dst: &mut [u8]) {
    let ks = steps(k);
    let base = (i / BLOCK) * ks * BAND_STEP + (i % BLOCK) * STEP;
    assert!(row.len() >= k, "int8 pack_a_row: {} values for a depth of {k}", row.len());
    assert!(ks == 0 || dst.len() >= base + (ks - 1) * BAND_STEP + STEP, "int8 pack_a_row: destination too short for row {i}");
    #[cfg(target_arch = "x86_64")]
    if simd() {
        // SAFETY: AVX-512F/BW/VL are present; the assertions bound the source and every slot.
        return unsafe { super::int8_dot::quantise_row(row.as_ptr(), k, q, dst.as_mut_ptr().add(base), BAND_STEP) };
    }
    quantise_row_portable(&row[..k], q, &mut dst[base..], BAND_STEP);
}

/// `x` quantised with `q` into `out` (as long), level for level as `pack_a_row` quantises: a
/// convolution's input is quantised once, and its patches gathered as levels, instead of each
/// value being quantised in every patch it falls in.
pub fn quantise(x: &[f32], q: Quant, out: &mut [u8]) {
    assert_eq!(x.len(), out.len(), "int8 quantise: {} values into {} levels", x.len(), out.len());
    #[cfg(target_arch = "x86_64")]
    if simd() {
        // SAFETY: AVX-512F/BW/VL are present; steps of 64 at a stride of 64 fill `out` exactly.
        return unsafe { super::int8_dot::quantise_row(x.as_ptr(), x.len(), q, out.as_mut_ptr(), STEP) };
    }
    quantise_row_portable(x, q, out, STEP);
}

/// Row `i` of A given as levels (`k` of them) into A's panels `dst`, where `pack_a_row` would
/// quantise it.
pub fn place_row(levels: &[u8], i: usize, k: usize, dst: &mut [u8]) {
    let ks = steps(k);
    let base = (i / BLOCK) * ks * BAND_STEP + (i % BLOCK) * STEP;
    for (s, chunk) in levels[..k].chunks(STEP).enumerate() {
        dst[base + s * BAND_STEP..][..chunk.len()].copy_from_slice(chunk);
    }
}

/// `pack_a_row` in plain Rust: `row` split into steps of 64, step `s` at `dst[s * stride..]`.
pub fn quantise_row_portable(row: &[f32], q: Quant, dst: &mut [u8], stride: usize) {
    for (s, chunk) in row.chunks(STEP).enumerate() {
        for (d, x) in dst[s * stride..][..chunk.len()].iter_mut().zip(chunk) {
            *d = q.level(*x);
        }
    }
}

/// B (`k x n`, `b[p * rs + j * cs]`) rounded per column to `i8`: the panels, each column's scale
/// (`max |w| / 127`) and each column's sum of levels.
pub struct PackedWeights {
    pub panels: Vec<i8>,
    pub scale: Vec<f32>,
    pub sum: Vec<i32>,
}

/// Packs B for the int8 kernels.
pub fn pack_b(b: &[f32], rs: usize, cs: usize, k: usize, n: usize) -> PackedWeights {
    let span = if k == 0 || n == 0 { 0 } else { (k - 1) * rs + (n - 1) * cs + 1 };
    assert!(b.len() >= span, "int8 pack_b: {} elements for a {k}x{n} view needing {span}", b.len());
    let ks = steps(k);
    let scale: Vec<f32> = (0..n)
        .map(|j| {
            let m = (0..k).map(|p| b[p * rs + j * cs].abs()).filter(|v| v.is_finite()).fold(0f32, f32::max);
            if m > 0.0 { m / 127.0 } else { 1.0 }
        })
        .collect();
    let mut panels = vec![0i8; packed_len(n, k)];
    let mut sum = vec![0i32; n];
    for j in 0..n {
        let (band, q) = (j / BLOCK, j % BLOCK);
        for p in 0..k {
            let w = b[p * rs + j * cs] / scale[j];
            let l = if w.is_nan() { 0 } else { w.round_ties_even().clamp(-127.0, 127.0) as i8 };
            let (s, pp, byte) = (p / STEP, (p % STEP) / 4, p % 4);
            panels[(band * ks + s) * BAND_STEP + pp * 4 * BLOCK + q * 4 + byte] = l;
            sum[j] += l as i32;
        }
    }
    PackedWeights { panels, scale, sum }
}

/// One block by the definition of `vpdpbusd`: `acc` (32 x 32, row stride 32) over `ks` steps of
/// the A band `a` and the B band `b`, in wrapping `i32`.
pub fn block_portable(a: &[u8], b: &[i8], ks: usize, acc: &mut [i32; BLOCK * BLOCK]) {
    acc.fill(0);
    for s in 0..ks {
        let (at, bt) = (&a[s * BAND_STEP..][..BAND_STEP], &b[s * BAND_STEP..][..BAND_STEP]);
        for r in 0..BLOCK {
            let arow = &at[r * STEP..][..STEP];
            let crow = &mut acc[r * BLOCK..][..BLOCK];
            for p in 0..STEP / 4 {
                let brow = &bt[p * 4 * BLOCK..][..4 * BLOCK];
                for (q, c) in crow.iter_mut().enumerate() {
                    let mut d = 0i32;
                    for t in 0..4 {
                        d += arow[4 * p + t] as i32 * brow[4 * q + t] as i32;
                    }
                    *c = c.wrapping_add(d);
                }
            }
        }
    }
}

super::multiversion! {
/// Stores (or adds) one row of a block's sums `acc` into `dst` as real values:
/// `(acc - zero * sum[j]) * scale[j]`, with `scale` already `s_a * s_w[j]`.
pub fn store_row(acc: &[i32], zero: i32, sum: &[i32], scale: &[f32], dst: &mut [f32], accumulate: bool) {
    for (((d, a), s), sc) in dst.iter_mut().zip(acc).zip(sum).zip(scale) {
        let v = a.wrapping_sub(zero.wrapping_mul(*s)) as f32 * sc;
        *d = if accumulate { *d + v } else { v };
    }
}
}

/// What calibration saw of one product's left operand: its range, then (on a second pass over
/// the same images) a histogram over that range, from which `Stats::quant` picks the clipping
/// that loses least.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub min: f32,
    pub max: f32,
    pub count: u64,
    /// Counts over `[lo, hi]` in `BINS` equal bins; empty on the first pass.
    pub hist: Vec<u64>,
    pub lo: f32,
    pub hi: f32,
}

/// Histogram bins of the second calibration pass.
pub const BINS: usize = 2048;

impl Stats {
    pub fn new() -> Stats {
        Stats { min: f32::INFINITY, max: f32::NEG_INFINITY, ..Stats::default() }
    }

    /// A second pass's statistics over the range this pass found.
    pub fn histogram(&self) -> Stats {
        Stats { min: self.min, max: self.max, count: 0, hist: vec![0; BINS], lo: self.min.min(0.0), hi: self.max.max(0.0) }
    }

    /// Takes in values of the operand (non-finite ones are ignored).
    pub fn observe(&mut self, xs: &[f32]) {
        if self.hist.is_empty() {
            for &x in xs.iter().filter(|x| x.is_finite()) {
                self.min = self.min.min(x);
                self.max = self.max.max(x);
            }
        } else {
            let w = (self.hi - self.lo) / BINS as f32;
            for &x in xs.iter().filter(|x| x.is_finite()) {
                let b = if w > 0.0 { ((x - self.lo) / w) as usize } else { 0 };
                self.hist[b.min(BINS - 1)] += 1;
            }
        }
        self.count += xs.len() as u64;
    }

    /// The map to `u8` with the least expected squared error over the histogram: rounding error
    /// (a level's width squared over 12) for values inside the range, the distance to the
    /// range for values clipped. The lower end stays at the observed minimum (or 0) and the
    /// upper end is searched, since what is clipped in practice is the long tail of a ReLU's
    /// large activations. Without a histogram, the whole observed range.
    pub fn quant(&self) -> Quant {
        let (lo, hi) = self.range();
        Quant::covering(lo, hi)
    }

    /// The range `quant` covers (before it is widened to hold 0).
    pub fn range(&self) -> (f32, f32) {
        if self.hist.is_empty() || self.hi <= self.lo {
            return (self.min.min(0.0), self.max.max(0.0));
        }
        let w = (self.hi - self.lo) / BINS as f32;
        let centre = |b: usize| self.lo + (b as f32 + 0.5) * w;
        let mut best = (f64::INFINITY, self.hi);
        let first = ((0.0 - self.lo) / w) as usize + 1;
        for top in (first.max(1)..=BINS).rev() {
            let hi = self.lo + top as f32 * w;
            let level = ((hi - self.lo) / 255.0) as f64;
            let mut err = 0f64;
            for (b, &n) in self.hist.iter().enumerate() {
                if n == 0 {
                    continue;
                }
                let x = centre(b) as f64;
                err += n as f64 * if x > hi as f64 { (x - hi as f64).powi(2) } else { level * level / 12.0 };
            }
            if err < best.0 {
                best = (err, hi);
            }
        }
        (self.lo, best.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_round_to_nearest_and_clamp() {
        let q = Quant::covering(0.0, 2.55);
        assert_eq!((q.zero, (q.scale * 1000.0).round()), (0, 10.0));
        assert_eq!(q.level(0.0), 0);
        assert_eq!(q.level(0.014), 1);
        assert_eq!(q.level(2.55), 255);
        assert_eq!(q.level(100.0), 255, "clipped above");
        assert_eq!(q.level(-1.0), 0, "clipped below");
        assert_eq!(q.level(f32::NAN), 0, "NaN is the lowest level");
        let s = Quant::covering(-1.0, 1.0);
        assert!((127..=128).contains(&s.zero), "zero point {} of [-1, 1]", s.zero);
        assert_eq!(s.level(0.0) as i32, s.zero);
    }

    #[test]
    fn packed_row_levels_sit_where_the_layout_says() {
        let (m, k) = (40, 130);
        let q = Quant::covering(0.0, 255.0);
        let mut dst = vec![0u8; packed_len(m, k)];
        for i in 0..m {
            let row: Vec<f32> = (0..k).map(|p| ((i * 7 + p) % 256) as f32).collect();
            pack_a_row(&row, i, k, q, &mut dst);
        }
        let ks = steps(k);
        for &(i, p) in &[(0, 0), (1, 63), (5, 64), (33, 129), (39, 100)] {
            let at = (i / BLOCK) * ks * BAND_STEP + (p / STEP) * BAND_STEP + (i % BLOCK) * STEP + p % STEP;
            assert_eq!(dst[at] as usize, (i * 7 + p) % 256, "A[{i}][{p}]");
        }
    }

    #[test]
    fn simd_quantiser_equals_portable_bit_for_bit() {
        if !simd() {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED AVX-512 int8 quantiser: this CPU has no AVX-512BW, portable compared with itself");
        }
        let mut rng = crate::rng::Rng::new(9);
        for &k in &[1, 15, 16, 17, 64, 65, 100, 3136] {
            for q in [Quant::covering(0.0, 3.0), Quant::covering(-1.5, 2.0)] {
                let mut row: Vec<f32> = (0..k).map(|_| rng.normal() as f32 * 2.0).collect();
                if k > 10 {
                    row[3] = f32::NAN;
                    row[5] = f32::INFINITY;
                    row[7] = q.scale * 2.5; // a tie: rounds to even
                }
                let (mut fast, mut slow) = (vec![7u8; packed_len(1, k)], vec![7u8; packed_len(1, k)]);
                pack_a_row(&row, 0, k, q, &mut fast);
                quantise_row_portable(&row, q, &mut slow, BAND_STEP);
                assert_eq!(fast, slow, "k {k} {q:?}");
            }
        }
    }

    #[test]
    fn weights_round_per_column_and_sum() {
        // Column 0 spans +-1 (scale 1/127), column 1 is zero (scale 1), column 2 spans 254.
        let (k, n) = (3, 3);
        let b = [1.0, 0.0, 254.0, -1.0, 0.0, 127.0, 0.5, 0.0, -254.0];
        let p = pack_b(&b, n, 1, k, n);
        assert_eq!(p.scale, vec![1.0 / 127.0, 1.0, 2.0]);
        assert_eq!(p.sum, vec![127 - 127 + 64, 0, 127 + 64 - 127]);
        assert_eq!(p.panels[0], 127, "B[0][0]");
        assert_eq!(p.panels[1], -127, "B[1][0], the next byte of the same lane");
        assert_eq!(p.panels[2 * 4 + 2], -127, "B[2][2]");
        assert_eq!(p.panels[3], 0, "depth past k");
    }

    #[test]
    fn calibration_clips_where_the_squared_error_is_least() {
        // A million values in [0, 1] and one at 100: covering 100 would waste 99% of the levels.
        // The squared error 1e6 h^2 / (12 * 255^2) + (100 - h)^2 is least at h = 43.8.
        let mut rng = crate::rng::Rng::new(3);
        let mut xs: Vec<f32> = (0..1_000_000).map(|_| rng.uniform() as f32).collect();
        xs.push(100.0);
        let mut s = Stats::new();
        s.observe(&xs);
        let mut h = s.histogram();
        h.observe(&xs);
        let q = h.quant();
        let hi = q.scale * (255 - q.zero) as f32;
        assert!((42.0..46.0).contains(&hi), "clipped at {hi}");
        // Values spread evenly up to 100 keep the whole range.
        let ys: Vec<f32> = (0..100_000).map(|i| i as f32 / 1000.0).collect();
        let mut s = Stats::new();
        s.observe(&ys);
        let mut h = s.histogram();
        h.observe(&ys);
        let hi = h.quant().scale * 255.0;
        assert!(hi > 95.0, "clipped an even spread at {hi}");
    }
}
