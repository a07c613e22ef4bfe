//! Every GEMM kernel (GEMM-crate `f32`, portable bf16, `vdpbf16ps` and AMX bf16 where this CPU
//! has them; the others are named as skipped on stderr, which the harness does not hide) against a
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
use siamface::engine::gemm::{matmul_on, matmul_packed, Cap, Cpu, Kernel, Op, PackedB, Par, Precision};
use siamface::rng::Rng;

const EDGES: &[usize] = &[1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100];

/// The kernels this CPU runs. Each one it cannot run is named on the process's stderr directly
/// (not through `eprintln!`, which the harness captures), so a run's output says what went
/// unchecked.
fn kernels_here() -> Vec<Kernel> {
    crate::common::kernels_that_run(&[Kernel::F32, Kernel::Bf16Portable, Kernel::Bf16Avx512, Kernel::Bf16Amx])
}

/// The flag `flag` on /proc/cpuinfo's first flags line: the CPU's own report, independent of the
/// engine's detection.
fn cpuinfo_has(flag: &str) -> bool {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    cpuinfo.lines().filter(|l| l.starts_with("flags")).take(1).any(|l| l.split_whitespace().any(|f| f == flag))
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
fn the_ladder_picks_the_fastest_kernel_the_cpu_has_and_the_cap_allows() {
    let all = Cpu { amx: true, avx512bf16: true, avx512vnni: true };
    let bf16_only = Cpu { amx: false, avx512bf16: true, avx512vnni: false };
    let none = Cpu { amx: false, avx512bf16: false, avx512vnni: false };
    let zen4 = Cpu { amx: false, avx512bf16: true, avx512vnni: true };
    assert_eq!(Kernel::select(Precision::Int8, all, Cap::Amx), Kernel::Int8Vnni);
    assert_eq!(Kernel::select(Precision::Int8, zen4, Cap::Avx512Bf16), Kernel::Int8Vnni);
    assert_eq!(Kernel::select(Precision::Int8, zen4, Cap::F32), Kernel::F32, "f32 cap: no int8 either");
    assert_eq!(Kernel::select(Precision::Int8, bf16_only, Cap::Amx), Kernel::Bf16Avx512, "no VNNI: int8 runs as bf16");
    assert_eq!(Kernel::select(Precision::Int8, none, Cap::Amx), Kernel::F32);
    assert_eq!(Kernel::select(Precision::F32, all, Cap::Amx), Kernel::F32);
    assert_eq!(Kernel::select(Precision::Bf16, all, Cap::Amx), Kernel::Bf16Amx);
    assert_eq!(Kernel::select(Precision::Bf16, all, Cap::Avx512Bf16), Kernel::Bf16Avx512);
    assert_eq!(Kernel::select(Precision::Bf16, all, Cap::F32), Kernel::F32);
    assert_eq!(Kernel::select(Precision::Bf16, bf16_only, Cap::Amx), Kernel::Bf16Avx512);
    assert_eq!(Kernel::select(Precision::Bf16, none, Cap::Amx), Kernel::F32, "no bf16 unit: f32");
}

#[test]
fn kernels_run_exactly_where_cpuinfo_shows_their_instructions() {
    // Against the CPU's own report (/proc/cpuinfo), not the engine's detection.
    let amx_cpu = cpuinfo_has("amx_bf16") && cpuinfo_has("amx_tile");
    assert_eq!(Kernel::Bf16Avx512.runs_here(), cpuinfo_has("avx512_bf16"), "vdpbf16ps kernel vs cpuinfo");
    assert_eq!(Kernel::Int8Vnni.runs_here(), cpuinfo_has("avx512_vnni") && cpuinfo_has("avx512bw"), "vpdpbusd kernel vs cpuinfo");
    // The tiles also need the kernel to grant their state, so cpuinfo is necessary, not enough.
    assert!(!Kernel::Bf16Amx.runs_here() || amx_cpu, "AMX kernel runs, cpuinfo shows no AMX");
    let cap = Cap::parse(std::env::var_os("SIAMFACE_KERNELS").as_deref()).expect("SIAMFACE_KERNELS");
    let want = if amx::supported() && cap >= Cap::Amx {
        Kernel::Bf16Amx
    } else if cpuinfo_has("avx512_bf16") && cap >= Cap::Avx512Bf16 {
        Kernel::Bf16Avx512
    } else {
        Kernel::F32
    };
    assert_eq!(Kernel::for_precision(Precision::Bf16), want, "bf16 here (cap {cap:?})");
    let int8 = if cpuinfo_has("avx512_vnni") && cpuinfo_has("avx512bw") && cap >= Cap::Avx512Bf16 { Kernel::Int8Vnni } else { Kernel::for_precision(Precision::Bf16) };
    assert_eq!(Kernel::for_precision(Precision::Int8), int8, "int8 here (cap {cap:?})");
    assert_eq!(Kernel::for_precision(Precision::F32), Kernel::F32);
    for k in [Kernel::Bf16Avx512, Kernel::Bf16Amx] {
        if !k.runs_here() {
            let refused = std::panic::catch_unwind(|| {
                let mut c = [0f32; 1];
                matmul_on(k, Op::n(&[1.0]), Op::n(&[1.0]), &mut c, 1, 1, 1, 1, false, Par::One);
            });
            assert!(refused.is_err(), "{} ran on a machine that does not have it", k.name());
        }
    }
}

#[test]
fn kernel_switch_reads_the_environment_value() {
    use std::ffi::OsStr;
    assert_eq!(Cap::parse(None), Ok(Cap::Amx));
    for (v, cap) in [("auto", Cap::Amx), ("", Cap::Amx), ("amx", Cap::Amx), ("avx512bf16", Cap::Avx512Bf16), ("f32", Cap::F32), (" f32 ", Cap::F32)] {
        assert_eq!(Cap::parse(Some(OsStr::new(v))), Ok(cap), "{v:?}");
    }
    let err = Cap::parse(Some(OsStr::new("bf16"))).unwrap_err();
    assert!(err.contains("SIAMFACE_KERNELS=bf16") && err.contains("avx512bf16"), "{err}");
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

/// A right operand wider than one group of 16 bands and deeper than one packing pass (the
/// packer walks groups of bands a few steps of depth at a time), stored either way and strided.
#[test]
fn wide_and_deep_packed_weights_give_the_same_product_bit_for_bit() {
    let mut rng = Rng::new(17);
    let kernels: Vec<Kernel> = kernels_here().into_iter().filter(|k| *k != Kernel::F32).collect();
    for (bt, pad_b) in [(false, 0), (true, 3), (false, 5)] {
        let case = Case { m: 7, n: 1100, k: 200, at: false, bt, pad_a: 0, pad_b, accumulate: false, par: Par::Many(2) };
        let (a, b, c0) = case.operands(&mut rng, |r| r.normal() as f32);
        for &kernel in &kernels {
            let want = case.run(kernel, &a, &b, &c0);
            let bo = Op { data: &b, t: case.bt, stride: Some(case.b_store().2) };
            let ao = Op { data: &a, t: case.at, stride: Some(case.a_store().2) };
            for packed in [PackedB::new(bo, case.k, case.n, kernel), PackedB::new_parallel(bo, case.k, case.n, kernel)] {
                let mut got = c0.clone();
                matmul_packed(ao, &packed, &mut got, case.n, case.m, case.accumulate, case.par);
                assert_eq!(got, want, "{}", case.name(kernel));
            }
        }
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
fn packed_weights_only_where_bf16_runs_on_a_bf16_kernel() {
    let w = [1.0f32, 2.0, 3.0, 4.0];
    assert!(PackedB::for_precision(Op::n(&w), 2, 2, Precision::F32).is_none());
    assert_eq!(PackedB::for_precision(Op::n(&w), 2, 2, Precision::Bf16).is_some(), Kernel::for_precision(Precision::Bf16) != Kernel::F32);
}
