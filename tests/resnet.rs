//! The ResNet face tower: dlib's file is read whole and converts to the shipped weights, and our
//! engine computes dlib's own descriptors (tests/fixtures/dlib, written by
//! `tools/dlib_reference.py fixture` with dlib 20.0.1) from the same 150x150 chips.
use std::path::PathBuf;

use siamface::face::align;
use siamface::model::{dlib, io, Siamese};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dat() -> PathBuf {
    root().join("models/dlib/dlib_face_recognition_resnet_model_v1.dat")
}

#[test]
fn dlib_file_converts_to_the_shipped_weights_bit_for_bit() {
    let (cfg, params, metric) = dlib::read(&dat()).unwrap();
    assert_eq!((metric.margin * 100.0).round(), 4.0);
    assert!((metric.distance_threshold - 0.6).abs() < 1e-6);
    let shipped = io::load(&root().join("models/face")).unwrap();
    assert_eq!(shipped.config.tower, cfg.tower);
    assert_eq!(shipped.config.input, cfg.input);
    let n = params.specs.len();
    // Every tower tensor equal; the head is trained after the conversion.
    for s in &params.specs[..n - 2] {
        let got = shipped.params.get(&s.name).unwrap_or_else(|| panic!("{} missing", s.name));
        assert!(got == &params.data[s.range()], "{} differs", s.name);
    }
    assert_eq!(params.specs.iter().filter(|s| s.name.ends_with(".weight") && s.shape.len() == 4).count(), 29);
    assert_eq!(params.specs.iter().filter(|s| s.name.ends_with(".gamma")).count(), 29);
}

#[test]
fn dlib_file_cut_short_or_altered_is_refused_with_its_offset() {
    let data = std::fs::read(dat()).unwrap();
    let p = std::path::Path::new("cut.dat");
    for cut in [10, 300, 20_000, data.len() / 2, data.len() - 3] {
        let err = dlib::parse(&data[..cut], p).unwrap_err().to_string();
        assert!(err.contains("cut.dat") && err.contains("at byte"), "cut at {cut}: {err}");
    }
    // A stride changed from 2 to 3 in the first convolution's details.
    let mut bad = data.clone();
    let at = data.windows(5).position(|w| w == b"con_4").unwrap() + 5;
    let tensor_end = at + 2 + 3 + 2 + 2 + 2 + 4736 * 4; // version, n (2 bytes), k, nr, nc, values
    assert_eq!(&data[tensor_end..tensor_end + 10], &[1, 32, 1, 7, 1, 7, 1, 2, 1, 2]);
    bad[tensor_end + 7] = 3;
    let err = dlib::parse(&bad, p).unwrap_err().to_string();
    assert!(err.contains("stride"), "{err}");
    // Trailing bytes after the last layer.
    let mut long = data.clone();
    long.extend([1, 5]);
    assert!(dlib::parse(&long, p).is_err());
}

fn fixture() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(root().join("tests/fixtures/dlib/descriptors.json")).unwrap()).unwrap()
}

#[test]
fn resnet_tower_computes_dlibs_descriptors_from_dlibs_chips() {
    let ck = io::load(&root().join("models/face")).unwrap();
    let net = Siamese::new(ck.config, ck.params, 1).unwrap();
    let mut s = net.scratch();
    let fx = fixture();
    for f in fx["faces"].as_array().unwrap() {
        let chip = image::open(root().join("tests/fixtures/dlib").join(f["chip"].as_str().unwrap())).unwrap().to_rgb8();
        assert_eq!(chip.dimensions(), (150, 150));
        let got = net.embed_bytes_with(chip.as_raw(), &mut s).unwrap();
        let want: Vec<f32> = f["chip_descriptor"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        eprintln!("{}: largest difference {worst:.2e}", f["chip"]);
        assert!(worst < 1e-4, "{}: {worst}", f["chip"]);
    }
}

/// Our crop (YuNet's five points mapped onto dlib's chip through the calibrated frame) against
/// dlib's own chip of the same LFW photo (its HOG detector and 5-point model): the pixels and,
/// what matters, the descriptors.
#[test]
fn our_chip_of_an_lfw_photo_is_close_to_dlibs_chip_and_descriptor() {
    let ck = io::load(&root().join("models/face")).unwrap();
    let cfg = ck.config.clone();
    let net = Siamese::new(ck.config, ck.params, 1).unwrap();
    let mut s = net.scratch();
    let det = siamface::face::Detector::new().unwrap();
    let fx = fixture();
    let (mut dists, mut uniform) = (Vec::new(), Vec::new());
    let distance = |e: &[f32], w: &[f32]| e.iter().zip(w).map(|(a, b)| (a - b).powi(2)).sum::<f32>().sqrt();
    for f in fx["faces"].as_array().unwrap() {
        let photo = crate::common::shared(f["photo"].as_str().unwrap());
        let img = image::open(&photo).unwrap().to_rgb8();
        let face = det.detect(&img).unwrap()[0];
        assert!(face.points.is_some(), "the detector gives dlib's points");
        let ours = align::input_from_photo(&img, &face, &cfg);
        let theirs = image::open(root().join("tests/fixtures/dlib").join(f["chip"].as_str().unwrap())).unwrap().to_rgb8();
        let pixel = ours.iter().zip(theirs.as_raw()).map(|(a, b)| (*a as f64 - *b as f64).abs()).sum::<f64>() / ours.len() as f64;
        let want: Vec<f32> = f["pipeline_descriptor"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let d = distance(&net.embed_bytes_with(&ours, &mut s).unwrap(), &want);
        // The same face aligned by YuNet's own five points, as before dlib's points were found.
        let yunet = align::warp(&img, align::chip_transform(&face.landmarks, &align::CHIP_WEIGHTS), align::CHIP_SIZE);
        let u = distance(&net.embed_bytes_with(yunet.as_raw(), &mut s).unwrap(), &want);
        eprintln!("{}: mean pixel difference {pixel:.1} grey levels, descriptor distance {d:.3} ({u:.3} aligned by YuNet's points; same-person threshold 0.6)", f["chip"]);
        dists.push(d);
        uniform.push(u);
        assert!(pixel < 25.0, "{pixel}");
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    eprintln!("mean descriptor distance to dlib's pipeline: {:.3} (aligned by YuNet's points {:.3})", mean(&dists), mean(&uniform));
    // Two chips of one photo must be far closer than two photos of one person (~0.3-0.5); with
    // dlib's points found from YuNet's box and dlib's chip geometry (0.053 when measured; 0.074
    // before `align::dlib_chip_transform`) closer than with YuNet's points (0.137).
    assert!(dists.iter().all(|d| *d < 0.15), "{dists:?}");
    assert!(mean(&dists) < 0.10 && mean(&dists) < mean(&uniform), "{dists:?} vs {uniform:?}");
}
