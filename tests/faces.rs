//! Face detection and the canonical crop on real photos from ../shared/data.
use std::path::PathBuf;

use siamface::data::lfw::{self, Pairs};
use siamface::data::photo;
use siamface::face::{self, align::LFW_LANDMARKS, Detector};
use siamface::ModelConfig;

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

/// The first `n` distinct images named in pairs.txt.
fn lfw_sample(n: usize) -> Vec<PathBuf> {
    let root = shared().join("lfw");
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

#[test]
fn lfw_faces_are_found_and_their_landmarks_sit_where_the_canonical_frame_says() {
    let det = Detector::new().unwrap();
    let sample = lfw_sample(300);
    let mut found = 0;
    let mut sum = [[0f64; 2]; 5];
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
        for (s, l) in sum.iter_mut().zip(&f.landmarks) {
            s[0] += l[0] as f64;
            s[1] += l[1] as f64;
        }
    }
    let recall = found as f64 / sample.len() as f64;
    let mean: Vec<[f64; 2]> = sum.iter().map(|s| [s[0] / found as f64, s[1] / found as f64]).collect();
    eprintln!("LFW recall {recall:.3} over {} images; mean landmarks {mean:.1?}", sample.len());
    assert!(recall >= 0.97, "recall {recall}");
    for (m, c) in mean.iter().zip(LFW_LANDMARKS) {
        assert!((m[0] - c[0] as f64).abs() < 2.0 && (m[1] - c[1] as f64).abs() < 2.0, "mean {m:?} vs constant {c:?}");
    }
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
        let path = shared().join(format!("att_faces/s{person}/1.pgm"));
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
    let ch = photo::open(&shared().join("omniglot/all_runs/run01/training/class01.png")).unwrap().to_rgb8();
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
