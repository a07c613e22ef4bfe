//! The web page in a real headless Chromium with a fake camera playing LFW photos of one person:
//! after enrolling that person from one other photo, the page names them, and does not name an
//! enrolled impostor. Needs /usr/bin/chromium (installed by .ci/run); the face model is the
//! shipped one.
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use image::RgbImage;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn lfw(name: &str, n: usize) -> PathBuf {
    root().join(format!("../shared/data/lfw/images_deepfunneled/{name}/{name}_{n:04}.jpg"))
}

/// A 640x480 YUV 4:2:0 video at 10 frames/s, each photo centred and shown for `hold` frames.
fn write_y4m(photos: &[PathBuf], hold: usize, path: &Path) {
    let (w, h) = (640u32, 480u32);
    let mut out = format!("YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n").into_bytes();
    for p in photos {
        let src = image::open(p).unwrap().to_rgb8();
        let big = image::imageops::resize(&src, 400, 400, image::imageops::FilterType::Triangle);
        let mut frame = RgbImage::from_pixel(w, h, image::Rgb([90, 90, 90]));
        image::imageops::overlay(&mut frame, &big, 120, 40);
        let px = |x: u32, y: u32| {
            let [r, g, b] = frame.get_pixel(x, y).0.map(|v| v as f32);
            (0.299 * r + 0.587 * g + 0.114 * b, -0.1687 * r - 0.3313 * g + 0.5 * b + 128.0, 0.5 * r - 0.4187 * g - 0.0813 * b + 128.0)
        };
        let mut plane_y = Vec::with_capacity((w * h) as usize);
        let (mut plane_u, mut plane_v) = (Vec::new(), Vec::new());
        for y in 0..h {
            for x in 0..w {
                plane_y.push(px(x, y).0.round().clamp(0.0, 255.0) as u8);
            }
        }
        for y in (0..h).step_by(2) {
            for x in (0..w).step_by(2) {
                let (_, u, v) = px(x, y);
                plane_u.push(u.round().clamp(0.0, 255.0) as u8);
                plane_v.push(v.round().clamp(0.0, 255.0) as u8);
            }
        }
        for _ in 0..hold {
            out.extend(b"FRAME\n");
            out.extend(&plane_y);
            out.extend(&plane_u);
            out.extend(&plane_v);
        }
    }
    std::fs::write(path, out).unwrap();
}

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_siamface"))
        .current_dir(root())
        .args(["serve", "--addr", "127.0.0.1:0", "--gallery", dir.join("g.sqlite").to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let (mut line, mut b) = (Vec::new(), [0u8; 1]);
    while out.read(&mut b).unwrap() == 1 && b[0] != b'\n' {
        line.push(b[0]);
    }
    let line = String::from_utf8(line).unwrap();
    let addr = line.split("http://").nth(1).and_then(|r| r.split_whitespace().next()).unwrap().to_string();
    Server(child, addr)
}

fn enroll(bin_dir: &Path, name: &str, photo: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_siamface"))
        .current_dir(root())
        .args(["enroll", name, photo.to_str().unwrap(), "--gallery", bin_dir.join("g.sqlite").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Runs tests/browser/check.mjs (playwright-core driving /usr/bin/chromium): what the page
/// showed while the camera played, as JSON.
fn watch_page(url: &str, video: &Path, shot: &Path, expected: &str) -> serde_json::Value {
    let out = Command::new("node")
        .current_dir(root().join("tests/browser"))
        .args(["check.mjs", url, video.to_str().unwrap(), shot.to_str().unwrap(), expected])
        .output()
        .expect("node runs (installed by .ci/run)");
    assert!(out.status.success(), "browser script failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn live_page_names_the_enrolled_person_and_not_the_impostor() {
    assert!(Path::new("/usr/bin/chromium").exists(), "chromium is not installed: run .ci/run");
    let dir = std::env::temp_dir().join(format!("siamface-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let person = "Colin_Powell";
    enroll(&dir, "Colin Powell", &lfw(person, 1));
    enroll(&dir, "Impostor", &lfw("Serena_Williams", 1));
    let video = dir.join("camera.y4m");
    write_y4m(&(2..=6).map(|n| lfw(person, n)).collect::<Vec<_>>(), 20, &video);
    let server = serve(&dir);
    let url = format!("http://{}/", server.1);

    let shot = root().join("docs/screenshot.png");
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let seen = watch_page(&url, &video, &shot, "Colin Powell");
    eprintln!("page: {seen}");
    // The page is polled five times a second while the camera plays Colin Powell's photos.
    let count = |n: &str| seen["counts"][n].as_u64().unwrap_or(0);
    assert!(count("Colin Powell") >= 25, "the page named Colin Powell {} times: {seen}", count("Colin Powell"));
    assert_eq!(count("Impostor"), 0, "the impostor was named: {seen}");
    let fps: f64 = seen["fps"].as_str().unwrap_or_default().split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    assert!(fps > 0.0, "frames/s shown: {seen}");
    assert!(image::open(&shot).is_ok(), "screenshot written");
}
