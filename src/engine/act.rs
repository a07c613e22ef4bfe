//! Element-wise activations and their gradients, written in terms of the activation's output so
//! the backward pass needs no stored pre-activation.

super::multiversion! {
/// `x = max(0, x + b)` with `b` repeated along the channels (NHWC rows of `b.len()`).
pub fn bias_relu(x: &mut [f32], b: &[f32]) {
    for row in x.chunks_exact_mut(b.len()) {
        for (v, b) in row.iter_mut().zip(b) {
            *v = (*v + b).max(0.0);
        }
    }
}
}

super::multiversion! {
/// `dy *= (y > 0)`, with `y` the ReLU's output.
pub fn relu_backward(y: &[f32], dy: &mut [f32]) {
    for (d, y) in dy.iter_mut().zip(y) {
        if *y <= 0.0 {
            *d = 0.0;
        }
    }
}
}

/// Logistic function, without overflow for large |x|.
pub fn sigmoid1(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

super::multiversion! {
pub fn sigmoid(x: &mut [f32]) {
    for v in x {
        *v = sigmoid1(*v);
    }
}
}

super::multiversion! {
/// `dy *= y (1 - y)`, with `y` the sigmoid's output.
pub fn sigmoid_backward(y: &[f32], dy: &mut [f32]) {
    for (d, y) in dy.iter_mut().zip(y) {
        *d *= y * (1.0 - y);
    }
}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{gradcheck, reference};

    #[test]
    fn sigmoid_is_finite_and_exact_at_extremes() {
        assert_eq!(sigmoid1(0.0), 0.5);
        assert_eq!(sigmoid1(-1000.0), 0.0);
        assert_eq!(sigmoid1(1000.0), 1.0);
        assert!((sigmoid1(2.0) - 0.880_797_1).abs() < 1e-7); // 1/(1+e^-2)
    }

    #[test]
    fn sigmoid_backward_passes_central_difference_check() {
        let x = [-3.0f32, -0.5, 0.0, 0.7, 4.0];
        let r = [0.3f32, -1.0, 2.0, 0.5, -0.7];
        let mut y = x;
        sigmoid(&mut y);
        let mut d = r;
        sigmoid_backward(&y, &mut d);
        let r = reference::widen(&r);
        gradcheck::check(&x, &d, |v| v.iter().zip(&r).map(|(v, r)| reference::sigmoid64(*v) * r).sum(), "sigmoid");
    }

    #[test]
    fn relu_backward_masks_non_positive_outputs() {
        let mut x = [-1.0f32, 0.5, 2.0];
        bias_relu(&mut x, &[-0.5]);
        let mut d = [5.0f32, 5.0, 5.0];
        relu_backward(&x, &mut d);
        assert_eq!((x, d), ([0.0, 0.0, 1.5], [0.0, 0.0, 5.0]));
    }
}
