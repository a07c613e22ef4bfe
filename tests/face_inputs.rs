//! Every kind of photo a user may hand in: formats, grayscale, EXIF rotation, several faces,
//! tiny faces, no face, broken or huge files. Each is handled or refused with a message that
//! names the file.
use std::path::{Path, PathBuf};
use std::process::Command;

use image::{DynamicImage, GenericImageView, ImageFormat, RgbImage};
use siamface::data::photo;
use siamface::face::{self, Detector};
use siamface::model::{io, Params};
use siamface::rng::Rng;
use siamface::ModelConfig;

use crate::common::{lfw, shared};

fn tmp() -> PathBuf {
    let d = std::env::temp_dir().join(format!("siamface-inputs-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn jpeg_png_pgm_and_webp_all_give_a_face() {
    let det = Detector::new().unwrap();
    let cfg = ModelConfig::face100();
    let img = photo::open(&lfw("Aaron_Peirsol", 1)).unwrap();
    let dir = tmp();
    for (ext, fmt) in [("png", ImageFormat::Png), ("pgm", ImageFormat::Pnm), ("webp", ImageFormat::WebP)] {
        let path = dir.join(format!("face.{ext}"));
        let pic = if ext == "pgm" { DynamicImage::ImageLuma8(img.to_luma8()) } else { DynamicImage::ImageRgb8(img.to_rgb8()) };
        pic.save_with_format(&path, fmt).unwrap();
        let found = face::from_file(&det, &path, &cfg).unwrap_or_else(|e| panic!("{ext}: {e}"));
        assert_eq!(found.input.len(), 100 * 100 * 3);
    }
    // AT&T faces are grayscale PGMs of 92x112.
    face::from_file(&det, &shared("att_faces/s3/2.pgm"), &cfg).unwrap();
}

/// A JPEG whose pixels are stored rotated, with an EXIF orientation tag that says how to turn
/// them upright (6: rotate 90 degrees clockwise to display).
fn jpeg_with_orientation(img: &RgbImage, orientation: u16) -> Vec<u8> {
    let mut jpeg = Vec::new();
    DynamicImage::ImageRgb8(img.clone()).write_to(&mut std::io::Cursor::new(&mut jpeg), ImageFormat::Jpeg).unwrap();
    // APP1: "Exif\0\0", little-endian TIFF header, one IFD entry (0x0112 SHORT 1 = orientation).
    let mut tiff = b"II*\x00\x08\x00\x00\x00\x01\x00".to_vec();
    tiff.extend([0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00]);
    tiff.extend(orientation.to_le_bytes());
    tiff.extend([0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\x00\x00".to_vec();
    app1.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend(&jpeg[2..]);
    out
}

#[test]
fn exif_rotation_is_applied_before_detection() {
    let det = Detector::new().unwrap();
    let upright = photo::open(&lfw("Aaron_Peirsol", 1)).unwrap().to_rgb8();
    // Stored turned 90 degrees counter-clockwise; orientation 6 turns it back.
    let stored = image::imageops::rotate270(&upright);
    let path = tmp().join("rotated.jpg");
    std::fs::write(&path, jpeg_with_orientation(&stored, 6)).unwrap();
    let img = photo::open(&path).unwrap();
    assert_eq!(img.dimensions(), upright.dimensions());
    let found = face::from_file(&det, &path, &ModelConfig::face100()).unwrap();
    let [r, l, ..] = found.face.landmarks;
    assert!((l[1] - r[1]).abs() < 0.3 * (l[0] - r[0]).abs(), "eyes level after rotation: {r:?} {l:?}");
}

#[test]
fn several_faces_take_the_largest_and_say_how_many() {
    let det = Detector::new().unwrap();
    let big = photo::open(&lfw("Aaron_Peirsol", 1)).unwrap().to_rgb8();
    let small = image::imageops::resize(&photo::open(&lfw("Abel_Pacheco", 1)).unwrap().to_rgb8(), 160, 160, image::imageops::FilterType::Triangle);
    let mut both = RgbImage::new(420, 260);
    image::imageops::overlay(&mut both, &big, 0, 0);
    image::imageops::overlay(&mut both, &small, 255, 50);
    let found = face::locate(&det, &both, &ModelConfig::face100(), Path::new("group.jpg")).unwrap();
    assert!(found.faces_in_photo >= 2, "{} faces", found.faces_in_photo);
    assert!(found.face.rect[0] < 250.0, "the larger (left) face is used: {:?}", found.face.rect);
}

#[test]
fn no_face_tiny_face_broken_and_huge_files_are_refused_by_name() {
    let det = Detector::new().unwrap();
    let cfg = ModelConfig::face100();
    let dir = tmp();
    let err = |p: &Path| face::from_file(&det, p, &cfg).err().expect("must fail").to_string();

    let blank = dir.join("blank.png");
    RgbImage::from_pixel(300, 200, image::Rgb([200, 180, 160])).save(&blank).unwrap();
    let e = err(&blank);
    assert!(e.contains("blank.png") && e.contains("no face"), "{e}");

    // A whole LFW photo shrunk to 40x40: the face is about 15 px wide.
    let tiny = dir.join("tiny.png");
    image::imageops::resize(&photo::open(&lfw("Aaron_Peirsol", 1)).unwrap().to_rgb8(), 40, 40, image::imageops::FilterType::Triangle).save(&tiny).unwrap();
    let e = err(&tiny);
    assert!(e.contains("tiny.png") && (e.contains("px wide") || e.contains("no face")), "{e}");

    let text = dir.join("notes.jpg");
    std::fs::write(&text, "these are not pixels").unwrap();
    let e = err(&text);
    assert!(e.contains("notes.jpg") && e.contains("not an image"), "{e}");

    let bytes = std::fs::read(lfw("Aaron_Peirsol", 1)).unwrap();
    let cut = dir.join("cut.jpg");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let e = err(&cut);
    assert!(e.contains("cut.jpg"), "{e}");

    let huge = dir.join("huge.png");
    image::GrayImage::new(8000, 6500).save(&huge).unwrap();
    let e = err(&huge);
    assert!(e.contains("huge.png") && e.contains("megapixels"), "{e}");

    let e = err(&dir.join("absent.jpg"));
    assert!(e.contains("absent.jpg"), "{e}");
}

#[test]
fn compare_cli_prints_score_and_decision_as_json() {
    let cfg = crate::common::tiny_face_model();
    let model = tmp().join("tiny-model");
    io::save(&model, &cfg, &Params::init(&cfg, &mut Rng::new(4)).unwrap(), None, None).unwrap();
    let bin = env!("CARGO_BIN_EXE_siamface");
    let run = |a: &Path, b: &Path| {
        Command::new(bin).args(["compare", a.to_str().unwrap(), b.to_str().unwrap(), "--model", model.to_str().unwrap(), "--json"]).output().unwrap()
    };
    let out = run(&lfw("Aaron_Peirsol", 1), &lfw("Aaron_Peirsol", 2));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let score = v["score"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&score));
    assert_eq!(v["same"].as_bool().unwrap(), score >= v["threshold"].as_f64().unwrap());
    assert_eq!(v["a"]["box"].as_array().unwrap().len(), 4);

    let blank = tmp().join("blank-cli.png");
    RgbImage::new(200, 200).save(&blank).unwrap();
    let out = run(&lfw("Aaron_Peirsol", 1), &blank);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("blank-cli.png") && err.contains("no face"), "{err}");
}
