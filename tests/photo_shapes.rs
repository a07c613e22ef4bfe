//! Photos of every shape the limits allow, and some they do not: strips 40,000,000 pixels long
//! (a 4.9 KB PNG), square 40-megapixel photos, grey and 16-bit ones, and JPEGs with bytes after
//! their end. Long strips are refused from the header; what is accepted costs a bounded amount
//! of memory, measured on the running server under sixteen concurrent uploads of each shape.
use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use siamface::data::photo;

use crate::common::png_zeros;
use crate::server::{call, form, http, start, state, tmp};
use crate::server_limits::{by_status, peak_rss_mb, uploads_at_once, CEILING_MB};

#[test]
fn a_jpeg_with_a_scan_marker_among_bytes_after_its_end_decodes() {
    let whole = crate::common::lfw_bytes("Aaron_Peirsol", 1);
    // A camera's trailer, or a video appended after the picture, holding 0xFF 0xDA.
    let mut trailed = whole.clone();
    trailed.extend(b"\xFF\xDA\x00\x0Ctrailer with a start-of-scan marker \xFF\xDA\x12\x34");
    let img = photo::decode(&trailed).unwrap_or_else(|e| panic!("refused: {e}"));
    assert_eq!(img.to_rgb8().into_raw(), photo::decode(&whole).unwrap().to_rgb8().into_raw());
    // Cut short, it is still refused, trailer or not.
    let mut cut = whole[..whole.len() * 3 / 4].to_vec();
    cut.extend(b"\xFF\xDA\x00\x0C");
    assert!(photo::decode(&cut).unwrap_err().contains("cut short"));
}

#[test]
fn strips_longer_than_a_jpeg_can_hold_are_refused_from_the_header() {
    for (w, h) in [(40_000_000u32, 1u32), (1, 40_000_000), (65_536, 600)] {
        let e = photo::decode(&png_zeros(w, h, 8, 0)).expect_err("decoded");
        assert!(e.contains(&format!("{w}x{h}")) && e.contains("longest side"), "{w}x{h}: {e}");
    }
    // The longest side allowed still decodes.
    let img = photo::decode(&png_zeros(photo::MAX_SIDE_PX, 2, 8, 0)).unwrap();
    assert_eq!(img.width(), photo::MAX_SIDE_PX);
}

/// The buffer the face detector's resize allocates, from `photo::resize_buffer_bytes`'s formula,
/// for shapes at the limits: over the strips it was 640 MB; within the limits the square photo
/// is the largest, 65 MB.
#[test]
fn the_resize_buffer_is_largest_for_a_square_photo_within_the_limits() {
    let mb = |w, h| photo::resize_buffer_bytes(w, h, 640) as f64 / 1e6;
    assert!((mb(40_000_000, 1) - 640.0).abs() < 1.0, "{}", mb(40_000_000, 1));
    let side = (photo::MAX_PIXELS as f64).sqrt() as u32;
    let square = mb(side, side);
    assert!((square - 64.8).abs() < 0.5, "{square}");
    let mut w = 1u32;
    while w <= photo::MAX_SIDE_PX {
        let h = (photo::MAX_PIXELS / w as u64).min(photo::MAX_SIDE_PX as u64) as u32;
        assert!(mb(w, h) <= square + 0.1 && mb(h, w) <= square + 0.1, "{w}x{h}: {} MB", mb(w, h));
        w = w * 5 / 4 + 1;
    }
}

#[tokio::test]
async fn collecting_a_strip_is_a_bad_request_not_an_internal_error() {
    let s = state("collect-strip", None);
    let (st, v) = call(&s, "POST", "/api/collect", form(&[("kind", "anchor")], &[("photo", "strip.png", &png_zeros(40_000_000, 1, 8, 2))]), None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("strip.png"), "{v}");
}

#[test]
fn sixteen_concurrent_uploads_of_every_shape_stay_under_the_memory_ceiling() {
    let dir = tmp("shapes");
    let server = start(&dir, &[]);
    let pid = server.0.id();
    let side = (photo::MAX_PIXELS as f64).sqrt() as u32;
    let long = photo::MAX_SIDE_PX;
    // (what, PNG): each the worst of its kind the limits let through, and the strips they stop.
    let shapes: Vec<(String, Vec<u8>)> = vec![
        ("40000000x1 RGB strip".into(), png_zeros(40_000_000, 1, 8, 2)),
        ("1x40000000 RGB strip".into(), png_zeros(1, 40_000_000, 8, 2)),
        (format!("{long}x{} RGB, the longest side", photo::MAX_PIXELS / long as u64), png_zeros(long, (photo::MAX_PIXELS / long as u64) as u32, 8, 2)),
        (format!("{}x{long} RGB, the longest side", photo::MAX_PIXELS / long as u64), png_zeros((photo::MAX_PIXELS / long as u64) as u32, long, 8, 2)),
        (format!("{side}x{side} RGB, square"), png_zeros(side, side, 8, 2)),
        (format!("{side}x{side} grey, square"), png_zeros(side, side, 8, 0)),
        ("5477x5477 RGBA, 120 MB decoded".into(), png_zeros(5477, 5477, 8, 6)),
        ("4472x4472 RGB at 16 bits, 120 MB decoded".into(), png_zeros(4472, 4472, 16, 2)),
    ];
    eprintln!("server at {:.0} MB before", peak_rss_mb(pid));
    for (what, png) in shapes {
        let body = Arc::new(form(&[], &[("photo", "shape.png", &png)]));
        let t = Instant::now();
        let answers: Vec<(u16, String)> = uploads_at_once(&server.1, &body, 16).into_iter().map(|h| h.join().unwrap()).collect();
        let peak = peak_rss_mb(pid);
        let counts = by_status(&answers);
        eprintln!("16 uploads of {what} ({} KB): {counts:?} in {:.1} s; server peak RSS so far {peak:.0} MB (ceiling {CEILING_MB} MB)", png.len() / 1024, t.elapsed().as_secs_f64());
        for (c, b) in &answers {
            assert!([200, 400, 503].contains(c), "{what}: {c}: {b}");
        }
        assert!(peak < CEILING_MB, "{what}: peak RSS {peak:.0} MB is over the {CEILING_MB} MB ceiling");
    }
    assert_eq!(http(&server.1, "GET", "/api/people", b"").0, 200);
}
