//! How much one sighting of a face can be trusted: size, sharpness, exposure and pose, measured
//! on the frame and on the chip the network sees, folded into one weight from 0 to 1. A track
//! pools its embeddings by this weight, and a face whose weight is too low is never embedded:
//! a small, blurred, dark or turned face gives embeddings that land near strangers' (on video
//! frames such faces scored 0.58-0.89 against their own enrolment and 0.61-0.92 against others'),
//! so it must not be what names a track.
use image::RgbImage;
use serde::Serialize;

/// The measurements and the weight made of them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Quality {
    /// Distance between the eye centres in the frame, in pixels.
    pub eyes_px: f32,
    /// Variance of the Laplacian of the chip's grey levels over its middle: low when the face
    /// is blurred or was upscaled from a few pixels.
    pub sharpness: f32,
    /// Mean grey level (0-255) of the middle of the chip.
    pub brightness: f32,
    /// Standard deviation of those grey levels: low in the dark or in fog.
    pub contrast: f32,
    /// How far the nose sits from the line between the eyes' midpoint and the mouth, as a
    /// fraction of the eye distance: 0 for a frontal face, about 0.35 for a face turned 45°.
    pub yaw: f32,
    /// The product of one factor per measurement, each 1 when it is good and 0 when it is too
    /// poor to judge.
    pub weight: f32,
}

/// A factor rising linearly from 0 at `bad` to 1 at `good` (either order).
fn ramp(v: f32, bad: f32, good: f32) -> f32 {
    ((v - bad) / (good - bad)).clamp(0.0, 1.0)
}

/// Below this weight a sighting is not embedded: the track waits for a better frame.
pub const MIN_WEIGHT: f32 = 0.1;

/// Where the quality factors reach 0 and 1. Eye distance: LFW's photos, on which the thresholds
/// were calibrated, have 40-45 px between the eyes, and a face 50 px wide (eyes 20 px apart) is
/// still recognised well; 7 px (a face about 17 px wide) is where the detector's landmarks stop
/// being reliable. Sharpness (Laplacian variance), brightness and contrast are in grey levels
/// of the 150 px chip: a chip upscaled from a 50 px face has a sharpness near 16, a blurred or
/// fogged one under 4.
pub const EYES_PX: (f32, f32) = (7.0, 20.0);
pub const SHARPNESS: (f32, f32) = (3.0, 16.0);
pub const CONTRAST: (f32, f32) = (6.0, 20.0);
pub const YAW: (f32, f32) = (0.55, 0.25);

impl Quality {
    /// `eyes` are the two eye centres and `nose` the nose in the frame's pixels; `chip` is the
    /// aligned face as the network will see it.
    pub fn measure(eyes: [[f32; 2]; 2], nose: [f32; 2], chip: &RgbImage) -> Quality {
        let (dx, dy) = (eyes[1][0] - eyes[0][0], eyes[1][1] - eyes[0][1]);
        let eyes_px = (dx * dx + dy * dy).sqrt();
        // The nose's offset from the eyes' midpoint along the eye line, in eye distances.
        let mid = [(eyes[0][0] + eyes[1][0]) / 2.0, (eyes[0][1] + eyes[1][1]) / 2.0];
        let along = ((nose[0] - mid[0]) * dx + (nose[1] - mid[1]) * dy) / (eyes_px * eyes_px).max(1e-6);
        let yaw = along.abs();
        let (sharpness, brightness, contrast) = chip_stats(chip);
        let exposure = ramp(brightness, 25.0, 60.0) * ramp(brightness, 235.0, 200.0);
        let weight = ramp(eyes_px, EYES_PX.0, EYES_PX.1)
            * ramp(sharpness, SHARPNESS.0, SHARPNESS.1)
            * ramp(contrast, CONTRAST.0, CONTRAST.1)
            * exposure
            * ramp(yaw, YAW.0, YAW.1);
        Quality { eyes_px, sharpness, brightness, contrast, yaw, weight }
    }
}

/// Laplacian variance, mean and standard deviation of the grey levels in the middle half of
/// the chip (the eyes, nose and mouth; the border holds hair and background).
fn chip_stats(chip: &RgbImage) -> (f32, f32, f32) {
    let (w, h) = (chip.width() as usize, chip.height() as usize);
    if w < 8 || h < 8 {
        return (0.0, 0.0, 0.0);
    }
    let raw = chip.as_raw();
    let grey = |x: usize, y: usize| {
        let i = 3 * (y * w + x);
        (raw[i] as f32 * 0.299) + (raw[i + 1] as f32 * 0.587) + (raw[i + 2] as f32 * 0.114)
    };
    let (x0, x1, y0, y1) = (w / 4, 3 * w / 4, h / 4, 3 * h / 4);
    let (mut s, mut s2, mut l, mut l2, mut n) = (0f64, 0f64, 0f64, 0f64, 0f64);
    for y in y0..y1 {
        for x in x0..x1 {
            let g = grey(x, y);
            let lap = 4.0 * g - grey(x - 1, y) - grey(x + 1, y) - grey(x, y - 1) - grey(x, y + 1);
            s += g as f64;
            s2 += (g * g) as f64;
            l += lap as f64;
            l2 += (lap * lap) as f64;
            n += 1.0;
        }
    }
    let mean = s / n;
    let var = (s2 / n - mean * mean).max(0.0);
    let lap_mean = l / n;
    let lap_var = (l2 / n - lap_mean * lap_mean).max(0.0);
    (lap_var as f32, mean as f32, var.sqrt() as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// A chip of stripes: sharp and contrasted, mean grey 127.5.
    fn stripes(period: u32) -> RgbImage {
        RgbImage::from_fn(150, 150, |x, _| if (x / period) % 2 == 0 { Rgb([40, 40, 40]) } else { Rgb([215, 215, 215]) })
    }

    #[test]
    fn a_large_sharp_frontal_face_weighs_one() {
        let q = Quality::measure([[100.0, 100.0], [145.0, 100.0]], [122.5, 130.0], &stripes(3));
        assert!((q.eyes_px - 45.0).abs() < 1e-4);
        assert!(q.yaw < 1e-6, "{q:?}");
        assert_eq!(q.weight, 1.0, "{q:?}");
    }

    #[test]
    fn each_poor_measurement_lowers_the_weight() {
        let good = Quality::measure([[100.0, 100.0], [145.0, 100.0]], [122.5, 130.0], &stripes(3));
        let small = Quality::measure([[100.0, 100.0], [110.0, 100.0]], [105.0, 107.0], &stripes(3));
        let turned = Quality::measure([[100.0, 100.0], [145.0, 100.0]], [142.5, 130.0], &stripes(3));
        let flat = Quality::measure([[100.0, 100.0], [145.0, 100.0]], [122.5, 130.0], &RgbImage::from_pixel(150, 150, Rgb([128, 128, 128])));
        let dark = Quality::measure([[100.0, 100.0], [145.0, 100.0]], [122.5, 130.0], &RgbImage::from_fn(150, 150, |x, _| Rgb([(x % 2 * 20) as u8; 3])));
        for (what, q) in [("small", small), ("turned", turned), ("flat", flat), ("dark", dark)] {
            assert!(q.weight < good.weight * 0.5, "{what}: {q:?}");
        }
        // Turned 0.44 eye distances: between the ends of the ramp.
        assert!((turned.yaw - 20.0 / 45.0).abs() < 1e-5 && turned.weight > 0.0, "{turned:?}");
    }

    #[test]
    fn yaw_is_measured_along_the_eye_line_so_roll_does_not_count() {
        // The same frontal face rolled by 40 degrees.
        let (c, s) = (40f32.to_radians().cos(), 40f32.to_radians().sin());
        let rot = |p: [f32; 2]| [c * p[0] - s * p[1], s * p[0] + c * p[1]];
        let q = Quality::measure([rot([-22.5, 0.0]), rot([22.5, 0.0])], rot([0.0, 30.0]), &stripes(3));
        assert!(q.yaw < 1e-5, "{q:?}");
    }
}
