//! Per-channel `y = gamma * x + beta`: a batch norm with its statistics folded in, as inference
//! runs it (dlib's `affine` layer). NHWC, so the channel is the fastest index.

/// In place over any number of pixels.
pub fn forward(x: &mut [f32], gamma: &[f32], beta: &[f32]) {
    for px in x.chunks_mut(gamma.len()) {
        for ((v, g), b) in px.iter_mut().zip(gamma).zip(beta) {
            *v = *v * g + b;
        }
    }
}

/// From the output gradient `dy` and the layer's input `x`: `dgamma`, `dbeta` accumulated into;
/// `dy` becomes the input gradient in place.
pub fn backward(x: &[f32], gamma: &[f32], dy: &mut [f32], dgamma: &mut [f32], dbeta: &mut [f32]) {
    let c = gamma.len();
    for (px, g) in x.chunks(c).zip(dy.chunks_mut(c)) {
        for ch in 0..c {
            dgamma[ch] += g[ch] * px[ch];
            dbeta[ch] += g[ch];
            g[ch] *= gamma[ch];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::gradcheck;

    #[test]
    fn scales_and_shifts_each_channel() {
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        forward(&mut x, &[2.0, -1.0], &[0.5, 1.0]);
        assert_eq!(x, vec![2.5, -1.0, 6.5, -3.0]);
    }

    #[test]
    fn gradients_match_central_differences() {
        let x: Vec<f32> = (0..15).map(|i| (i as f32 * 0.41).sin()).collect();
        let (gamma, beta) = (vec![0.7f32, -1.3, 0.2], vec![0.1f32, 0.0, -0.4]);
        let r: Vec<f32> = (0..15).map(|i| (i as f32 * 0.23).cos()).collect();
        let f = |x: &[f32], g: &[f32], b: &[f32]| {
            let mut y = x.to_vec();
            forward(&mut y, g, b);
            y.iter().zip(&r).map(|(p, q)| (p * q) as f64).sum::<f64>()
        };
        let (mut dg, mut db, mut dx) = (vec![0.0; 3], vec![0.0; 3], r.clone());
        backward(&x, &gamma, &mut dx, &mut dg, &mut db);
        gradcheck::check(&x, &dx, |x| f(x, &gamma, &beta), "dx");
        gradcheck::check(&gamma, &dg, |g| f(&x, g, &beta), "dgamma");
        gradcheck::check(&beta, &db, |b| f(&x, &gamma, b), "dbeta");
    }
}
