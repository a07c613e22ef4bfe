//! Update rules over flat slices; the model applies them per parameter group and in parallel.

super::multiversion! {
/// One Adam step (Kingma & Ba, as Keras computes it): the bias correction is folded into the step
/// size `lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)` so the update itself is one pass.
#[allow(clippy::too_many_arguments)]
pub fn adam(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], lr_t: f32, beta1: f32, beta2: f32, eps: f32) {
    for (((p, g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        *m = beta1 * *m + (1.0 - beta1) * g;
        *v = beta2 * *v + (1.0 - beta2) * g * g;
        *p -= lr_t * *m / (v.sqrt() + eps);
    }
}
}

pub fn adam_lr(lr: f32, beta1: f32, beta2: f32, t: u64) -> f32 {
    let t = t as i32;
    lr * (1.0 - beta2.powi(t)).sqrt() / (1.0 - beta1.powi(t))
}

super::multiversion! {
/// SGD with momentum and L2 weight decay: `vel = mu vel - lr (g + l2 p)`, `p += vel`.
pub fn sgd(p: &mut [f32], g: &[f32], vel: &mut [f32], lr: f32, momentum: f32, l2: f32) {
    for ((p, g), v) in p.iter_mut().zip(g).zip(vel.iter_mut()) {
        *v = momentum * *v - lr * (g + l2 * *p);
        *p += *v;
    }
}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_first_step_moves_by_lr_in_the_gradient_sign() {
        // At t = 1, m_hat = g and v_hat = g^2, so the step is lr * g / (|g| + eps) ~ lr * sign(g).
        let (mut p, mut m, mut v) = ([1.0f32, 1.0], [0f32; 2], [0f32; 2]);
        adam(&mut p, &[0.5, -3.0], &mut m, &mut v, adam_lr(0.01, 0.9, 0.999, 1), 0.9, 0.999, 1e-7);
        assert!((p[0] - 0.99).abs() < 1e-6 && (p[1] - 1.01).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn sgd_momentum_accumulates_velocity_and_decays_weights() {
        let (mut p, mut vel) = ([2.0f32], [0f32]);
        sgd(&mut p, &[1.0], &mut vel, 0.1, 0.5, 0.0);
        assert_eq!((p[0], vel[0]), (1.9, -0.1));
        sgd(&mut p, &[1.0], &mut vel, 0.1, 0.5, 0.0);
        assert!((vel[0] + 0.15).abs() < 1e-7 && (p[0] - 1.75).abs() < 1e-6);
        let (mut q, mut w) = ([2.0f32], [0f32]);
        sgd(&mut q, &[0.0], &mut w, 0.1, 0.0, 0.5); // pure decay: 2 - 0.1 * 0.5 * 2
        assert!((q[0] - 1.9).abs() < 1e-7);
    }
}
