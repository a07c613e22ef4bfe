//! Bias, ReLU and 2x2 max-pooling (stride 2, 'same'/ceil padding) in one pass.
//!
//! Adding a per-channel bias and ReLU are monotone, so `relu(max(window) + b) = max(0,
//! max(window) + b)`: one pass reads the raw convolution output once, and the backward pass only
//! needs which window position won (or that the result was not positive).

/// Marks a window whose result was not positive: ReLU sends no gradient through it.
pub const NONE: u8 = u8::MAX;

pub fn out_size(n: usize) -> usize {
    n.div_ceil(2)
}

super::multiversion! {
/// `out[py, px, c] = max(0, b[c] + max x[2py..2py+2, 2px..2px+2, c])`, windows clipped at the
/// border; `arg` records the winning position (`dy * 2 + dx`, the first one on ties) or `NONE`.
///
/// # Shapes
/// `x: h*w*c`, `b: c`, `out` and `arg: ceil(h/2)*ceil(w/2)*c`.
pub fn bias_relu_max_forward(x: &[f32], b: &[f32], h: usize, w: usize, out: &mut [f32], arg: &mut [u8]) {
    let c = b.len();
    let (ph, pw) = (out_size(h), out_size(w));
    assert_eq!(x.len(), h * w * c, "pool input length");
    assert_eq!(out.len(), ph * pw * c, "pool output length");
    assert_eq!(arg.len(), out.len(), "pool argmax length");
    for py in 0..ph {
        let y0 = 2 * py;
        let y1 = if y0 + 1 < h { y0 + 1 } else { y0 };
        for px in 0..pw {
            let x0 = 2 * px;
            let x1 = if x0 + 1 < w { x0 + 1 } else { x0 };
            // A clipped window repeats its first row or column; the first-wins rule keeps the
            // recorded position on a real pixel.
            let at = |y: usize, xx: usize| &x[(y * w + xx) * c..(y * w + xx + 1) * c];
            let (r0, r1, r2, r3) = (at(y0, x0), at(y0, x1), at(y1, x0), at(y1, x1));
            let o = (py * pw + px) * c;
            let (dst, which) = (&mut out[o..o + c], &mut arg[o..o + c]);
            for k in 0..c {
                let (a, bb, cc, d) = (r0[k], r1[k], r2[k], r3[k]);
                let m = a.max(bb).max(cc.max(d));
                let pos = if a == m { 0 } else if bb == m { 1 } else if cc == m { 2 } else { 3 };
                let v = m + b[k];
                dst[k] = v.max(0.0);
                which[k] = if v > 0.0 { pos } else { NONE };
            }
        }
    }
}
}

super::multiversion! {
/// Routes `dout` to the winning input of each window; every other input gets zero.
pub fn relu_max_backward(dout: &[f32], arg: &[u8], h: usize, w: usize, c: usize, dx: &mut [f32]) {
    let (ph, pw) = (out_size(h), out_size(w));
    assert_eq!(dx.len(), h * w * c, "pool input gradient length");
    assert_eq!(dout.len(), ph * pw * c, "pool output gradient length");
    assert_eq!(dout.len(), arg.len(), "pool argmax length");
    dx.fill(0.0);
    for py in 0..ph {
        for px in 0..pw {
            let o = (py * pw + px) * c;
            for (k, (d, a)) in dout[o..o + c].iter().zip(&arg[o..o + c]).enumerate() {
                if *a != NONE {
                    let (y, xx) = (2 * py + (*a as usize >> 1), 2 * px + (*a as usize & 1));
                    dx[(y * w + xx) * c + k] = *d;
                }
            }
        }
    }
}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{gradcheck, reference};
    use crate::rng::Rng;

    fn with_bias(x: &[f32], b: &[f32]) -> Vec<f32> {
        x.chunks(b.len()).flat_map(|r| r.iter().zip(b).map(|(v, b)| v + b)).collect()
    }

    #[test]
    fn forward_matches_reference_on_odd_sizes() {
        let mut rng = Rng::new(5);
        for &(h, w, c) in &[(1, 1, 1), (3, 5, 2), (4, 4, 1), (7, 2, 3), (9, 9, 4), (1, 6, 2)] {
            let x: Vec<f32> = (0..h * w * c).map(|_| rng.normal() as f32).collect();
            let b: Vec<f32> = (0..c).map(|_| rng.normal() as f32 * 0.5).collect();
            let n = out_size(h) * out_size(w) * c;
            let (mut out, mut arg) = (vec![0f32; n], vec![0u8; n]);
            bias_relu_max_forward(&x, &b, h, w, &mut out, &mut arg);
            let want = reference::relu_max_pool(&with_bias(&x, &b), h, w, c);
            gradcheck::assert_close(&out, &want, 1e-6, &format!("{h}x{w}x{c}"));
        }
    }

    #[test]
    fn backward_passes_central_difference_check_on_odd_sizes() {
        // Distinct values keep the winners away from ties, where the max is not differentiable.
        for &(h, w, c) in &[(5, 3, 2), (4, 4, 1), (1, 3, 3)] {
            let mut rng = Rng::new(6);
            let mut x: Vec<f32> = (0..h * w * c).map(|i| i as f32 * 0.37 - 4.0).collect();
            for i in (1..x.len()).rev() {
                x.swap(i, rng.below(i + 1));
            }
            let b: Vec<f32> = (0..c).map(|k| 0.1 * k as f32).collect();
            let n = out_size(h) * out_size(w) * c;
            let r: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
            let (mut out, mut arg, mut dx) = (vec![0f32; n], vec![0u8; n], vec![0f32; x.len()]);
            bias_relu_max_forward(&x, &b, h, w, &mut out, &mut arg);
            relu_max_backward(&r, &arg, h, w, c, &mut dx);
            let (b64, r64) = (reference::widen(&b), reference::widen(&r));
            let loss = |v: &[f64]| -> f64 {
                let biased: Vec<f64> = v.chunks(c).flat_map(|px| px.iter().zip(&b64).map(|(v, b)| v + b)).collect();
                reference::dot(&reference::relu_max_pool64(&biased, h, w, c), &r64)
            };
            gradcheck::check(&x, &dx, loss, &format!("pool dx {h}x{w}x{c}"));
        }
    }

    #[test]
    fn non_positive_window_sends_no_gradient() {
        let x = [-1.0f32, -2.0, 0.5, -0.5];
        let (mut out, mut arg, mut dx) = ([9f32; 1], [0u8; 1], [9f32; 4]);
        bias_relu_max_forward(&x, &[-0.5], 2, 2, &mut out, &mut arg);
        assert_eq!((out[0], arg[0]), (0.0, NONE));
        relu_max_backward(&[1.0], &arg, 2, 2, 1, &mut dx);
        assert_eq!(dx, [0.0; 4]);
    }

    #[test]
    fn ties_go_to_the_first_position() {
        let x = [1.0f32, 3.0, 3.0, 3.0];
        let (mut out, mut arg) = ([0f32; 1], [0u8; 1]);
        bias_relu_max_forward(&x, &[0.0], 2, 2, &mut out, &mut arg);
        assert_eq!((out[0], arg[0]), (3.0, 1));
    }
}
