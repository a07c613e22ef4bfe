//! Every GEMM kernel (GEMM-crate `f32`, portable bf16, AMX bf16 where this CPU has it) against a
//! naive `f64` product on seeded random shapes, orientations, strides and thread counts, with the
//! edges of the tile panels (1, 15, 16, 17, 31, 32, 33, ...) drawn often.
//!
//! Two checks per case:
//! - small integers (|v| <= 8, exact in bf16, every partial sum exact in `f32`): every kernel must
//!   match exactly, so any packing, padding or store slip shows;
//! - normal random values: within the kernel's rounding bound. For bf16 each operand is rounded to
//!   8 significant bits, relative error u = 2^-8 at most, so a product of two errs by at most
//!   2u + u^2 = 2^-7 + 2^-16 relative; the product of two bf16 values is exact in `f32` (16 <= 24
//!   significant bits), and `f32` accumulation of k terms adds at most (k + 1) 2^-24 relative. So
//!   |got - want| <= (2^-7 + 2^-16) S + (k + 1) 2^-24 (S + |c0|), S = sum_p |a_ip b_pj|.
//!   For `f32` operands the first term is 0.
use siamface::engine::amx;
use siamface::engine::gemm::{matmul_on, matmul_packed, Kernel, Op, PackedB, Par, Precision};
use siamface::rng::Rng;

const EDGES: &[usize] = &[1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100];

fn kernels_here() -> Vec<Kernel> {
    let all = [Kernel::F32, Kernel::Bf16Portable, Kernel::Bf16Amx];
    let here: Vec<Kernel> = all.into_iter().filter(|k| k.runs_here()).collect();
    if !here.contains(&Kernel::Bf16Amx) {
        eprintln!("gemm_kernels: this CPU has no usable AMX; Bf16Amx is checked to be refused instead");
    }
    here
}

struct Case {
    m: usize,
    n: usize,
    k: usize,
    at: bool,
    bt: bool,
    /// Extra elements at the end of each stored row of A and B (strided operands).
    pad_a: usize,
    pad_b: usize,
    accumulate: bool,
    par: Par,
}

impl Case {
    fn random(rng: &mut Rng) -> Case {
        let dim = |rng: &mut Rng| if rng.uniform() < 0.7 { EDGES[rng.below(EDGES.len())] } else { 1 + rng.below(140) };
        let (m, n, k) = (dim(rng), dim(rng), dim(rng));
        Case {
            m,
            n,
            k,
            at: rng.below(2) == 1,
            bt: rng.below(2) == 1,
            pad_a: if rng.below(3) == 0 { rng.below(5) } else { 0 },
            pad_b: if rng.below(3) == 0 { rng.below(5) } else { 0 },
            accumulate: rng.below(2) == 1,
            par: if rng.below(3) == 0 { Par::Many(1 + rng.below(4)) } else { Par::One },
        }
    }

    /// Stored (rows, cols, leading dimension) of A and of B.
    fn a_store(&self) -> (usize, usize, usize) {
        let (r, c) = if self.at { (self.k, self.m) } else { (self.m, self.k) };
        (r, c, c + self.pad_a)
    }
    fn b_store(&self) -> (usize, usize, usize) {
        let (r, c) = if self.bt { (self.n, self.k) } else { (self.k, self.n) };
        (r, c, c + self.pad_b)
    }
    fn a(&self, a: &[f32], i: usize, p: usize) -> f64 {
        let ld = self.a_store().2;
        (if self.at { a[p * ld + i] } else { a[i * ld + p] }) as f64
    }
    fn b(&self, b: &[f32], p: usize, j: usize) -> f64 {
        let ld = self.b_store().2;
        (if self.bt { b[j * ld + p] } else { b[p * ld + j] }) as f64
    }

    /// `(c0 + a b, sum |a b|)` for every output, in `f64`.
    fn reference(&self, a: &[f32], b: &[f32], c0: &[f32]) -> (Vec<f64>, Vec<f64>) {
        let (mut want, mut size) = (vec![0f64; self.m * self.n], vec![0f64; self.m * self.n]);
        for i in 0..self.m {
            for j in 0..self.n {
                let (mut s, mut abs) = (0f64, 0f64);
                for p in 0..self.k {
                    let t = self.a(a, i, p) * self.b(b, p, j);
                    s += t;
                    abs += t.abs();
                }
                want[i * self.n + j] = s + if self.accumulate { c0[i * self.n + j] as f64 } else { 0.0 };
                size[i * self.n + j] = abs;
            }
        }
        (want, size)
    }

    fn run(&self, kernel: Kernel, a: &[f32], b: &[f32], c0: &[f32]) -> Vec<f32> {
        let mut c = c0.to_vec();
        let ao = Op { data: a, t: self.at, stride: Some(self.a_store().2) };
        let bo = Op { data: b, t: self.bt, stride: Some(self.b_store().2) };
        matmul_on(kernel, ao, bo, &mut c, self.n, self.m, self.n, self.k, self.accumulate, self.par);
        c
    }

    fn operands(&self, rng: &mut Rng, mut value: impl FnMut(&mut Rng) -> f32) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let ((ar, _, lda), (br, _, ldb)) = (self.a_store(), self.b_store());
        let a = (0..ar * lda).map(|_| value(rng)).collect();
        let b = (0..br * ldb).map(|_| value(rng)).collect();
        let c0 = (0..self.m * self.n).map(|_| value(rng)).collect();
        (a, b, c0)
    }

    fn name(&self, kernel: Kernel) -> String {
        format!("{kernel:?} m{} n{} k{} at{} bt{} pad{}/{} acc{} {:?}", self.m, self.n, self.k, self.at, self.bt, self.pad_a, self.pad_b, self.accumulate, self.par)
    }
}

#[test]
fn every_kernel_exact_on_small_integers() {
    let mut rng = Rng::new(11);
    let kernels = kernels_here();
    for _ in 0..120 {
        let case = Case::random(&mut rng);
        let (a, b, c0) = case.operands(&mut rng, |r| r.below(17) as f32 - 8.0);
        let (want, _) = case.reference(&a, &b, &c0);
        for &kernel in &kernels {
            let got = case.run(kernel, &a, &b, &c0);
            for (idx, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(*g as f64, *w, "{} at ({}, {})", case.name(kernel), idx / case.n, idx % case.n);
            }
        }
    }
}

#[test]
fn every_kernel_within_its_rounding_bound_on_normal_values() {
    let mut rng = Rng::new(12);
    let kernels = kernels_here();
    let mut worst_bf16 = 0f64;
    for _ in 0..120 {
        let case = Case::random(&mut rng);
        let (a, b, c0) = case.operands(&mut rng, |r| r.normal() as f32);
        let (want, size) = case.reference(&a, &b, &c0);
        for &kernel in &kernels {
            let operand = if kernel == Kernel::F32 { 0.0 } else { 2f64.powi(-7) + 2f64.powi(-16) };
            let got = case.run(kernel, &a, &b, &c0);
            for (idx, (g, w)) in got.iter().zip(&want).enumerate() {
                let c = if case.accumulate { (c0[idx] as f64).abs() } else { 0.0 };
                let bound = operand * size[idx] + (case.k + 1) as f64 * 2f64.powi(-24) * (size[idx] + c);
                let err = (*g as f64 - w).abs();
                assert!(err <= bound, "{} at {idx}: got {g}, want {w}, error {err:e} > bound {bound:e}", case.name(kernel));
                if kernel != Kernel::F32 && size[idx] > 0.0 {
                    worst_bf16 = worst_bf16.max(err / size[idx]);
                }
            }
        }
    }
    // The bf16 kernels really round their operands: an error far below bf16's would mean they
    // multiplied the f32 values instead.
    assert!(worst_bf16 > 2f64.powi(-12), "bf16 kernels err at most {worst_bf16:e} relative: operands not rounded?");
}

#[test]
fn amx_kernel_runs_only_where_detected_and_permitted() {
    assert_eq!(Kernel::select(Precision::F32, true), Kernel::F32);
    assert_eq!(Kernel::select(Precision::Bf16, false), Kernel::F32, "no AMX: bf16 falls back to the f32 kernel");
    assert_eq!(Kernel::select(Precision::Bf16, true), Kernel::Bf16Amx);
    // Against the kernel's own report of this CPU (/proc/cpuinfo), not against amx::enabled(),
    // which is what for_precision is made of.
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_has = cpuinfo.lines().filter(|l| l.starts_with("flags")).any(|l| l.split_whitespace().any(|f| f == "amx_bf16") && l.split_whitespace().any(|f| f == "amx_tile"));
    let allowed = !amx::disabled_by(std::env::var_os(amx::DISABLE_ENV).as_deref());
    assert_eq!(Kernel::for_precision(Precision::Bf16) == Kernel::Bf16Amx, cpu_has && allowed, "cpuinfo says AMX {cpu_has}, allowed {allowed}");
    assert!(!amx::enabled() || amx::supported(), "enabled only where supported");
    if amx::disabled_by(std::env::var_os(amx::DISABLE_ENV).as_deref()) {
        assert!(!amx::enabled(), "{} is set, yet AMX is enabled", amx::DISABLE_ENV);
    }
    if !amx::supported() {
        assert!(!Kernel::Bf16Amx.runs_here());
        let refused = std::panic::catch_unwind(|| {
            let mut c = [0f32; 1];
            matmul_on(Kernel::Bf16Amx, Op::n(&[1.0]), Op::n(&[1.0]), &mut c, 1, 1, 1, 1, false, Par::One);
        });
        assert!(refused.is_err(), "the AMX kernel ran on a machine that does not support it");
    }
}

#[test]
fn amx_switch_reads_the_environment_value() {
    use std::ffi::OsStr;
    assert!(!amx::disabled_by(None));
    assert!(!amx::disabled_by(Some(OsStr::new(""))));
    assert!(!amx::disabled_by(Some(OsStr::new("0"))));
    assert!(amx::disabled_by(Some(OsStr::new("1"))));
    assert!(amx::disabled_by(Some(OsStr::new("yes"))));
}

#[test]
fn zero_sized_products_touch_nothing_or_clear() {
    for kernel in kernels_here() {
        let mut c = vec![5f32; 6];
        matmul_on(kernel, Op::n(&[]), Op::n(&[]), &mut c, 3, 2, 3, 0, true, Par::One);
        assert_eq!(c, [5.0; 6], "{kernel:?} k = 0 accumulating");
        matmul_on(kernel, Op::n(&[]), Op::n(&[]), &mut c, 3, 2, 3, 0, false, Par::One);
        assert_eq!(c, [0.0; 6], "{kernel:?} k = 0 overwriting");
    }
}

#[test]
fn packed_weights_give_the_same_product_bit_for_bit() {
    let mut rng = Rng::new(13);
    let kernels: Vec<Kernel> = kernels_here().into_iter().filter(|k| *k != Kernel::F32).collect();
    for _ in 0..40 {
        let case = Case::random(&mut rng);
        let (a, b, c0) = case.operands(&mut rng, |r| r.normal() as f32);
        for &kernel in &kernels {
            let want = case.run(kernel, &a, &b, &c0);
            let bo = Op { data: &b, t: case.bt, stride: Some(case.b_store().2) };
            let packed = PackedB::new(bo, case.k, case.n, kernel);
            let ao = Op { data: &a, t: case.at, stride: Some(case.a_store().2) };
            // Twice: the packed operand is reused, never consumed.
            for _ in 0..2 {
                let mut got = c0.clone();
                matmul_packed(ao, &packed, &mut got, case.n, case.m, case.accumulate, case.par);
                assert_eq!(got, want, "{}", case.name(kernel));
            }
        }
    }
}

#[test]
fn packed_weights_only_where_bf16_runs_on_tiles() {
    let w = [1.0f32, 2.0, 3.0, 4.0];
    assert!(PackedB::for_precision(Op::n(&w), 2, 2, Precision::F32).is_none());
    assert_eq!(PackedB::for_precision(Op::n(&w), 2, 2, Precision::Bf16).is_some(), amx::enabled());
}
