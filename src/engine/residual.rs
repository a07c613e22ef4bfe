//! The residual sum of two maps that may differ in size: the result takes the larger of each
//! dimension and reads what a map lacks as zeros, aligned at the top-left. This is dlib's
//! `add_prev`, which lets a down-sampling block widen its channels (128 -> 256) and keep an odd
//! map (3x3 against the shortcut's 4x4) without a projection.

/// A map's (height, width, channels).
pub type Dims = (usize, usize, usize);

pub fn out_dims(a: Dims, b: Dims) -> Dims {
    (a.0.max(b.0), a.1.max(b.1), a.2.max(b.2))
}

/// `y = pad(a) + pad(b)`, one image; `y` is overwritten.
pub fn add_forward(a: &[f32], ad: Dims, b: &[f32], bd: Dims, y: &mut [f32]) {
    let (h, w, c) = out_dims(ad, bd);
    y[..h * w * c].fill(0.0);
    for (x, d) in [(a, ad), (b, bd)] {
        for yy in 0..d.0 {
            for xx in 0..d.1 {
                let src = &x[(yy * d.1 + xx) * d.2..][..d.2];
                for (o, v) in y[(yy * w + xx) * c..][..d.2].iter_mut().zip(src) {
                    *o += v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaller_operand_is_zero_padded_at_the_top_left() {
        // a: 1x1x1 = [5]; b: 2x2x2 = 1..=8. Only pixel (0,0) channel 0 gets a's value.
        let a = [5.0];
        let b: Vec<f32> = (1..=8).map(|v| v as f32).collect();
        let mut y = vec![0.0; 8];
        add_forward(&a, (1, 1, 1), &b, (2, 2, 2), &mut y);
        assert_eq!(y, vec![6.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    }
}
