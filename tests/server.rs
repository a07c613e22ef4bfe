//! The HTTP API: through the router directly, and over real loopback HTTP with the binary.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use siamface::model::{io, Params};
use siamface::rng::Rng;
use siamface::server::{self, Inner};
use siamface::service::{FaceService, Options};
use tower::ServiceExt;

pub fn photo(name: &str, n: usize) -> Vec<u8> {
    crate::common::lfw_bytes(name, n)
}

pub fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("siamface-server-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn state(tag: &str, token: Option<&str>) -> Arc<Inner> {
    let dir = tmp(tag);
    let cfg = crate::common::tiny_face_model();
    io::save(&dir.join("model"), &cfg, &Params::init(&cfg, &mut Rng::new(1)).unwrap(), None, None).unwrap();
    let o = Options { model: Some(siamface::service::Model::Path(dir.join("model"))), gallery: dir.join("g.sqlite"), threads: 1, threshold: Some(0.0) };
    Arc::new(Inner { service: FaceService::open(&o).unwrap(), token: token.map(str::to_string), collect_dir: Some(dir.join("collected")) })
}

const B: &str = "XsiamfaceBOUNDARYx";

/// A multipart body: text fields, then file fields (field, file name, bytes).
pub fn form(texts: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in texts {
        out.extend(format!("--{B}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes());
    }
    for (k, f, bytes) in files {
        out.extend(format!("--{B}\r\nContent-Disposition: form-data; name=\"{k}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        out.extend(*bytes);
        out.extend(b"\r\n");
    }
    out.extend(format!("--{B}--\r\n").as_bytes());
    out
}

pub async fn call(s: &Arc<Inner>, method: &str, uri: &str, body: Vec<u8>, auth: Option<&str>) -> (StatusCode, serde_json::Value) {
    let mut req = Request::builder().method(method).uri(uri).header("content-type", format!("multipart/form-data; boundary={B}"));
    if let Some(t) = auth {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = server::app(s.clone()).oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn api_enrols_identifies_and_refuses_bad_input_without_changing_anything() {
    let s = state("api", None);
    let (st, v) = call(&s, "POST", "/api/enroll", form(&[("name", "Aaron")], &[("photo", "a.jpg", &photo("Aaron_Peirsol", 1))]), None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = call(&s, "POST", "/api/identify", form(&[], &[("photo", "q.jpg", &photo("Aaron_Peirsol", 2))]), None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["faces"][0]["name"], "Aaron");
    assert_eq!(v["faces"][0]["box"].as_array().unwrap().len(), 4);
    // The live page's small detector finds the same face, its box within a few pixels.
    let (st, f) = call(&s, "POST", "/api/identify", form(&[("fast", "true")], &[("photo", "q.jpg", &photo("Aaron_Peirsol", 2))]), None).await;
    assert_eq!(st, StatusCode::OK, "{f}");
    assert_eq!(f["faces"].as_array().unwrap().len(), 1, "{f}");
    let (slow_box, fast_box) = (v["faces"][0]["box"].as_array().unwrap(), f["faces"][0]["box"].as_array().unwrap());
    for (a, b) in slow_box.iter().zip(fast_box) {
        assert!((a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 15.0, "{v} vs {f}");
    }
    let (st, v) = call(&s, "POST", "/api/compare", form(&[], &[("a", "a.jpg", &photo("Aaron_Peirsol", 1)), ("b", "b.jpg", &photo("Abel_Pacheco", 1))]), None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v["score"].is_number());
    let (st, _) = call(&s, "POST", "/api/verify", form(&[("name", "Aaron")], &[("photo", "q.jpg", &photo("Aaron_Peirsol", 2))]), None).await;
    assert_eq!(st, StatusCode::OK);

    let before = call(&s, "GET", "/api/people", Vec::new(), None).await.1;
    let cases: Vec<(Vec<u8>, StatusCode, &str)> = vec![
        (form(&[("name", "Aaron")], &[("photo", "b.jpg", &photo("Aaron_Peirsol", 3))]), StatusCode::CONFLICT, "already enrolled"),
        (form(&[("name", "../x")], &[("photo", "b.jpg", &photo("Aaron_Peirsol", 3))]), StatusCode::BAD_REQUEST, "path character"),
        (form(&[("name", "ctl\u{7}")], &[("photo", "b.jpg", &photo("Aaron_Peirsol", 3))]), StatusCode::BAD_REQUEST, "control character"),
        (form(&[("name", "Doc")], &[("photo", "notes.txt", b"not a picture")]), StatusCode::BAD_REQUEST, "notes.txt"),
        (form(&[("name", "Cut")], &[("photo", "cut.jpg", &photo("Aaron_Peirsol", 3)[..4000])]), StatusCode::BAD_REQUEST, "cut.jpg"),
        (form(&[("name", "Blank")], &[("photo", "blank.png", &blank_png())]), StatusCode::BAD_REQUEST, "no face"),
        (form(&[("name", "Huge")], &[("photo", "huge.png", &huge_png())]), StatusCode::BAD_REQUEST, "megapixels"),
        (form(&[], &[("photo", "b.jpg", &photo("Aaron_Peirsol", 3))]), StatusCode::BAD_REQUEST, "name"),
    ];
    for (body, want, text) in cases {
        let (st, v) = call(&s, "POST", "/api/enroll", body, None).await;
        assert_eq!(st, want, "{v}");
        assert!(v["error"].as_str().unwrap().contains(text), "{v}");
    }
    let (st, _) = call(&s, "DELETE", "/api/people/Nobody", Vec::new(), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = call(&s, "POST", "/api/verify", form(&[("name", "Nobody")], &[("photo", "q.jpg", &photo("Aaron_Peirsol", 2))]), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let huge = vec![0u8; server::MAX_BODY + 1024];
    let (st, _) = call(&s, "POST", "/api/identify", form(&[], &[("photo", "big.jpg", &huge)]), None).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(call(&s, "GET", "/api/people", Vec::new(), None).await.1, before);

    let (st, _) = call(&s, "DELETE", "/api/people/Aaron", Vec::new(), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(call(&s, "GET", "/api/people", Vec::new(), None).await.1["people"], serde_json::json!([]));
}

/// 8000 x 6500 = 52 megapixels of one grey: a small file that would decode to 52 MB.
fn huge_png() -> Vec<u8> {
    let mut out = Vec::new();
    image::DynamicImage::ImageLuma8(image::GrayImage::new(8000, 6500)).write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

fn blank_png() -> Vec<u8> {
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::new(100, 100)).write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

#[tokio::test]
async fn page_is_served_and_frames_are_collected_for_fine_tuning() {
    let s = state("page", None);
    let resp = server::app(s.clone()).oneshot(Request::builder().uri("/").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = String::from_utf8(axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec()).unwrap();
    assert!(html.contains("getUserMedia") && html.contains("/api/identify"));
    assert!(!html.contains("http://") && !html.contains("https://"), "the page loads nothing from elsewhere");
    // The page sets its slider from the server's thresholds.
    let (st, c) = call(&s, "GET", "/api/config", Vec::new(), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!((&c["threshold"], &c["verify_threshold"], &c["verification"], &c["collect"]), (&serde_json::json!(0.0), &serde_json::json!(0.0), &serde_json::json!(0.5), &serde_json::json!(true)), "{c}");
    // The model is named by the fingerprint the gallery keeps with every embedding.
    assert_eq!(c["model"].as_str().map(str::len), Some(16), "{c}");
    let (st, v) = call(&s, "POST", "/api/collect", form(&[("kind", "anchor")], &[("photo", "f.jpg", &photo("Aaron_Peirsol", 1))]), None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let saved = s.collect_dir.as_ref().unwrap().join(v["file"].as_str().unwrap());
    assert!(image::open(&saved).is_ok(), "{saved:?}");
    let (st, _) = call(&s, "POST", "/api/collect", form(&[("kind", "../evil")], &[("photo", "f.jpg", &photo("Aaron_Peirsol", 1))]), None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_token_is_required_when_set() {
    let s = state("token", Some("s3cret"));
    assert_eq!(call(&s, "GET", "/api/people", Vec::new(), None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&s, "GET", "/api/people", Vec::new(), Some("wrong")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&s, "GET", "/api/people", Vec::new(), Some("s3cret")).await.0, StatusCode::OK);
}

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &std::path::Path) -> Server {
    let cfg = crate::common::tiny_face_model();
    io::save(&dir.join("model"), &cfg, &Params::init(&cfg, &mut Rng::new(2)).unwrap(), None, None).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_siamface"))
        .args(["serve", "--addr", "127.0.0.1:0", "--model", dir.join("model").to_str().unwrap(), "--gallery", dir.join("g.sqlite").to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = Vec::new();
    let mut out = child.stdout.take().unwrap();
    let mut b = [0u8; 1];
    while out.read(&mut b).unwrap() == 1 && b[0] != b'\n' {
        line.push(b[0]);
    }
    let line = String::from_utf8(line).unwrap();
    let addr = line.split("http://").nth(1).and_then(|r| r.split_whitespace().next()).unwrap_or_else(|| panic!("no address in {line:?}")).to_string();
    Server(child, addr)
}

fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: multipart/form-data; boundary={B}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let code = resp.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, resp.split("\r\n\r\n").nth(1).unwrap_or_default().to_string())
}

#[test]
fn real_http_on_loopback_serves_concurrent_requests() {
    let dir = tmp("http");
    let server = start(&dir);
    let (code, body) = http(&server.1, "POST", "/api/enroll", &form(&[("name", "Aaron")], &[("photo", "a.jpg", &photo("Aaron_Peirsol", 1))]));
    assert_eq!(code, 200, "{body}");
    // A bounded load: 16 identify requests from 8 threads at once, all answered.
    let addr = Arc::new(server.1.clone());
    let q = Arc::new(form(&[], &[("photo", "q.jpg", &photo("Aaron_Peirsol", 2))]));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (addr, q) = (addr.clone(), q.clone());
            std::thread::spawn(move || (0..2).map(|_| http(&addr, "POST", "/api/identify", &q).0).collect::<Vec<_>>())
        })
        .collect();
    let codes: Vec<u16> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert_eq!(codes, vec![200; 16]);
    let (code, body) = http(&server.1, "GET", "/api/people", b"");
    assert_eq!(code, 200);
    assert!(body.contains("\"Aaron\""), "{body}");
}

#[test]
fn serving_beyond_loopback_needs_a_token() {
    let out = Command::new(env!("CARGO_BIN_EXE_siamface"))
        .args(["serve", "--addr", "0.0.0.0:0", "--model", "/nonexistent"])
        .env_remove("SIAMFACE_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("requires --token"));
}
