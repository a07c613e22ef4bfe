//! Test helpers: closeness of two vectors, and central-difference gradient checks.
//!
//! `check` holds a kernel's f32 gradient to central differences of the same loss computed in
//! f64 (`reference`'s `*64` functions), with a step so small that the difference quotient's own
//! error (the step squared, f64 rounding over the step) is a million times below the f32
//! gradient's rounding. Its tolerance is then set by that rounding alone: a gradient off by a
//! factor 1.05, or one element of it off by a few percent, fails. `check_f32` is the coarse form
//! for a loss only the f32 kernels can compute (a whole model's forward pass), where rounding
//! and the ReLU and max kinks within the step limit what can be asked; it checks the layers are
//! wired together, each layer's gradient having passed `check`.

/// Every element within `tol` relative to the larger magnitude (or absolute below 1).
pub fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let scale = g.abs().max(w.abs()).max(1.0);
        assert!((g - w).abs() <= tol * scale, "{what}[{i}]: got {g}, want {w}");
    }
}

/// Largest error `check` accepts, relative to the larger of the two values or to `FLOOR` times
/// the gradient's largest element. Measured on the kernels here: at worst 1.3e-5 (conv `dx`,
/// whose col2im sums cancel), under 2e-6 elsewhere; a gradient 1% off in one element, or off by
/// 0.001 in one element of size 0.55, fails, where the old 2% check passed both.
pub const TOL: f64 = 1e-4;

/// Elements smaller than this share of the gradient's largest are compared in absolute terms:
/// f32 rounding of a sum of large terms that nearly cancel is large relative to the result.
pub const FLOOR: f64 = 1e-3;

/// Compares `analytic` with `(f(x + h e_i) - f(x - h e_i)) / 2h` for every coordinate, `f`
/// evaluated in f64 at `h = 1e-5 max(|x_i|, 0.1)`.
pub fn check(x: &[f32], analytic: &[f32], mut f: impl FnMut(&[f64]) -> f64, what: &str) {
    assert_eq!(x.len(), analytic.len(), "{what}: length");
    let mut v: Vec<f64> = x.iter().map(|&x| x as f64).collect();
    let numeric: Vec<f64> = (0..x.len())
        .map(|i| {
            let x0 = v[i];
            let h = 1e-5 * x0.abs().max(0.1);
            v[i] = x0 + h;
            let up = f(&v);
            v[i] = x0 - h;
            let down = f(&v);
            v[i] = x0;
            (up - down) / (2.0 * h)
        })
        .collect();
    let largest = numeric.iter().fold(0f64, |m, n| m.max(n.abs()));
    for (i, (&n, &a)) in numeric.iter().zip(analytic).enumerate() {
        let a = a as f64;
        let err = (n - a).abs() / n.abs().max(a.abs()).max(FLOOR * largest).max(1e-30);
        assert!(err < TOL, "{what}[{i}]: analytic {a}, numeric {n} (relative error {err:.1e}, allowed {TOL:.0e})");
    }
}

/// The coarse check, for a loss computed by the f32 kernels: steps of 1% and 2% relative error.
pub fn check_f32(x: &[f32], analytic: &[f32], mut f: impl FnMut(&[f32]) -> f64, what: &str) {
    assert_eq!(x.len(), analytic.len(), "{what}: length");
    let mut v = x.to_vec();
    for i in 0..x.len() {
        let h = 1e-2f32 * x[i].abs().max(0.1);
        v[i] = x[i] + h;
        let up = f(&v);
        v[i] = x[i] - h;
        let down = f(&v);
        v[i] = x[i];
        let numeric = (up - down) / (2.0 * h as f64);
        let a = analytic[i] as f64;
        let err = (numeric - a).abs() / numeric.abs().max(a.abs()).max(1e-2);
        assert!(err < 2e-2, "{what}[{i}]: analytic {a}, numeric {numeric}");
    }
}
