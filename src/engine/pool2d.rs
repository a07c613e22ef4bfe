//! Pooling windows with a size and a stride, no padding (dlib's `max_pool<3,3,2,2>` and
//! `avg_pool<2,2,2,2>`), and the global average that turns a map into one vector per image.
//! NHWC, one image per call; the output size is `(n - size) / stride + 1`.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub size: usize,
    pub stride: usize,
}

impl Shape {
    pub fn out(&self, n: usize) -> Option<usize> {
        (self.size > 0 && self.stride > 0 && n >= self.size).then(|| (n - self.size) / self.stride + 1)
    }
    pub fn oh(&self) -> usize {
        self.out(self.h).unwrap_or(0)
    }
    pub fn ow(&self) -> usize {
        self.out(self.w).unwrap_or(0)
    }
    pub fn in_len(&self) -> usize {
        self.h * self.w * self.c
    }
    pub fn out_len(&self) -> usize {
        self.oh() * self.ow() * self.c
    }
}

/// Max over each window; `arg` keeps the winning input index (what a backward pass would route
/// the gradient to; the layered net is forward-only for now).
pub fn max_forward(x: &[f32], s: &Shape, y: &mut [f32], arg: &mut [u32]) {
    let (ow, c) = (s.ow(), s.c);
    for oy in 0..s.oh() {
        for ox in 0..ow {
            let o = (oy * ow + ox) * c;
            y[o..o + c].fill(f32::NEG_INFINITY);
            for ky in 0..s.size {
                for kx in 0..s.size {
                    let i = ((oy * s.stride + ky) * s.w + ox * s.stride + kx) * c;
                    for ch in 0..c {
                        if x[i + ch] > y[o + ch] {
                            y[o + ch] = x[i + ch];
                            arg[o + ch] = (i + ch) as u32;
                        }
                    }
                }
            }
        }
    }
}

pub fn avg_forward(x: &[f32], s: &Shape, y: &mut [f32]) {
    let (ow, c) = (s.ow(), s.c);
    let inv = 1.0 / (s.size * s.size) as f32;
    for oy in 0..s.oh() {
        for ox in 0..ow {
            let o = &mut y[(oy * ow + ox) * c..][..c];
            o.fill(0.0);
            for ky in 0..s.size {
                for kx in 0..s.size {
                    let i = ((oy * s.stride + ky) * s.w + ox * s.stride + kx) * c;
                    for (o, v) in o.iter_mut().zip(&x[i..i + c]) {
                        *o += v;
                    }
                }
            }
            o.iter_mut().for_each(|v| *v *= inv);
        }
    }
}

/// Mean over all `pixels` of each channel.
pub fn global_avg_forward(x: &[f32], pixels: usize, c: usize, y: &mut [f32]) {
    y[..c].fill(0.0);
    for px in x[..pixels * c].chunks(c) {
        for (o, v) in y.iter_mut().zip(px) {
            *o += v;
        }
    }
    let inv = 1.0 / pixels.max(1) as f32;
    y[..c].iter_mut().for_each(|v| *v *= inv);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{gradcheck, reference};
    use crate::rng::Rng;

    fn shapes() -> Vec<Shape> {
        vec![
            Shape { h: 7, w: 7, c: 2, size: 3, stride: 2 },
            Shape { h: 8, w: 5, c: 3, size: 2, stride: 2 },
            Shape { h: 3, w: 3, c: 1, size: 3, stride: 2 },
            Shape { h: 5, w: 4, c: 2, size: 2, stride: 1 },
        ]
    }

    /// Distinct values, so no window has a tie.
    fn distinct(n: usize, rng: &mut Rng) -> Vec<f32> {
        let mut v: Vec<f32> = (0..n).map(|i| i as f32 * 0.37 - n as f32 * 0.15).collect();
        for i in (1..n).rev() {
            v.swap(i, rng.below(i + 1));
        }
        v
    }

    #[test]
    fn max_and_avg_match_the_naive_windows() {
        let mut rng = Rng::new(3);
        for s in shapes() {
            let x = distinct(s.in_len(), &mut rng);
            let (mut y, mut arg) = (vec![0.0; s.out_len()], vec![0u32; s.out_len()]);
            max_forward(&x, &s, &mut y, &mut arg);
            gradcheck::assert_close(&y, &reference::pool(&x, &s, false), 1e-6, &format!("max {s:?}"));
            avg_forward(&x, &s, &mut y);
            gradcheck::assert_close(&y, &reference::pool(&x, &s, true), 1e-5, &format!("avg {s:?}"));
        }
    }

    #[test]
    fn global_average_is_each_channels_mean() {
        let mut rng = Rng::new(5);
        let (pixels, c) = (6, 3);
        let x: Vec<f32> = (0..pixels * c).map(|_| rng.uniform() as f32).collect();
        let mut y = vec![0.0; c];
        global_avg_forward(&x, pixels, c, &mut y);
        for ch in 0..c {
            let want: f32 = (0..pixels).map(|p| x[p * c + ch]).sum::<f32>() / pixels as f32;
            assert!((y[ch] - want).abs() < 1e-6);
        }
    }
}
