//! The int8 kernels (the portable one, which follows `vpdpbusd`'s definition, everywhere; the
//! VNNI one where this CPU has it, else named as skipped on stderr) against an `f64` product, on
//! seeded random shapes with the panel edges drawn often, orientations, strides, thread counts,
//! and both ways of giving A (a matrix, or row by row as a convolution's patches).
//!
//! - Integer operands whose quantisation is exact (A in -128..=127 with scale 1 and zero point
//!   128, or 0..=255 with zero point 0; each column of B reaching +-127, so its scale is 1): every
//!   kernel must give the exact product, so any packing, zero-point or store slip shows.
//! - Real operands: within the rounding bound. A is rounded to levels of `s_a`, column `j` of B to
//!   levels of `s_w[j]`, each by at most half a level, so a term `a w` errs by at most
//!   `|a| s_w / 2 + |w| s_a / 2 + s_a s_w / 4`; the integer sums are exact, and the final scaling
//!   and the `f32` accumulation add a few units of 2^-24 relative.
//! - The kernels agree bit for bit (their integer sums are the same numbers).
use siamface::engine::gemm::{matmul_packed, matmul_rows_packed, Kernel, Op, PackedB, Par};
use siamface::engine::int8::Quant;
use siamface::rng::Rng;

const EDGES: &[usize] = &[1, 2, 3, 4, 5, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 129];

fn int8_kernels_here() -> Vec<Kernel> {
    crate::common::kernels_that_run(&[Kernel::Int8Portable, Kernel::Int8Vnni])
}

struct Case {
    m: usize,
    n: usize,
    k: usize,
    at: bool,
    bt: bool,
    pad: usize,
    accumulate: bool,
    par: Par,
}

impl Case {
    fn random(rng: &mut Rng) -> Case {
        let dim = |rng: &mut Rng| if rng.uniform() < 0.7 { EDGES[rng.below(EDGES.len())] } else { 1 + rng.below(200) };
        Case {
            m: dim(rng),
            n: dim(rng),
            k: dim(rng),
            at: rng.below(2) == 1,
            bt: rng.below(2) == 1,
            pad: if rng.below(3) == 0 { rng.below(5) } else { 0 },
            accumulate: rng.below(2) == 1,
            par: if rng.below(3) == 0 { Par::Many(1 + rng.below(4)) } else { Par::One },
        }
    }
    fn name(&self, k: Kernel) -> String {
        format!("{} m{} n{} k{} at{} bt{} pad{} acc{} {:?}", k.name(), self.m, self.n, self.k, self.at, self.bt, self.pad, self.accumulate, self.par)
    }
    /// A (`m x k`) stored as the case says, from its logical values.
    fn store_a(&self, a: &[f32]) -> (Vec<f32>, usize) {
        let (r, c) = if self.at { (self.k, self.m) } else { (self.m, self.k) };
        let ld = c + self.pad;
        let mut s = vec![f32::NAN; r * ld];
        for i in 0..self.m {
            for p in 0..self.k {
                s[if self.at { p * ld + i } else { i * ld + p }] = a[i * self.k + p];
            }
        }
        (s, ld)
    }
    fn store_b(&self, b: &[f32]) -> (Vec<f32>, usize) {
        let (r, c) = if self.bt { (self.n, self.k) } else { (self.k, self.n) };
        let ld = c + self.pad;
        let mut s = vec![f32::NAN; r * ld];
        for p in 0..self.k {
            for j in 0..self.n {
                s[if self.bt { j * ld + p } else { p * ld + j }] = b[p * self.n + j];
            }
        }
        (s, ld)
    }

    /// The product through `PackedB::int8`, with A given whole (`matmul_packed`) and row by row
    /// (`matmul_rows_packed`, which has no accumulating form: compared before accumulation).
    fn run(&self, kernel: Kernel, a: &[f32], b: &[f32], c0: &[f32], q: Quant) -> (Vec<f32>, Vec<f32>) {
        let (sa, lda) = self.store_a(a);
        let (sb, ldb) = self.store_b(b);
        let packed = PackedB::int8(Op { data: &sb, t: self.bt, stride: Some(ldb) }, self.k, self.n, kernel, q);
        let mut whole = c0.to_vec();
        matmul_packed(Op { data: &sa, t: self.at, stride: Some(lda) }, &packed, &mut whole, self.n, self.m, self.accumulate, self.par);
        let mut rows = vec![f32::NAN; self.m * self.n];
        let mut buf = vec![0f32; self.k];
        matmul_rows_packed(self.m, &packed, &mut buf, |i, row| row.copy_from_slice(&a[i * self.k..][..self.k]), &mut rows, self.n, self.par);
        if self.accumulate {
            rows.iter_mut().zip(c0).for_each(|(r, c)| *r += c);
        }
        (whole, rows)
    }
}

#[test]
fn integer_operands_multiply_exactly_on_every_int8_kernel() {
    let kernels = int8_kernels_here();
    let mut rng = Rng::new(21);
    for t in 0..60 {
        let case = Case::random(&mut rng);
        let signed = t % 2 == 0;
        let (q, lo) = if signed { (Quant::covering(-128.0, 127.0), -128i64) } else { (Quant::covering(0.0, 255.0), 0) };
        assert_eq!((q.scale, q.zero), (1.0, if signed { 128 } else { 0 }));
        let a: Vec<f32> = (0..case.m * case.k).map(|_| (lo + rng.below(256) as i64) as f32).collect();
        let mut b: Vec<f32> = (0..case.k * case.n).map(|_| rng.below(255) as f32 - 127.0).collect();
        for j in 0..case.n {
            b[j] = if j % 2 == 0 { 127.0 } else { -127.0 };
        }
        let c0: Vec<f32> = (0..case.m * case.n).map(|_| rng.below(100) as f32).collect();
        let mut want = vec![0f64; case.m * case.n];
        for i in 0..case.m {
            for j in 0..case.n {
                let s: f64 = (0..case.k).map(|p| a[i * case.k + p] as f64 * b[p * case.n + j] as f64).sum();
                want[i * case.n + j] = s + if case.accumulate { c0[i * case.n + j] as f64 } else { 0.0 };
            }
        }
        let want: Vec<f32> = want.iter().map(|v| *v as f32).collect();
        for &kernel in &kernels {
            let (whole, rows) = case.run(kernel, &a, &b, &c0, q);
            assert_eq!(whole, want, "{} (A whole)", case.name(kernel));
            assert_eq!(rows, want, "{} (A row by row)", case.name(kernel));
        }
    }
}

#[test]
fn real_operands_stay_within_the_rounding_bound_and_kernels_agree_bit_for_bit() {
    let kernels = int8_kernels_here();
    let mut rng = Rng::new(22);
    let mut worst = 0f64;
    for t in 0..40 {
        let case = Case::random(&mut rng);
        // ReLU-like activations half the time (zero point 0), signed ones otherwise.
        let relu = t % 2 == 0;
        let a: Vec<f32> = (0..case.m * case.k).map(|_| { let v = rng.normal() as f32; if relu { v.max(0.0) } else { v } }).collect();
        let b: Vec<f32> = (0..case.k * case.n).map(|_| rng.normal() as f32 * 0.1).collect();
        let c0: Vec<f32> = (0..case.m * case.n).map(|_| rng.normal() as f32).collect();
        let (lo, hi) = a.iter().fold((0f32, 0f32), |(l, h), v| (l.min(*v), h.max(*v)));
        let q = Quant::covering(lo, hi);
        let sw: Vec<f64> = (0..case.n).map(|j| (0..case.k).map(|p| b[p * case.n + j].abs()).fold(0f32, f32::max) as f64 / 127.0).collect();
        let mut first: Option<Vec<f32>> = None;
        for &kernel in &kernels {
            let (whole, rows) = case.run(kernel, &a, &b, &c0, q);
            assert_eq!(whole, rows, "{}: A whole vs row by row", case.name(kernel));
            for i in 0..case.m {
                for j in 0..case.n {
                    let (mut s, mut bound, mut size) = (0f64, 0f64, 0f64);
                    for p in 0..case.k {
                        let (x, w) = (a[i * case.k + p] as f64, b[p * case.n + j] as f64);
                        s += x * w;
                        size += (x * w).abs();
                        bound += x.abs() * sw[j] / 2.0 + w.abs() * q.scale as f64 / 2.0 + q.scale as f64 * sw[j] / 4.0;
                    }
                    let c = if case.accumulate { c0[i * case.n + j] as f64 } else { 0.0 };
                    let bound = bound * 1.0001 + 8.0 * 2f64.powi(-24) * (size + bound + c.abs()) + 1e-30;
                    let err = (whole[i * case.n + j] as f64 - (s + c)).abs();
                    assert!(err <= bound, "{} at ({i}, {j}): error {err:e} > bound {bound:e}", case.name(kernel));
                    worst = worst.max(err / bound);
                }
            }
            match &first {
                None => first = Some(whole),
                Some(f) => assert_eq!(&whole, f, "{}: differs from {}", case.name(kernel), kernels[0].name()),
            }
        }
    }
    // The kernels really round: an error far below the bound everywhere would mean f32 operands.
    assert!(worst > 0.01, "int8 errors at most {worst} of the bound: operands not rounded?");
}

#[test]
fn an_int8_kernel_the_cpu_lacks_is_refused() {
    for k in [Kernel::Int8Vnni] {
        if !k.runs_here() {
            let refused = std::panic::catch_unwind(|| PackedB::int8(Op::n(&[1.0]), 1, 1, k, Quant::covering(0.0, 1.0)));
            assert!(refused.is_err(), "{} packed on a machine that does not have it", k.name());
        }
    }
    let bf16 = std::panic::catch_unwind(|| PackedB::int8(Op::n(&[1.0]), 1, 1, Kernel::Bf16Portable, Quant::covering(0.0, 1.0)));
    assert!(bf16.is_err(), "int8 panels for a bf16 kernel");
}
