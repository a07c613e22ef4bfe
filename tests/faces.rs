//! Face detection and the canonical crop on real photos of the data folder (`common::data_root`).
use std::path::PathBuf;

use siamface::data::lfw::{self, Pairs};
use siamface::data::photo;
use siamface::face::{self, align::LFW_LANDMARKS, Detector};
use siamface::ModelConfig;

use crate::common::shared;

/// The first `n` distinct images named in pairs.txt.
fn lfw_sample(n: usize) -> Vec<PathBuf> {
    let root = shared("lfw");
    let pairs = Pairs::parse(&root.join("pairs.txt")).unwrap();
    let mut out: Vec<PathBuf> = Vec::new();
    for p in pairs.folds.iter().flatten() {
        for f in [&p.a, &p.b] {
            let path = f.path(&root.join("images_deepfunneled"));
            if !out.contains(&path) {
                out.push(path);
            }
        }
        if out.len() >= n {
            break;
        }
    }
    out.truncate(n);
    out
}

/// dlib's five points (right eye outer and inner corner, left eye outer and inner corner, base of
/// the nose) on 1,000 LFW images of `pairs.txt`, as dlib's own shape predictor put them:
/// written by `tools/dlib_reference.py landmarks` (dlib's Python, nothing of ours), kept in
/// results/dlib-python/landmarks.json. Keys are `NAME/NAME_NNNN.jpg`.
fn dlib_points() -> std::collections::HashMap<String, [[f32; 2]; 5]> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results/dlib-python/landmarks.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap();
    let point = |p: &serde_json::Value| [p[0].as_f64().unwrap() as f32, p[1].as_f64().unwrap() as f32];
    v["per_image"].as_object().unwrap().iter().map(|(k, ps)| (k.clone(), std::array::from_fn(|i| point(&ps[i])))).collect()
}

fn dist(a: [f32; 2], b: [f32; 2]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

fn mid(a: [f32; 2], b: [f32; 2]) -> [f32; 2] {
    [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0]
}

/// YuNet's five points (eye centres, nose tip, mouth corners; the person's right eye first, so
/// the one on the image's left) against a reference that owes nothing to our detector: dlib's
/// shape predictor on the same images (`dlib_points`). Each eye centre must lie near the middle
/// of dlib's two corners of that eye, the nose tip above dlib's nose base and in line with it;
/// every point inside the detected box, in the order a face has them. The canonical frame's
/// constant `LFW_LANDMARKS` must then agree with dlib's average eyes and nose over the same
/// images: a wrong constant, or a detector whose points moved, fails here.
#[test]
fn lfw_faces_are_found_and_their_landmarks_agree_with_dlibs_and_the_canonical_frame() {
    let det = Detector::new().unwrap();
    let dlib = dlib_points();
    let sample = lfw_sample(300);
    let (mut found, mut compared) = (0, 0);
    let (mut eye_err, mut misplaced) = (Vec::new(), Vec::new());
    let mut sums = [[0f64; 2]; 4]; // dlib's right eye centre, left eye centre, nose base; YuNet's nose tip
    let mut geometry = Vec::new();
    for path in &sample {
        let img = photo::open(path).unwrap().to_rgb8();
        let faces = det.detect(&img).unwrap();
        // The aligned face is the one nearest the centre (others may be in the background).
        let Some(f) = faces.iter().min_by(|a, b| {
            let d = |f: &face::Face| (f.rect[0] + f.rect[2] / 2.0 - 125.0).abs() + (f.rect[1] + f.rect[3] / 2.0 - 125.0).abs();
            d(a).total_cmp(&d(b))
        }) else {
            continue;
        };
        found += 1;
        let [re, le, nose, rm, lm] = f.landmarks;
        let [x, y, w, h] = f.rect;
        let eyes = dist(re, le);
        let inside = f.landmarks.iter().all(|p| p[0] >= x && p[0] <= x + w && p[1] >= y && p[1] <= y + h);
        let ordered = re[0] < le[0] && rm[0] < lm[0] && re[1].max(le[1]) < nose[1] && nose[1] < rm[1].min(lm[1]) && nose[0] > re[0] && nose[0] < le[0];
        // Proportions of a face: the mouth about as wide as the eyes are apart (0.86 on
        // average here), the mouth below the eyes by about that distance.
        let mouth = dist(rm, lm) / eyes;
        let drop = (mid(rm, lm)[1] - mid(re, le)[1]) / eyes;
        let plausible = (0.5..1.3).contains(&mouth) && (0.7..1.6).contains(&drop) && eyes > 0.15 * w && eyes < 0.7 * w;
        if !(inside && ordered && plausible) {
            geometry.push(format!("{}: box {:?} points {:?}", path.display(), f.rect, f.landmarks));
        }
        let key = path.iter().rev().take(2).collect::<Vec<_>>().into_iter().rev().collect::<PathBuf>();
        let Some(d) = dlib.get(key.to_str().unwrap()) else { continue };
        compared += 1;
        // Eyes are matched by their side in the image, whatever each tool calls them.
        let (dlib_img_right, dlib_img_left) = (mid(d[0], d[1]), mid(d[2], d[3]));
        let (dl, dr) = if dlib_img_left[0] < dlib_img_right[0] { (dlib_img_left, dlib_img_right) } else { (dlib_img_right, dlib_img_left) };
        let err = dist(re, dl).max(dist(le, dr)) / eyes;
        eye_err.push(err);
        // The nose tip sits above the base of the nose and in line with it.
        if !(nose[1] < d[4][1] && (nose[0] - d[4][0]).abs() < 0.25 * eyes) {
            misplaced.push(format!("{}: nose tip {nose:?}, dlib's nose base {:?}", key.display(), d[4]));
        }
        for (s, p) in sums.iter_mut().zip([dl, dr, d[4], nose]) {
            s[0] += p[0] as f64;
            s[1] += p[1] as f64;
        }
    }
    let recall = found as f64 / sample.len() as f64;
    eye_err.sort_by(f32::total_cmp);
    let (median, p90) = (eye_err[eye_err.len() / 2], eye_err[eye_err.len() * 9 / 10]);
    let mean: Vec<[f64; 2]> = sums.iter().map(|s| [s[0] / compared as f64, s[1] / compared as f64]).collect();
    eprintln!(
        "LFW recall {recall:.3} over {} images; {compared} compared with dlib: eye centre to dlib's corners' middle, in eye distances: median {median:.3}, 90th percentile {p90:.3}; dlib's mean eyes {:.1?} {:.1?}, nose base {:.1?}; YuNet's mean nose tip {:.1?}; {} faces out of proportion, {} noses out of place",
        sample.len(),
        mean[0],
        mean[1],
        mean[2],
        mean[3],
        geometry.len(),
        misplaced.len()
    );
    assert!(recall >= 0.97, "recall {recall}");
    assert!(compared >= 250, "only {compared} images in dlib's reference");
    // Eye centres are 41 px apart in this frame: a tenth of that is 4 px.
    assert!(median < 0.1 && p90 < 0.2, "eye centres away from dlib's: median {median}, 90th percentile {p90} eye distances");
    assert!(geometry.len() * 50 <= found, "{} of {found} faces with points outside the box, out of order or out of proportion: {geometry:#?}", geometry.len());
    // A few photos hold a second face that dlib took instead, or a head turned far enough
    // for the two tools to part (6 of 298 when written).
    assert!(misplaced.len() * 20 <= compared, "{} of {compared} noses away from dlib's: {misplaced:#?}", misplaced.len());
    // The constant the canonical frame is built on, against dlib's average over these images.
    let (c_re, c_le, c_nose) = (LFW_LANDMARKS[0], LFW_LANDMARKS[1], LFW_LANDMARKS[2]);
    for (what, c, m) in [("right eye", c_re, mean[0]), ("left eye", c_le, mean[1])] {
        assert!((c[0] as f64 - m[0]).abs() < 2.0 && (c[1] as f64 - m[1]).abs() < 2.5, "LFW_LANDMARKS {what} {c:?} vs dlib's mean {m:?}");
    }
    assert!((c_nose[0] as f64 - mean[2][0]).abs() < 2.0 && (c_nose[1] as f64) < mean[2][1], "LFW_LANDMARKS nose tip {c_nose:?} vs dlib's mean nose base {:?}", mean[2]);
}

#[test]
fn a_face_detected_in_an_lfw_photo_crops_like_its_training_crop() {
    let det = Detector::new().unwrap();
    for fast in [false, true] {
        crops_like_training(&det, fast);
    }
}

fn crops_like_training(det: &Detector, fast: bool) {
    let cfg = ModelConfig::face100();
    let (mut trains, mut lives) = (Vec::new(), Vec::new());
    for path in lfw_sample(20) {
        let img = photo::open(&path).unwrap();
        trains.push(photo::prepare(&img, lfw::FACE_CROP, cfg.width, cfg.height, cfg.channels));
        let rgb = img.to_rgb8();
        let faces = if fast { det.detect_fast(&rgb) } else { det.detect(&rgb) }.unwrap();
        let f = faces.iter().find(|f| (f.rect[0] + f.rect[2] / 2.0 - 125.0).abs() < 40.0).expect("central face");
        lives.push(face::to_input(&face::canonical(&rgb, f), &cfg));
    }
    let mad = |a: &[u8], b: &[u8]| a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).abs()).sum::<f64>() / a.len() as f64;
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let n = trains.len();
    let same = median((0..n).map(|i| mad(&lives[i], &trains[i])).collect());
    // The baseline: each live crop against the training crop of the next image.
    let other = median((0..n).map(|i| mad(&lives[i], &trains[(i + 1) % n])).collect());
    eprintln!("{} detector: mean absolute difference (0-255) of the live crop to its own training crop: median {same:.1}; to another image's: {other:.1}", if fast { "fast" } else { "precise" });
    assert!(same < 0.5 * other, "own {same} vs other {other}");
}

#[test]
fn att_faces_are_found_in_small_grayscale_pgms() {
    let det = Detector::new().unwrap();
    let mut found = 0;
    for person in 1..=10 {
        let path = shared(&format!("att_faces/s{person}/1.pgm"));
        let img = photo::open(&path).unwrap().to_rgb8();
        assert_eq!((img.width(), img.height()), (92, 112));
        let faces = det.detect(&img).unwrap();
        if let Some(f) = faces.first() {
            // The face fills most of the frame; its box lies inside the picture.
            assert!(f.rect[2] > 30.0 && f.rect[2] < 110.0, "{path:?}: {:?}", f.rect);
            found += 1;
        }
    }
    assert!(found >= 9, "{found}/10 AT&T faces found");
}

#[test]
fn no_face_in_a_blank_frame_or_a_character() {
    let det = Detector::new().unwrap();
    assert!(det.detect(&image::RgbImage::new(640, 480)).unwrap().is_empty());
    let ch = photo::open(&shared("omniglot/all_runs/run01/training/class01.png")).unwrap().to_rgb8();
    assert!(det.detect(&ch).unwrap().is_empty());
    assert!(det.detect(&image::RgbImage::new(0, 0)).unwrap().is_empty());
}

/// The live page's detector (the small network at 320x320) against the photo detector: it finds
/// the same LFW faces, and its landmarks, which place the crop, sit within a few pixels of the
/// precise ones.
#[test]
fn the_fast_detector_finds_lfw_faces_with_landmarks_near_the_precise_ones() {
    let det = Detector::new().unwrap();
    let sample = lfw_sample(300);
    let central = |faces: Vec<face::Face>| faces.into_iter().find(|f| (f.rect[0] + f.rect[2] / 2.0 - 125.0).abs() < 40.0 && (f.rect[1] + f.rect[3] / 2.0 - 125.0).abs() < 40.0);
    let (mut found, mut dists) = (0, Vec::new());
    for path in &sample {
        let img = photo::open(path).unwrap().to_rgb8();
        let Some(fast) = central(det.detect_fast(&img).unwrap()) else { continue };
        found += 1;
        if let Some(precise) = central(det.detect(&img).unwrap()) {
            let d: f32 = fast.landmarks.iter().zip(&precise.landmarks).map(|(a, b)| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()).sum::<f32>() / 5.0;
            dists.push(d);
        }
    }
    dists.sort_by(|a, b| a.total_cmp(b));
    let recall = found as f64 / sample.len() as f64;
    let (median, p90) = (dists[dists.len() / 2], dists[dists.len() * 9 / 10]);
    eprintln!("fast detector: LFW recall {recall:.3}; landmark distance to the precise detector's (px, 250x250 photo): median {median:.2}, 90th percentile {p90:.2}");
    assert!(recall >= 0.97, "recall {recall}");
    // The eyes are 41 px apart in this frame: 4.5 px is a small fraction of the face (the
    // crop test below measures what it does to the network's input).
    assert!(median < 4.5, "median landmark distance {median}");

}
