//! The canonical face crop. LFW's deep-funneled images are the training geometry: 250x250 with
//! the face aligned in the middle. A face found in any photo is mapped into that same frame by
//! the similarity transform (rotation, scale, shift) that best puts its five landmarks where LFW's
//! average landmarks are; from the frame on, training images and live faces take one path:
//! `to_input` crops `lfw::FACE_CROP` and resizes to the network's input.
use image::{DynamicImage, RgbImage};

use super::detect::Face;
use crate::config::{Crop, ModelConfig};
use crate::data::{lfw, photo};

pub const CANONICAL_SIZE: u32 = 250;

/// Names how a detection becomes the network's input (`input_from_photo`, `to_input`).
/// Embeddings kept between runs (`eval faces --cache`) are reused only under the same name, so
/// change it with anything that moves a crop.
pub const REVISION: &str = "LFW frame by LFW_LANDMARKS; dlib chip 150/0.25 as extract_image_chip, by dlib's points or YuNet's";

/// Where YuNet puts the five landmarks in LFW deep-funneled images, on average, measured over the
/// first 300 distinct images of `pairs.txt`. The test
/// `lfw_faces_are_found_and_their_landmarks_agree_with_dlibs_and_the_canonical_frame` holds the
/// eyes and nose against dlib's shape predictor on the same images (`DLIB_IN_LFW`'s source).
pub const LFW_LANDMARKS: [[f32; 2]; 5] = [[104.8, 112.1], [146.3, 111.6], [126.1, 136.6], [108.3, 157.0], [144.1, 156.4]];

/// Side of dlib's face chip, the ResNet tower's input.
pub const CHIP_SIZE: u32 = 150;

/// Where dlib's five points (right eye outer and inner corner, left eye outer and inner corner,
/// base of the nose) fall in a 150x150 chip with 25% padding: dlib's mean face shape,
/// `(0.25 + p) * 100`.
pub const CHIP_POINTS: [[f32; 2]; 5] = [[110.96, 46.35], [89.61, 47.90], [37.06, 46.37], [58.41, 47.91], [74.01, 87.78]];

/// Where dlib's shape predictor puts those five points in LFW's deep-funneled images, on
/// average: measured over 1,000 images of `pairs.txt` by `tools/dlib_reference.py landmarks`
/// (results/dlib-python/landmarks.json). With `LFW_LANDMARKS` it ties our canonical frame to
/// dlib's chip: a face is put in the frame by its own landmarks, then the frame is mapped onto
/// the chip by this fixed similarity.
pub const DLIB_IN_LFW: [[f32; 2]; 5] = [[153.518, 112.406], [137.469, 113.24], [96.544, 113.626], [112.76, 113.758], [125.85, 144.78]];

/// The similarity `q = z p + t` (z complex: scale and rotation) that best maps `from` onto `to`
/// in least squares. Returns (z_re, z_im, t_x, t_y).
pub fn similarity(from: &[[f32; 2]], to: &[[f32; 2]]) -> [f32; 4] {
    similarity_weighted(from, to, &[1.0; 5][..from.len().min(5)])
}

/// `similarity` with a weight per point (a point of weight 0 is ignored).
pub fn similarity_weighted(from: &[[f32; 2]], to: &[[f32; 2]], weight: &[f32]) -> [f32; 4] {
    let total: f32 = weight.iter().sum::<f32>().max(f32::MIN_POSITIVE);
    let mean = |v: &[[f32; 2]]| v.iter().zip(weight).fold([0.0, 0.0], |m, (p, w)| [m[0] + w * p[0] / total, m[1] + w * p[1] / total]);
    let (mp, mq) = (mean(from), mean(to));
    let (mut num_re, mut num_im, mut den) = (0f32, 0f32, 0f32);
    for ((p, q), w) in from.iter().zip(to).zip(weight) {
        let (px, py, qx, qy) = (p[0] - mp[0], p[1] - mp[1], q[0] - mq[0], q[1] - mq[1]);
        // conj(p) * q
        num_re += w * (px * qx + py * qy);
        num_im += w * (px * qy - py * qx);
        den += w * (px * px + py * py);
    }
    let (a, b) = if den > 0.0 { (num_re / den, num_im / den) } else { (1.0, 0.0) };
    [a, b, mq[0] - (a * mp[0] - b * mp[1]), mq[1] - (b * mp[0] + a * mp[1])]
}

/// `z` applied to a point.
pub fn apply(z: [f32; 4], p: [f32; 2]) -> [f32; 2] {
    [z[0] * p[0] - z[1] * p[1] + z[2], z[1] * p[0] + z[0] * p[1] + z[3]]
}

/// How much each of YuNet's points (eye centres, nose tip, mouth corners) counts when a face is
/// put on dlib's chip. dlib aligns by four eye corners and the base of the nose, so the eyes
/// weigh most, the nose tip a little, and the mouth, which moves with expression and which
/// dlib's alignment never sees, not at all. Measured on the fixture's twelve LFW faces:
/// descriptors a mean 0.137 from dlib's own pipeline's this way against 0.148 with all five
/// points weighted alike, 0.145 from the eyes alone (same-person threshold 0.6;
/// `our_chip_of_an_lfw_photo_is_close_to_dlibs_chip_and_descriptor`).
pub const CHIP_WEIGHTS: [f32; 5] = [2.0, 2.0, 1.0, 0.0, 0.0];

/// The photo -> chip similarity for a face's five YuNet landmarks, with `weights` per point:
/// the landmarks are fitted to where YuNet puts them in the canonical frame, carried onto the
/// chip by the calibrated frame -> chip map.
pub fn chip_transform(landmarks: &[[f32; 2]; 5], weights: &[f32; 5]) -> [f32; 4] {
    let f = frame_to_chip();
    let template = LFW_LANDMARKS.map(|p| apply(f, p));
    similarity_weighted(landmarks, &template, weights)
}

/// `b` after `a`: the similarity `p -> b(a(p))`.
pub fn compose(a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
    let [a1, b1, x1, y1] = a;
    let [a2, b2, x2, y2] = b;
    [a2 * a1 - b2 * b1, a2 * b1 + b2 * a1, a2 * x1 - b2 * y1 + x2, b2 * x1 + a2 * y1 + y2]
}

/// The fixed map from the canonical LFW frame to dlib's chip.
pub fn frame_to_chip() -> [f32; 4] {
    similarity(&DLIB_IN_LFW, &CHIP_POINTS)
}

/// `img` resampled (bilinear; outside the photo is black) so that `z` (photo -> output) holds.
pub fn warp(img: &RgbImage, z: [f32; 4], size: u32) -> RgbImage {
    resample(img, z, size, 0.5)
}

/// dlib's 150x150 chip for the photo -> chip similarity `z`: `warp`, except that each
/// interpolated value is truncated to its byte, as dlib's `extract_image_chip` does, not
/// rounded. With `dlib_chip_transform` this is dlib's own chip to within 0.02 grey levels on
/// average (tests/fixtures/dlib/pose); rounding instead moves every pixel by half a level and
/// the descriptor by about 0.005.
pub fn chip(img: &RgbImage, z: [f32; 4]) -> RgbImage {
    resample(img, z, CHIP_SIZE, 0.0)
}

/// `warp` with `bias` added before the cast to a byte (0.5 rounds, 0 truncates). Runs for every
/// face of every video frame, so it reads and writes the raw buffers directly.
fn resample(img: &RgbImage, z: [f32; 4], size: u32, bias: f32) -> RgbImage {
    let [a, b, tx, ty] = z;
    let det = a * a + b * b;
    let (wi, hi) = (img.width() as usize, img.height() as usize);
    let (w, h) = (wi as f32, hi as f32);
    let src = img.as_raw();
    let n = size as usize;
    let mut out = vec![0u8; n * n * 3];
    if wi == 0 || hi == 0 {
        return RgbImage::from_raw(size, size, out).expect("sized above");
    }
    for v in 0..n {
        let qy = v as f32 - ty;
        for u in 0..n {
            // p = (q - t) / z, with 1/z = conj(z) / |z|^2.
            let qx = u as f32 - tx;
            let (x, y) = ((a * qx + b * qy) / det, (a * qy - b * qx) / det);
            if !(x >= 0.0 && y >= 0.0 && x <= w - 1.0 && y <= h - 1.0) {
                continue;
            }
            let (x0, y0) = (x.floor() as usize, y.floor() as usize);
            let (x1, y1) = ((x0 + 1).min(wi - 1), (y0 + 1).min(hi - 1));
            let (fx, fy) = (x - x0 as f32, y - y0 as f32);
            let (i00, i10, i01, i11) = (3 * (y0 * wi + x0), 3 * (y0 * wi + x1), 3 * (y1 * wi + x0), 3 * (y1 * wi + x1));
            let o = 3 * (v * n + u);
            for c in 0..3 {
                let top = src[i00 + c] as f32 * (1.0 - fx) + src[i10 + c] as f32 * fx;
                let bottom = src[i01 + c] as f32 * (1.0 - fx) + src[i11 + c] as f32 * fx;
                out[o + c] = (top * (1.0 - fy) + bottom * fy + bias) as u8;
            }
        }
    }
    RgbImage::from_raw(size, size, out).expect("sized above")
}

/// The photo -> canonical frame similarity for `face`: by dlib's points where known (to where
/// dlib puts them in LFW's frame), else by YuNet's.
pub fn frame_transform(face: &Face) -> [f32; 4] {
    match &face.points {
        Some(p) => similarity(p, &DLIB_IN_LFW),
        None => similarity(&face.landmarks, &LFW_LANDMARKS),
    }
}

/// The photo -> chip similarity for `face`: dlib's own alignment (`dlib_chip_transform`) where
/// dlib's points are known, else from YuNet's through the canonical frame.
pub fn face_chip_transform(face: &Face) -> [f32; 4] {
    match &face.points {
        Some(p) => dlib_chip_transform(p),
        None => chip_transform(&face.landmarks, &CHIP_WEIGHTS),
    }
}

/// The photo -> chip similarity of dlib's `get_face_chip_details(points, 150, 0.25)` as
/// `extract_image_chip` applies it. dlib fits the chip -> photo similarity (its mean face onto
/// the five points), not the photo -> chip one; the two differ where the points fit the mean
/// face loosely, as a turned head's do (8.6 grey levels apart on the chip of one). It then
/// keeps only the fit's angle and scale `s` and a rectangle centred on where the fit puts the
/// chip's point (75, 75), `150 s - 1` photo pixels wide, whose corners are the chip's corner
/// pixels (0 and 149): chip pixel `q` lands at `centre + R (150 s - 1) / 149 (q - 74.5)`, half a
/// pixel off the fit itself. Taken together the two account for a descriptor distance of
/// 0.045-0.16 to dlib's own from the very same points (tests/fixtures/dlib/pose).
pub fn dlib_chip_transform(points: &[[f32; 2]; 5]) -> [f32; 4] {
    let fit = similarity(&CHIP_POINTS, points);
    let n = CHIP_SIZE as f32;
    let s = fit[0].hypot(fit[1]);
    let k = (n * s - 1.0) / (n - 1.0) / s;
    let (a, b) = (k * fit[0], k * fit[1]);
    let centre = apply(fit, [n / 2.0, n / 2.0]);
    let mid = (n - 1.0) / 2.0;
    let (tx, ty) = (centre[0] - (a - b) * mid, centre[1] - (a + b) * mid);
    // The inverse of p = (a, b) q + t: q = conj(a, b) (p - t) / |(a, b)|^2.
    let d = a * a + b * b;
    [a / d, -b / d, -(a * tx + b * ty) / d, -(a * ty - b * tx) / d]
}

/// The face mapped into the 250x250 LFW frame (bilinear; outside the photo is black).
pub fn canonical(img: &RgbImage, face: &Face) -> RgbImage {
    warp(img, frame_transform(face), CANONICAL_SIZE)
}

/// The network's input bytes for the face `face` of `img`, cut from the photo in one
/// resampling: through the canonical frame for Koch's towers, straight onto dlib's chip for the
/// ResNet (`chip_transform`).
pub fn input_from_photo(img: &RgbImage, face: &Face, cfg: &ModelConfig) -> Vec<u8> {
    match cfg.crop {
        Crop::Lfw => to_input(&canonical(img, face), cfg),
        Crop::DlibChip => chip_bytes(&chip(img, face_chip_transform(face)), cfg),
    }
}

/// The network's input for `face` and dlib's 150 px chip of it (which `quality` measures): for
/// the ResNet they are one image, cut once.
pub fn input_and_chip(img: &RgbImage, face: &Face, cfg: &ModelConfig) -> (Vec<u8>, RgbImage) {
    let cut = chip(img, face_chip_transform(face));
    let input = match cfg.crop {
        Crop::Lfw => to_input(&canonical(img, face), cfg),
        Crop::DlibChip => chip_bytes(&cut, cfg),
    };
    (input, cut)
}

/// How far `face` can be trusted, from its points and its chip.
pub fn quality(face: &Face, chip: &RgbImage) -> super::quality::Quality {
    let mid = |a: [f32; 2], b: [f32; 2]| [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0];
    match &face.points {
        Some(p) => super::quality::Quality::measure([mid(p[2], p[3]), mid(p[0], p[1])], p[4], chip),
        None => super::quality::Quality::measure([face.landmarks[0], face.landmarks[1]], face.landmarks[2], chip),
    }
}

fn chip_bytes(chip: &RgbImage, cfg: &ModelConfig) -> Vec<u8> {
    if (cfg.width, cfg.height, cfg.channels) == (CHIP_SIZE as usize, CHIP_SIZE as usize, 3) {
        return chip.as_raw().clone();
    }
    photo::prepare(&DynamicImage::ImageRgb8(chip.clone()), photo::Crop::FULL, cfg.width, cfg.height, cfg.channels)
}

/// A face in the canonical frame as the network's input bytes (`height x width x channels`).
pub fn to_input(canonical: &RgbImage, cfg: &ModelConfig) -> Vec<u8> {
    if cfg.crop == Crop::DlibChip {
        return chip_bytes(&warp(canonical, frame_to_chip(), CHIP_SIZE), cfg);
    }
    photo::prepare(&DynamicImage::ImageRgb8(canonical.clone()), lfw::FACE_CROP, cfg.width, cfg.height, cfg.channels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn similarity_recovers_a_known_transform() {
        // z = 2 (cos 30, sin 30), t = (5, -3).
        let (a, b) = (2.0 * 30f32.to_radians().cos(), 2.0 * 30f32.to_radians().sin());
        let from = [[0.0, 0.0], [10.0, 0.0], [3.0, 7.0], [-4.0, 2.0]];
        let to: Vec<[f32; 2]> = from.iter().map(|p| [a * p[0] - b * p[1] + 5.0, b * p[0] + a * p[1] - 3.0]).collect();
        let [ra, rb, tx, ty] = similarity(&from, &to);
        for (got, want) in [(ra, a), (rb, b), (tx, 5.0), (ty, -3.0)] {
            assert!((got - want).abs() < 1e-4, "{got} vs {want}");
        }
    }

    /// Points exactly on dlib's mean face (scale 1, no angle): dlib's chip is the photo moved by
    /// half a pixel, since its rectangle is centred on (75, 75) but chip pixel 74.5 is the
    /// chip's middle.
    #[test]
    fn dlib_chip_of_points_on_the_mean_face_is_half_a_pixel_in() {
        let z = dlib_chip_transform(&CHIP_POINTS);
        for (got, want) in z.iter().zip([1.0, 0.0, -0.5, -0.5]) {
            assert!((got - want).abs() < 1e-4, "{z:?}");
        }
    }

    /// A face twice the chip's size, turned by 30 degrees: the chip's corner pixels 0 and 149
    /// land on the corners of dlib's rectangle, `150 s - 1` wide and centred where the fit puts
    /// (75, 75), turned about its centre.
    #[test]
    fn dlib_chip_corners_land_on_dlibs_rectangle() {
        let (s, angle) = (2.0f32, 30f32.to_radians());
        let to_photo = [s * angle.cos(), s * angle.sin(), 40.0, -12.0];
        let points = CHIP_POINTS.map(|q| apply(to_photo, q));
        let z = dlib_chip_transform(&points);
        let centre = apply(to_photo, [75.0, 75.0]);
        let half = (150.0 * s - 1.0) / 2.0;
        for (q, corner) in [([0.0, 0.0], [-half, -half]), ([149.0, 0.0], [half, -half]), ([0.0, 149.0], [-half, half])] {
            let (c, sn) = (angle.cos(), angle.sin());
            let p = [centre[0] + c * corner[0] - sn * corner[1], centre[1] + sn * corner[0] + c * corner[1]];
            let back = apply(z, p);
            assert!((back[0] - q[0]).abs() < 1e-3 && (back[1] - q[1]).abs() < 1e-3, "{q:?} -> {p:?} -> {back:?}");
        }
    }

    #[test]
    fn canonical_puts_the_landmarks_on_lfws() {
        // A photo whose landmarks are LFW's shifted so that the first eye lands on pixel
        // (135, 133): a bright dot there must come back at LFW's first eye.
        let mut img = RgbImage::new(320, 300);
        let shift = [135.0 - LFW_LANDMARKS[0][0], 133.0 - LFW_LANDMARKS[0][1]];
        let lm = LFW_LANDMARKS.map(|p| [p[0] + shift[0], p[1] + shift[1]]);
        img.put_pixel(135, 133, Rgb([255, 255, 255]));
        let c = canonical(&img, &Face { rect: [0.0; 4], score: 1.0, landmarks: lm, points: None });
        let (x, y) = (LFW_LANDMARKS[0][0].round() as u32, LFW_LANDMARKS[0][1].round() as u32);
        assert!(c.get_pixel(x, y).0[0] > 100, "{:?}", c.get_pixel(x, y));
        assert_eq!(c.get_pixel(10, 10).0, [0, 0, 0]);
    }
}
