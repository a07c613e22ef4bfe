//! Binary cross-entropy on logits and the L2 penalty.
//!
//! The loss is computed from the logit, never from a rounded probability, so a confident wrong
//! answer costs its true (large) loss instead of `-ln(0) = inf`.

/// Mean BCE over the batch: `max(z, 0) - z y + ln(1 + e^-|z|)`, summed in f64.
pub fn bce_logits(logits: &[f32], labels: &[f32]) -> f64 {
    assert_eq!(logits.len(), labels.len(), "one label per logit");
    if logits.is_empty() {
        return 0.0;
    }
    let total: f64 = logits
        .iter()
        .zip(labels)
        .map(|(&z, &y)| {
            let (z, y) = (z as f64, y as f64);
            z.max(0.0) - z * y + (-z.abs()).exp().ln_1p()
        })
        .sum();
    total / logits.len() as f64
}

/// Gradient of the mean BCE: `(sigmoid(z) - y) / n`.
pub fn bce_logits_backward(logits: &[f32], labels: &[f32], dlogits: &mut [f32]) {
    let n = logits.len().max(1) as f32;
    for ((d, &z), &y) in dlogits.iter_mut().zip(logits).zip(labels) {
        *d = (super::act::sigmoid1(z) - y) / n;
    }
}

/// `lambda / 2 * |w|^2`; its gradient `lambda * w` is added by the optimiser.
pub fn l2_penalty(w: &[f32], lambda: f32) -> f64 {
    0.5 * lambda as f64 * w.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{gradcheck, reference};

    #[test]
    fn bce_matches_the_textbook_formula_and_stays_finite() {
        // -[y ln p + (1-y) ln(1-p)] with p = sigmoid(z).
        let (z, y) = (0.75f64, 1.0f64);
        let p = 1.0 / (1.0 + (-z).exp());
        let want = -(y * p.ln() + (1.0 - y) * (1.0 - p).ln());
        assert!((bce_logits(&[0.75], &[1.0]) - want).abs() < 1e-12);
        // A logit of -200 for a positive costs 200, not infinity.
        assert!((bce_logits(&[-200.0], &[1.0]) - 200.0).abs() < 1e-9);
        assert!(bce_logits(&[300.0], &[1.0]) < 1e-12);
    }

    #[test]
    fn bce_backward_passes_central_difference_check() {
        let z = [-2.0f32, 0.3, 4.0, -0.1];
        let y = [0.0f32, 1.0, 0.0, 1.0];
        let mut d = [0f32; 4];
        bce_logits_backward(&z, &y, &mut d);
        // Against the textbook form of the loss, not the stable one `bce_logits` computes.
        let y = reference::widen(&y);
        gradcheck::check(&z, &d, |v| reference::bce64(v, &y), "bce");
    }

    #[test]
    fn l2_penalty_is_half_lambda_squared_norm() {
        assert!((l2_penalty(&[3.0, 4.0], 0.1) - 1.25).abs() < 1e-7);
    }
}
