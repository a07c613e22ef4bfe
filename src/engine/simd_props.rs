//! Property tests: every `multiversion!` kernel gives the same bits from its AVX-512 build as
//! from its portable build, on many random shapes (odd lengths, so the vector loops' tails run)
//! and values (negative, zero, ties, large). Rust does not contract or reassociate float
//! arithmetic, so anything but bit-equality is a fault of the SIMD build. Each case is drawn from
//! a seed that the failure message names.
use std::cell::Cell;

use crate::rng::Rng;

thread_local! {
    static PORTABLE: Cell<bool> = const { Cell::new(false) };
}

/// Whether `multiversion!` functions on this thread run their portable build.
pub fn portable_only() -> bool {
    PORTABLE.with(Cell::get)
}

/// `f` run once as dispatched (AVX-512 where the CPU has it) and once portable. Without AVX-512
/// both runs are portable, and the comparison says nothing: that is named on the process's
/// stderr (which the test harness does not capture), not passed in silence.
fn both<T>(mut f: impl FnMut() -> T) -> (T, T) {
    #[cfg(target_arch = "x86_64")]
    let simd = std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bw");
    #[cfg(not(target_arch = "x86_64"))]
    let simd = false;
    if !simd {
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED AVX-512 builds of the element-wise kernels: this CPU has no AVX-512, portable compared with itself");
        });
    }
    let fast = f();
    PORTABLE.with(|p| p.set(true));
    let slow = f();
    PORTABLE.with(|p| p.set(false));
    (fast, slow)
}

const CASES: u64 = 300;

/// Values with ties, zeros, negatives and a few large ones.
fn values(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| match rng.below(10) {
            0 => 0.0,
            1 => 0.5,
            2 => (rng.normal() * 1e4) as f32,
            _ => rng.normal() as f32,
        })
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn check(name: &str, seed: u64, fast: &[f32], slow: &[f32]) {
    assert_eq!(bits(fast), bits(slow), "{name}: SIMD and portable builds differ (seed {seed})");
}

#[test]
fn elementwise_kernels_match_their_portable_builds() {
    use super::{act, optim};
    for seed in 0..CASES {
        let mut rng = Rng::new(seed);
        let (rows, c) = (1 + rng.below(9), 1 + rng.below(70));
        let x = values(&mut rng, rows * c);
        let b = values(&mut rng, c);
        let (f, s) = both(|| {
            let mut y = x.clone();
            act::bias_relu(&mut y, &b);
            y
        });
        check("bias_relu", seed, &f, &s);
        let dy = values(&mut rng, x.len());
        let (f, s) = both(|| {
            let mut d = dy.clone();
            act::relu_backward(&x, &mut d);
            d
        });
        check("relu_backward", seed, &f, &s);
        let (f, s) = both(|| {
            let mut y = x.clone();
            act::sigmoid(&mut y);
            y
        });
        check("sigmoid", seed, &f, &s);
        let (f, s) = both(|| {
            let mut d = dy.clone();
            act::sigmoid_backward(&x, &mut d);
            d
        });
        check("sigmoid_backward", seed, &f, &s);
        let n = x.len();
        let (g, m0, v0) = (values(&mut rng, n), values(&mut rng, n), values(&mut rng, n).iter().map(|v| v.abs()).collect::<Vec<_>>());
        let (f, s) = both(|| {
            let (mut p, mut m, mut v) = (x.clone(), m0.clone(), v0.clone());
            optim::adam(&mut p, &g, &mut m, &mut v, 1e-3, 0.9, 0.999, 1e-7);
            [p, m, v].concat()
        });
        check("adam", seed, &f, &s);
        let (f, s) = both(|| {
            let (mut p, mut vel) = (x.clone(), m0.clone());
            optim::sgd(&mut p, &g, &mut vel, 0.01, 0.5, 2e-4);
            [p, vel].concat()
        });
        check("sgd", seed, &f, &s);
    }
}

#[test]
fn reductions_and_products_match_their_portable_builds() {
    for seed in 0..CASES {
        let mut rng = Rng::new(1000 + seed);
        let d = 1 + rng.below(300);
        let (u, v, a) = (values(&mut rng, d), values(&mut rng, d), values(&mut rng, d));
        let (f, s) = both(|| super::head::weighted_l1(&u, &v, &a));
        check("weighted_l1", seed, &[f], &[s]);
        let (k, n) = (1 + rng.below(37), 1 + rng.below(70));
        let (xs, ws, acc0) = (values(&mut rng, k), values(&mut rng, k * n), values(&mut rng, n));
        let (f, s) = both(|| {
            let mut acc = acc0.clone();
            super::linear::gemv_acc(&xs, &ws, &mut acc);
            acc
        });
        check("gemv_acc", seed, &f, &s);
    }
}

#[test]
fn pooling_and_col2im_match_their_portable_builds() {
    use super::{conv, pool};
    for seed in 0..CASES {
        let mut rng = Rng::new(2000 + seed);
        let (h, w, c) = (1 + rng.below(9), 1 + rng.below(9), 1 + rng.below(40));
        // Ties within windows are common: values drawn from a few levels.
        let x: Vec<f32> = (0..h * w * c).map(|_| (rng.below(5) as f32 - 2.0) * 0.5).collect();
        let b = values(&mut rng, c);
        let out_len = pool::out_size(h) * pool::out_size(w) * c;
        let (f, s) = both(|| {
            let (mut out, mut arg) = (vec![0f32; out_len], vec![0u8; out_len]);
            pool::bias_relu_max_forward(&x, &b, h, w, &mut out, &mut arg);
            (out, arg)
        });
        check("bias_relu_max_forward", seed, &f.0, &s.0);
        assert_eq!(f.1, s.1, "bias_relu_max_forward argmax (seed {seed})");
        let dout = values(&mut rng, out_len);
        let (f2, s2) = both(|| {
            let mut dx = vec![0f32; h * w * c];
            pool::relu_max_backward(&dout, &f.1, h, w, c, &mut dx);
            dx
        });
        check("relu_max_backward", seed, &f2, &s2);
        let (kh, kw) = (1 + rng.below(h), 1 + rng.below(w));
        let shape = conv::Shape { h, w, c, kh, kw, k: 1 };
        let rows = shape.oh() * shape.ow();
        let dcol = values(&mut rng, rows * shape.patch());
        let dx0 = values(&mut rng, h * w * c);
        let (f3, s3) = both(|| {
            let mut dx = dx0.clone();
            conv::col2im_add(&dcol, &shape, 0, rows, &mut dx);
            dx
        });
        check("col2im_add", seed, &f3, &s3);
        let (f4, s4) = both(|| {
            let mut sums = dx0[..c].to_vec();
            conv::sum_rows(&dcol[..rows * c], c, &mut sums);
            sums
        });
        check("sum_rows", seed, &f4, &s4);
    }
}
