//! Inputs that must be refused whole, before anything is stored: photos cut short, photos whose
//! header promises more pixels than memory allows, too many photos, thresholds that are not
//! numbers from 0 to 1, and names with invisible characters. Names that differ only by case or
//! Unicode normalisation are one person.
use std::process::Command;

use axum::http::StatusCode;
use siamface::data::photo;

use crate::common::png_chunk as chunk;
use crate::server::{call, form, photo as lfw_photo, state};

const PEOPLE: [&str; 3] = ["Aaron_Peirsol", "Abel_Pacheco", "Akhmed_Zakayev"];

#[test]
fn jpegs_cut_at_half_four_fifths_and_most_of_their_bytes_are_refused() {
    for who in PEOPLE {
        let whole = lfw_photo(who, 1);
        photo::decode(&whole).unwrap_or_else(|e| panic!("{who}: the whole file must decode: {e}"));
        for percent in [50, 80, 95, 99] {
            let cut = &whole[..whole.len() * percent / 100];
            let e = photo::decode(cut).err().unwrap_or_else(|| panic!("{who} cut at {percent}% was decoded"));
            assert!(e.contains("cut short"), "{who} at {percent}%: {e}");
        }
    }
}

#[test]
fn pngs_cut_short_are_refused() {
    let img = photo::decode(&lfw_photo("Aaron_Peirsol", 1)).unwrap();
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    photo::decode(&png).unwrap();
    for percent in [50, 80, 95, 99] {
        let e = photo::decode(&png[..png.len() * percent / 100]).err().unwrap_or_else(|| panic!("PNG cut at {percent}% was decoded"));
        assert!(e.contains("cut short") || e.contains("decode"), "{percent}%: {e}");
    }
}

/// A 200-byte PNG whose header declares `w x h` RGB with 16-bit samples.
fn declared_png(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([16, 2, 0, 0, 0]); // depth 16, colour type 2 (RGB), deflate, filter 0, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(chunk(b"IHDR", &ihdr));
    out.extend(chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]));
    out.extend(chunk(b"IEND", &[]));
    out
}

#[test]
fn decoded_size_is_checked_from_the_header_before_decoding() {
    // 6000 x 6000 is under the 40-megapixel limit, but at 3 channels x 2 bytes it is 216 MB.
    let e = photo::decode(&declared_png(6000, 6000)).expect_err("216 MB declared");
    assert!(e.contains("MB once decoded"), "{e}");
    // The same header at 8-bit-RGB size passes the check and fails later, on its missing pixels.
    let e = photo::decode(&declared_png(100, 100)).expect_err("no pixel data");
    assert!(!e.contains("once decoded"), "{e}");
}

#[tokio::test]
async fn cut_photos_and_too_many_photos_enrol_nothing_over_http() {
    let s = state("strict-photos", None);
    let whole = lfw_photo("Aaron_Peirsol", 1);
    for percent in [50, 80, 95] {
        let cut = whole[..whole.len() * percent / 100].to_vec();
        let (st, v) = call(&s, "POST", "/api/enroll", form(&[("name", "Cut")], &[("photo", "cut.jpg", &cut)]), None).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{percent}%: {v}");
        assert!(v["error"].as_str().unwrap().contains("cut.jpg"), "{v}");
    }
    let many: Vec<(&str, &str, &[u8])> = (0..siamface::service::MAX_ENROL_PHOTOS + 1).map(|_| ("photo", "a.jpg", whole.as_slice())).collect();
    let (st, v) = call(&s, "POST", "/api/enroll", form(&[("name", "Many")], &many), None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().starts_with("photo:"), "{v}");
    let (_, people) = call(&s, "GET", "/api/people", Vec::new(), None).await;
    assert_eq!(people["people"], serde_json::json!([]));
}

#[tokio::test]
async fn thresholds_must_be_numbers_from_zero_to_one() {
    let s = state("strict-thresholds", None);
    let q = lfw_photo("Aaron_Peirsol", 2);
    let (st, v) = call(&s, "POST", "/api/enroll", form(&[("name", "Aaron")], &[("photo", "a.jpg", &lfw_photo("Aaron_Peirsol", 1))]), None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    for bad in ["abc", "NaN", "-5", "1.5", "inf", ""] {
        let (st, v) = call(&s, "POST", "/api/identify", form(&[("threshold", bad)], &[("photo", "q.jpg", &q)]), None).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "threshold={bad:?}: {v}");
        assert!(v["error"].as_str().unwrap().starts_with("threshold:"), "{v}");
        let (st, v) = call(&s, "POST", "/api/verify", form(&[("name", "Aaron"), ("verification", bad)], &[("photo", "q.jpg", &q)]), None).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "verification={bad:?}: {v}");
        assert!(v["error"].as_str().unwrap().starts_with("verification:"), "{v}");
    }
    // In range: 0 names the nearest person, 1 nobody this untrained model scores.
    let (_, v) = call(&s, "POST", "/api/identify", form(&[("threshold", "0")], &[("photo", "q.jpg", &q)]), None).await;
    assert_eq!(v["faces"][0]["name"], "Aaron", "{v}");
    let (_, v) = call(&s, "POST", "/api/identify", form(&[("threshold", "1")], &[("photo", "q.jpg", &q)]), None).await;
    assert!(v["faces"][0]["name"].is_null(), "{v}");
    // The verification fraction given is the one used.
    let (_, v) = call(&s, "POST", "/api/verify", form(&[("name", "Aaron"), ("threshold", "0"), ("verification", "1")], &[("photo", "q.jpg", &q)]), None).await;
    assert_eq!((v["verified"].as_bool(), v["verification"].as_f64()), (Some(true), Some(1.0)), "{v}");

    // The command line refuses the same values, naming the option.
    let dir = crate::server::tmp("strict-cli");
    let cfg = crate::common::tiny_face_model();
    siamface::model::io::save(&dir.join("model"), &cfg, &siamface::model::Params::init(&cfg, &mut siamface::rng::Rng::new(5)).unwrap(), None, None).unwrap();
    for bad in ["abc", "NaN", "-5", "2"] {
        let out = Command::new(env!("CARGO_BIN_EXE_siamface"))
            .args(["identify", crate::common::lfw("Aaron_Peirsol", 2).to_str().unwrap(), &format!("--threshold={bad}")])
            .args(["--model", dir.join("model").to_str().unwrap(), "--gallery", dir.join("g.sqlite").to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("--threshold") && err.contains("from 0 to 1"), "--threshold={bad}: {err}");
    }
}

#[tokio::test]
async fn names_are_normalised_and_compared_without_case() {
    let s = state("strict-names", None);
    let a = lfw_photo("Aaron_Peirsol", 1);
    for bad in ["Ada\u{202E}", "Ad\u{200B}a", "\u{2066}Ada", "Ada\u{FEFF}"] {
        let (st, v) = call(&s, "POST", "/api/enroll", form(&[("name", bad)], &[("photo", "a.jpg", &a)]), None).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad:?}: {v}");
        assert!(v["error"].as_str().unwrap().contains("invisible or text-direction"), "{v}");
    }
    // Precomposed é enrolled; the decomposed, upper-case spelling is the same person.
    let (st, v) = call(&s, "POST", "/api/enroll", form(&[("name", "José")], &[("photo", "a.jpg", &a)]), None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = call(&s, "POST", "/api/enroll", form(&[("name", "JOSE\u{301}")], &[("photo", "a.jpg", &a)]), None).await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    let (st, v) = call(&s, "POST", "/api/enroll", form(&[("name", "jose\u{301}"), ("add", "true")], &[("photo", "a.jpg", &a)]), None).await;
    assert_eq!((st, v["enrolled"].as_str()), (StatusCode::OK, Some("José")), "{v}");
    let (st, v) = call(&s, "POST", "/api/verify", form(&[("name", "jose\u{301}")], &[("photo", "q.jpg", &lfw_photo("Aaron_Peirsol", 2))]), None).await;
    assert_eq!((st, v["name"].as_str()), (StatusCode::OK, Some("José")), "{v}");
    let (_, v) = call(&s, "GET", "/api/people", Vec::new(), None).await;
    assert_eq!(v["people"], serde_json::json!([{"name": "José", "images": 2}]));
    let (st, v) = call(&s, "DELETE", "/api/people/JOS%C3%89", Vec::new(), None).await;
    assert_eq!((st, v["forgotten"].as_str()), (StatusCode::OK, Some("José")), "{v}");
}
