//! Face detection with YuNet (libfacedetection, OpenCV Zoo 2023mar, Apache-2.0), run in pure Rust
//! by tract. The model (230 KB) is compiled into the binary, so nothing is downloaded or looked
//! up at run time. It gives a box, a score and five landmarks (both eyes, the nose tip, both
//! mouth corners) for every face.
use image::RgbImage;
use tract_onnx::prelude::*;

use crate::error::{Error, Result};

/// File name, ONNX bytes and input side.
type Spec = (&'static str, &'static [u8], usize);

/// The detector for photos: the larger network at 640x640, for small faces in big pictures.
const PRECISE: Spec = ("yunet_s_640_640.onnx", include_bytes!("../../models/detector/yunet_s_640_640.onnx"), 640);
/// The detector for live frames: the smallest network at 320x320, about 6x cheaper; faces in a
/// webcam frame are large, and the crop is still cut from the full-resolution frame.
const FAST: Spec = ("yunet_n_320_320.onnx", include_bytes!("../../models/detector/yunet_n_320_320.onnx"), 320);
/// The precise network's input side; frames are scaled to fit and padded.
pub const INPUT: usize = PRECISE.2;
const STRIDES: [usize; 3] = [8, 16, 32];
/// The most a picture is enlarged to fill the network's input: 2.56, what LFW's 250x250 photos
/// get at 640 (every number measured on LFW, the landmark frame and `dlib_box` among them, was
/// measured there; larger pictures are shrunk as before). A smaller picture is nearly always a
/// crop around a face, and enlarged to fill 640 its face grows past ~300 px, where YuNet's
/// confidence falls: a frontal 143 px crop (tests/fixtures/dlib/pose) scored 0.77 at 4.5x,
/// under `min_score`, and 0.93 at 2.56x; faces rolled by 40 degrees in 180 px crops 0.70 and 0.74
/// at 3.5x, 0.85 and 0.87 at 2.56x.
const MAX_ENLARGEMENT: f32 = 2.56;

/// Names what `Detector::detect` returns for a photo. Detections kept between runs
/// (`eval faces --cache`) are reused only under the same name, so change it with anything that
/// moves a detection or its points: the network, the input scale, `min_score`, the overlap of
/// non-maximum suppression, `dlib_box`, the shape predictor.
pub const REVISION: &str = "yunet_s_640 at most 2.56x, score 0.8, nms 0.3; dlib's 5 points in dlib_box";

/// A detected face, in the pixel coordinates of the image it was found in.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Face {
    /// x, y, width, height.
    pub rect: [f32; 4],
    pub score: f32,
    /// The subject's right eye, left eye, nose tip, right and left mouth corners (so the first
    /// point is on the image's left).
    pub landmarks: [[f32; 2]; 5],
    /// dlib's five points (`face::shape`), found from the box: the outer and inner corners of
    /// the eye on the image's right, the same of the other eye, the base of the nose. YuNet's
    /// own points lean towards an upright face when the head rolls; these do not, and they are
    /// the points the ResNet's chip is defined by. `None` where only YuNet's are known (older
    /// caches, tests).
    #[serde(default)]
    pub points: Option<[[f32; 2]; 5]>,
}

impl Face {
    pub fn area(&self) -> f32 {
        self.rect[2] * self.rect[3]
    }
}

pub struct Detector {
    precise: Net,
    /// Compiled on first use: only the server's live frames need it, and compiling it would
    /// add ~30 ms to every command-line call.
    fast: std::sync::OnceLock<Net>,
    /// Faces scoring below this are dropped (OpenCV's default for YuNet is 0.9).
    pub min_score: f32,
}

/// One compiled YuNet network and its fixed input side.
struct Net {
    file: &'static str,
    model: std::sync::Arc<TypedRunnableModel>,
    side: usize,
}

impl Net {
    fn new((file, bytes, side): Spec) -> Result<Self> {
        let model = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .and_then(|m| m.with_input_fact(0, f32::fact([1, 3, side, side]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| tract_err(file, e))?;
        Ok(Net { file, model, side })
    }
}

fn tract_err(file: &str, e: impl std::fmt::Display) -> Error {
    Error::ModelFile { path: format!("models/detector/{file}").into(), reason: e.to_string() }
}

impl Detector {
    pub fn new() -> Result<Self> {
        Ok(Detector { precise: Net::new(PRECISE)?, fast: std::sync::OnceLock::new(), min_score: 0.8 })
    }

    /// Every face above `min_score`, largest first, found by the larger network at 640x640:
    /// for photos (enrolment, the command line), where faces may be small.
    pub fn detect(&self, img: &RgbImage) -> Result<Vec<Face>> {
        self.run(&self.precise, img)
    }

    /// The same from the small network at 320x320: for live frames, where a face 24 px wide or
    /// more in a 640x480 frame is still 12 px at the network's scale.
    pub fn detect_fast(&self, img: &RgbImage) -> Result<Vec<Face>> {
        let net = match self.fast.get() {
            Some(net) => net,
            None => {
                // Two first calls at once may both compile it; the first to finish is kept.
                let _ = self.fast.set(Net::new(FAST)?);
                self.fast.get().expect("set just above")
            }
        };
        self.run(net, img)
    }

    fn run(&self, net: &Net, img: &RgbImage) -> Result<Vec<Face>> {
        let side = net.side;
        let err = |e: &dyn std::fmt::Display| tract_err(net.file, e);
        let (w, h) = (img.width() as usize, img.height() as usize);
        if w == 0 || h == 0 {
            return Ok(Vec::new());
        }
        let scale = (side as f32 / w.max(h) as f32).min(MAX_ENLARGEMENT);
        let (sw, sh) = (((w as f32 * scale).round() as u32).max(1), ((h as f32 * scale).round() as u32).max(1));
        let small = image::imageops::resize(img, sw, sh, image::imageops::FilterType::Triangle);
        // BGR, 0-255, NCHW, padded with zeros on the right and bottom.
        let mut input = tract_ndarray::Array4::<f32>::zeros((1, 3, side, side));
        for (x, y, p) in small.enumerate_pixels() {
            for c in 0..3 {
                input[[0, c, y as usize, x as usize]] = p.0[2 - c] as f32;
            }
        }
        let out = net.model.run(tvec!(Tensor::from(input).into())).map_err(|e| err(&e))?;
        let view = |i: usize| out[i].to_plain_array_view::<f32>().map_err(|e| err(&e));
        let mut faces = Vec::new();
        for (k, &stride) in STRIDES.iter().enumerate() {
            let (cls, obj, bbox, kps) = (view(k)?, view(3 + k)?, view(6 + k)?, view(9 + k)?);
            let cols = side / stride;
            let cells = cls.len();
            let cls = cls.as_slice().ok_or_else(|| err(&"non-contiguous output"))?;
            let obj = obj.as_slice().ok_or_else(|| err(&"non-contiguous output"))?;
            let bbox = bbox.as_slice().ok_or_else(|| err(&"non-contiguous output"))?;
            let kps = kps.as_slice().ok_or_else(|| err(&"non-contiguous output"))?;
            for i in 0..cells {
                let score = (cls[i].clamp(0.0, 1.0) * obj[i].clamp(0.0, 1.0)).sqrt();
                if score < self.min_score {
                    continue;
                }
                let (r, c, s) = ((i / cols) as f32, (i % cols) as f32, stride as f32);
                let b = &bbox[i * 4..i * 4 + 4];
                let (cx, cy, bw, bh) = ((c + b[0]) * s, (r + b[1]) * s, b[2].exp() * s, b[3].exp() * s);
                let mut landmarks = [[0f32; 2]; 5];
                for (n, l) in landmarks.iter_mut().enumerate() {
                    *l = [(kps[i * 10 + 2 * n] + c) * s / scale, (kps[i * 10 + 2 * n + 1] + r) * s / scale];
                }
                faces.push(Face { rect: [(cx - bw / 2.0) / scale, (cy - bh / 2.0) / scale, bw / scale, bh / scale], score, landmarks, points: None });
            }
        }
        let mut kept = nms(faces, 0.3);
        kept.sort_by(|a, b| b.area().total_cmp(&a.area()));
        let shape = super::shape::builtin()?;
        for f in &mut kept {
            f.points = Some(shape.predict(img, dlib_box(f.rect)));
        }
        Ok(kept)
    }
}

/// The box dlib's own detector would draw around the face YuNet boxed: square, 1.127 times
/// YuNet's width, centred 3.2% of the width further left and 3.5% of the height lower (fitted
/// on 250 LFW faces with dlib's HOG detector). The shape predictor was trained on dlib's boxes;
/// given this one its points move 0.9% of the eye distance from what dlib's box gives, 2.7%
/// given YuNet's as it is.
pub fn dlib_box(r: [f32; 4]) -> [f32; 4] {
    let side = 1.127 * r[2];
    let (cx, cy) = (r[0] + r[2] / 2.0 - 0.032 * r[2], r[1] + r[3] / 2.0 + 0.035 * r[3]);
    [cx - side / 2.0, cy - side / 2.0, side, side]
}

/// Box overlap: intersection over union (non-maximum suppression here, track linking in
/// `face::track`).
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let (x1, y1) = (a[0].max(b[0]), a[1].max(b[1]));
    let (x2, y2) = ((a[0] + a[2]).min(b[0] + b[2]), (a[1] + a[3]).min(b[1] + b[3]));
    let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
    inter / (a[2] * a[3] + b[2] * b[3] - inter).max(1e-6)
}

/// Greedy non-maximum suppression: the best-scoring box wins over any box it overlaps more than
/// `threshold` (intersection over union).
fn nms(mut faces: Vec<Face>, threshold: f32) -> Vec<Face> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Face> = Vec::new();
    for f in faces {
        if kept.iter().all(|k| iou(&k.rect, &f.rect) <= threshold) {
            kept.push(f);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, score: f32) -> Face {
        Face { rect: [x, 0.0, 10.0, 10.0], score, landmarks: [[0.0; 2]; 5], points: None }
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let kept = nms(vec![face(0.0, 0.8), face(1.0, 0.95), face(30.0, 0.85)], 0.3);
        assert_eq!(kept.iter().map(|f| f.score).collect::<Vec<_>>(), vec![0.95, 0.85]);
    }

    #[test]
    fn iou_of_half_overlap() {
        // Two 10x10 boxes overlapping in a 5x10 strip: 50 / 150.
        assert!((iou(&[0.0, 0.0, 10.0, 10.0], &[5.0, 0.0, 10.0, 10.0]) - 1.0 / 3.0).abs() < 1e-6);
    }
}
