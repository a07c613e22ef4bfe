//! dlib's 5-point shape predictor run by `face::shape` against dlib itself: six LFW crops, some
//! rolled by 30 and 40 degrees and one with a ~60 px face, each with YuNet's box, dlib's HOG box,
//! a fixed upright box and ten jittered copies of YuNet's, and dlib's points for every box
//! (tests/fixtures/dlib/shape, written by `tools/dlib_reference.py shape` with dlib 20.0.1).
use std::path::PathBuf;
use std::time::Instant;

use siamface::face::shape;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture() -> serde_json::Value {
    let path = root().join("tests/fixtures/dlib/shape/shape.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn rect(r: &serde_json::Value) -> [f32; 4] {
    let v: Vec<f32> = r["rect"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
    [v[0], v[1], v[2], v[3]]
}

fn points(r: &serde_json::Value) -> Vec<[f32; 2]> {
    let p = r["points"].as_array().unwrap();
    p.iter().map(|xy| [xy[0].as_f64().unwrap() as f32, xy[1].as_f64().unwrap() as f32]).collect()
}

/// Roll of the line from the image-left eye's centre to the image-right eye's, in degrees
/// (y grows downwards, so a face turned counter-clockwise gives a negative angle).
fn eye_line_degrees(p: &[[f32; 2]]) -> f32 {
    let right = [(p[0][0] + p[1][0]) / 2.0, (p[0][1] + p[1][1]) / 2.0];
    let left = [(p[2][0] + p[3][0]) / 2.0, (p[2][1] + p[3][1]) / 2.0];
    (right[1] - left[1]).atan2(right[0] - left[0]).to_degrees()
}

/// dlib hands back its points rounded to whole pixels (`floor(v + 0.5)`, a `full_object_detection`
/// holds integer points), so agreement to that pixel is what can be checked: each of our
/// coordinates within 0.5 px of dlib's (plus 1e-3 for a point that falls on a half pixel). Over
/// 78 boxes, 780 coordinates, a shift of even 0.05 px would push dozens over the edge; one wrong
/// branch in a tree moves a point by more. (dlib's own loop built from its headers without the
/// last rounding agrees with ours to 1e-5 px; the fixture keeps to what dlib's Python gives.)
#[test]
fn points_match_dlib_to_its_rounding_on_every_box() {
    let sp = shape::builtin().unwrap();
    let fx = fixture();
    let (mut worst, mut sum, mut n) = (0f32, 0f32, 0);
    let (mut images, mut cases) = (Vec::new(), Vec::new());
    for item in fx["images"].as_array().unwrap() {
        let file = item["image"].as_str().unwrap();
        let img = image::open(root().join("tests/fixtures/dlib/shape").join(file)).unwrap().to_rgb8();
        for r in item["rects"].as_array().unwrap() {
            let ours = sp.predict(&img, rect(r));
            for (i, (o, d)) in ours.iter().zip(points(r)).enumerate() {
                for k in 0..2 {
                    let e = (o[k] - d[k]).abs();
                    assert!(e <= 0.5 + 1e-3, "{file}, {} box, point {i}: ours {o:?}, dlib {d:?}", r["source"]);
                    worst = worst.max(e);
                    sum += e;
                    n += 1;
                }
            }
            cases.push((images.len(), rect(r)));
        }
        images.push(img);
    }
    assert_eq!(n, 780);
    // Speed once the model is in the caches, over every box three times.
    let t = Instant::now();
    for &(i, r) in cases.iter().cycle().take(3 * cases.len()) {
        std::hint::black_box(sp.predict(&images[i], r));
    }
    println!(
        "shape predictor vs dlib on {} boxes: max |error| {worst:.3} px, mean {:.3} px (dlib rounds to whole pixels); {:.0} us per face",
        cases.len(),
        sum / n as f32,
        t.elapsed().as_secs_f64() * 1e6 / (3 * cases.len()) as f64
    );
}

/// The reason for the predictor: on faces rolled by 30 and 40 degrees, given an upright box (from
/// YuNet, dlib's detector or a fixed one), the eye line comes out rolled by the same angle (within
/// 6 degrees: the photos' own roll and the model's error; dlib's worst is 4.1), and on upright
/// faces it stays level. The jittered boxes are left out: 10% off, a 40 degree roll can come
/// out 11 degrees wrong, in dlib as here.
#[test]
fn rolled_faces_give_a_rolled_eye_line() {
    let sp = shape::builtin().unwrap();
    let fx = fixture();
    let mut rolled = 0;
    for item in fx["images"].as_array().unwrap() {
        let file = item["image"].as_str().unwrap();
        let roll = item["roll_degrees"].as_f64().unwrap() as f32;
        let img = image::open(root().join("tests/fixtures/dlib/shape").join(file)).unwrap().to_rgb8();
        for r in item["rects"].as_array().unwrap().iter().filter(|r| r["source"] != "jitter") {
            let got = eye_line_degrees(&sp.predict(&img, rect(r)));
            assert!((got + roll).abs() < 6.0, "{file}, {} box: eye line at {got:.1} degrees, face rolled by {roll}", r["source"]);
        }
        rolled += (roll.abs() >= 30.0) as usize;
    }
    assert_eq!(rolled, 4);
}

/// Boxes partly or wholly outside the image read those pixels as 0, as dlib does, and never panic.
#[test]
fn boxes_past_the_image_edge_give_points_without_panicking() {
    let sp = shape::builtin().unwrap();
    let img = image::RgbImage::from_pixel(50, 40, image::Rgb([128, 90, 60]));
    for rect in [[-30.0, -20.0, 60.0, 60.0], [45.0, 35.0, 80.0, 80.0], [500.0, 500.0, 10.0, 10.0], [0.0, 0.0, 0.0, 0.0]] {
        let pts = sp.predict(&img, rect);
        assert!(pts.iter().flatten().all(|v| v.is_finite()), "{rect:?}: {pts:?}");
    }
    let pts = sp.predict(&img, [f32::NAN, 0.0, 10.0, 10.0]);
    assert!(pts.iter().all(|p| p[0].is_nan()), "{pts:?}");
}
