//! Training-time distortions. Koch et al.'s affine distortions for characters, and the original
//! face app's photo augmentations (brightness, contrast, saturation, flip, JPEG-like blockiness)
//! for faces. Every random draw comes from the caller's seeded `Rng`.
use crate::rng::Rng;

/// An affine map of the image plane, in pixels, about the image centre.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    pub rotate_deg: f32,
    pub shear_x: f32,
    pub shear_y: f32,
    pub scale_x: f32,
    pub scale_y: f32,
    pub shift_x: f32,
    pub shift_y: f32,
}

impl Affine {
    pub const IDENTITY: Affine = Affine { rotate_deg: 0.0, shear_x: 0.0, shear_y: 0.0, scale_x: 1.0, scale_y: 1.0, shift_x: 0.0, shift_y: 0.0 };

    /// Koch et al.'s distortion: rotation in [-10, 10] degrees, shear in [-0.3, 0.3], scale in
    /// [0.8, 1.2], translation in [-2, 2] px, each component present with probability 0.5.
    pub fn koch(rng: &mut Rng) -> Affine {
        let mut pick = |lo: f32, hi: f32, none: f32| if rng.uniform() < 0.5 { lo + (hi - lo) * rng.uniform() as f32 } else { none };
        Affine {
            rotate_deg: pick(-10.0, 10.0, 0.0),
            shear_x: pick(-0.3, 0.3, 0.0),
            shear_y: pick(-0.3, 0.3, 0.0),
            scale_x: pick(0.8, 1.2, 1.0),
            scale_y: pick(0.8, 1.2, 1.0),
            shift_x: pick(-2.0, 2.0, 0.0),
            shift_y: pick(-2.0, 2.0, 0.0),
        }
    }

    /// The 2x2 matrix `R S Sh` (rotation, scale, shear) applied to offsets from the centre.
    fn matrix(&self) -> [f32; 4] {
        let (s, c) = self.rotate_deg.to_radians().sin_cos();
        // Sh = [[1, shx], [shy, 1]], S = diag(sx, sy), R = [[c, -s], [s, c]].
        let (a, b, cc, d) = (self.scale_x, self.scale_x * self.shear_x, self.scale_y * self.shear_y, self.scale_y);
        [c * a - s * cc, c * b - s * d, s * a + c * cc, s * b + c * d]
    }

    /// Where the point (x, y) of the source lands in the output.
    pub fn apply(&self, x: f32, y: f32, w: usize, h: usize) -> (f32, f32) {
        let (cx, cy) = ((w as f32 - 1.0) / 2.0, (h as f32 - 1.0) / 2.0);
        let m = self.matrix();
        let (dx, dy) = (x - cx, y - cy);
        (cx + m[0] * dx + m[1] * dy + self.shift_x, cy + m[2] * dx + m[3] * dy + self.shift_y)
    }

    /// Resamples `src` (`h x w x c`, NHWC) into `dst` by the inverse map with bilinear
    /// interpolation; pixels that come from outside the source get `fill`.
    pub fn warp(&self, src: &[f32], w: usize, h: usize, c: usize, fill: f32, dst: &mut [f32]) {
        let m = self.matrix();
        let det = m[0] * m[3] - m[1] * m[2];
        let inv = [m[3] / det, -m[1] / det, -m[2] / det, m[0] / det];
        let (cx, cy) = ((w as f32 - 1.0) / 2.0, (h as f32 - 1.0) / 2.0);
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (x as f32 - cx - self.shift_x, y as f32 - cy - self.shift_y);
                let (sx, sy) = (cx + inv[0] * dx + inv[1] * dy, cy + inv[2] * dx + inv[3] * dy);
                let o = (y * w + x) * c;
                bilinear(src, w, h, c, sx, sy, fill, &mut dst[o..o + c]);
            }
        }
    }
}

fn bilinear(src: &[f32], w: usize, h: usize, c: usize, x: f32, y: f32, fill: f32, out: &mut [f32]) {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let at = |xx: f32, yy: f32, k: usize| -> f32 {
        if xx < 0.0 || yy < 0.0 || xx >= w as f32 || yy >= h as f32 {
            fill
        } else {
            src[((yy as usize) * w + xx as usize) * c + k]
        }
    };
    for (k, o) in out.iter_mut().enumerate() {
        let top = at(x0, y0, k) * (1.0 - fx) + at(x0 + 1.0, y0, k) * fx;
        let bottom = at(x0, y0 + 1.0, k) * (1.0 - fx) + at(x0 + 1.0, y0 + 1.0, k) * fx;
        *o = top * (1.0 - fy) + bottom * fy;
    }
}

/// The face app's photo augmentations, each applied with probability 0.5: brightness +-0.1,
/// contrast x[0.7, 1.3], saturation x[0.6, 1.4], horizontal flip, and 8x8 block quantisation that
/// imitates low JPEG quality. `img` is `h x w x 3` in [0, 1].
pub fn photo(img: &mut [f32], w: usize, h: usize, rng: &mut Rng) {
    let c = 3;
    if rng.uniform() < 0.5 {
        let b = (rng.uniform() as f32 - 0.5) * 0.2;
        img.iter_mut().for_each(|v| *v += b);
    }
    if rng.uniform() < 0.5 {
        let k = 0.7 + 0.6 * rng.uniform() as f32;
        let mean = img.iter().sum::<f32>() / img.len().max(1) as f32;
        img.iter_mut().for_each(|v| *v = mean + (*v - mean) * k);
    }
    if rng.uniform() < 0.5 {
        let k = 0.6 + 0.8 * rng.uniform() as f32;
        for px in img.chunks_exact_mut(c) {
            let gray = 0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2];
            px.iter_mut().for_each(|v| *v = gray + (*v - gray) * k);
        }
    }
    if rng.uniform() < 0.5 {
        for row in img.chunks_exact_mut(w * c) {
            for x in 0..w / 2 {
                for k in 0..c {
                    row.swap(x * c + k, (w - 1 - x) * c + k);
                }
            }
        }
    }
    if rng.uniform() < 0.5 {
        // Coarse quantisation of each 8x8 block towards its mean, as heavy JPEG compression does.
        let keep = 0.5 + 0.5 * rng.uniform() as f32;
        for by in (0..h).step_by(8) {
            for bx in (0..w).step_by(8) {
                for k in 0..c {
                    let (mut sum, mut n) = (0f32, 0f32);
                    for y in by..(by + 8).min(h) {
                        for x in bx..(bx + 8).min(w) {
                            sum += img[(y * w + x) * c + k];
                            n += 1.0;
                        }
                    }
                    let mean = sum / n;
                    for y in by..(by + 8).min(h) {
                        for x in bx..(bx + 8).min(w) {
                            let v = &mut img[(y * w + x) * c + k];
                            *v = mean + (*v - mean) * keep;
                        }
                    }
                }
            }
        }
    }
    img.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_point_under_rotation_and_shift() {
        // 90 degrees about the centre (2, 2) of a 5x5 image maps (4, 2) to (2, 4); a shift of
        // (1, -1) then moves it to (3, 3).
        let a = Affine { rotate_deg: 90.0, shift_x: 1.0, shift_y: -1.0, ..Affine::IDENTITY };
        let (x, y) = a.apply(4.0, 2.0, 5, 5);
        assert!((x - 3.0).abs() < 1e-5 && (y - 3.0).abs() < 1e-5, "({x}, {y})");
    }

    #[test]
    fn shear_and_scale_of_a_known_point() {
        // Offset (1, 1) from the centre; shear_x 0.3 gives (1.3, 1); scale (2, 0.5) gives (2.6, 0.5).
        let a = Affine { shear_x: 0.3, scale_x: 2.0, scale_y: 0.5, ..Affine::IDENTITY };
        let (x, y) = a.apply(3.0, 3.0, 5, 5);
        assert!((x - 4.6).abs() < 1e-5 && (y - 2.5).abs() < 1e-5, "({x}, {y})");
    }

    #[test]
    fn warp_moves_a_dot_where_apply_says() {
        let (w, h) = (21, 21);
        let mut src = vec![0f32; w * h];
        src[7 * w + 14] = 1.0;
        let a = Affine { rotate_deg: 30.0, shear_y: 0.1, scale_x: 1.1, shift_x: 2.0, ..Affine::IDENTITY };
        let mut dst = vec![0f32; w * h];
        a.warp(&src, w, h, 1, 0.0, &mut dst);
        let (ex, ey) = a.apply(14.0, 7.0, w, h);
        let (mut best, mut at) = (0f32, 0);
        for (i, v) in dst.iter().enumerate() {
            if *v > best {
                (best, at) = (*v, i);
            }
        }
        let (bx, by) = ((at % w) as f32, (at / w) as f32);
        assert!((bx - ex).abs() <= 1.0 && (by - ey).abs() <= 1.0, "dot at ({bx}, {by}), expected ({ex}, {ey})");
    }

    #[test]
    fn identity_warp_keeps_the_image() {
        let src: Vec<f32> = (0..6 * 4 * 2).map(|i| i as f32).collect();
        let mut dst = vec![0f32; src.len()];
        Affine::IDENTITY.warp(&src, 6, 4, 2, -1.0, &mut dst);
        assert_eq!(src, dst);
    }

    #[test]
    fn koch_distortions_stay_in_the_paper_ranges_and_are_seeded() {
        let mut r = Rng::new(9);
        let mut untouched = 0;
        for _ in 0..2000 {
            let a = Affine::koch(&mut r);
            assert!(a.rotate_deg.abs() <= 10.0 && a.shear_x.abs() <= 0.3 && a.shift_y.abs() <= 2.0);
            assert!((0.8..=1.2).contains(&a.scale_x));
            untouched += (a.rotate_deg == 0.0) as usize;
        }
        assert!((900..1100).contains(&untouched), "rotation applied with p = 0.5: {untouched}");
        assert_eq!(Affine::koch(&mut Rng::new(1)), Affine::koch(&mut Rng::new(1)));
    }

    #[test]
    fn photo_augmentation_keeps_range_and_is_seeded() {
        let img: Vec<f32> = (0..16 * 16 * 3).map(|i| (i % 17) as f32 / 16.0).collect();
        let (mut a, mut b) = (img.clone(), img.clone());
        photo(&mut a, 16, 16, &mut Rng::new(3));
        photo(&mut b, 16, 16, &mut Rng::new(3));
        assert_eq!(a, b);
        assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}
