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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_shifts_each_channel() {
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        forward(&mut x, &[2.0, -1.0], &[0.5, 1.0]);
        assert_eq!(x, vec![2.5, -1.0, 6.5, -3.0]);
    }
}
