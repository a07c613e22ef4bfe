//! Test helpers: closeness of two vectors and a central-difference gradient check.

/// Every element within `tol` relative to the larger magnitude (or absolute below 1).
pub fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let scale = g.abs().max(w.abs()).max(1.0);
        assert!((g - w).abs() <= tol * scale, "{what}[{i}]: got {g}, want {w}");
    }
}

/// Compares `analytic` with `(f(x + h e_i) - f(x - h e_i)) / 2h` for every coordinate.
pub fn check(x: &[f32], analytic: &[f32], mut f: impl FnMut(&[f32]) -> f64, what: &str) {
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
