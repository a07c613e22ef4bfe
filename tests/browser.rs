//! The web page in a real headless Chromium with a fake camera playing LFW photos of one person:
//! after enrolling that person from one other photo, the page names them, does not name an
//! enrolled impostor, verifies them as themselves and not as the impostor, renames and forgets
//! the impostor; and a page of another site cannot add a photo to them. Needs /usr/bin/chromium
//! (installed by .ci/run); the face model is the shipped one.
use std::path::{Path, PathBuf};
use std::process::Command;

use image::RgbImage;

use crate::server::Server;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

use crate::common::lfw;

/// A 640x480 Y4M video at 10 frames/s (the library's writer), each photo centred and shown for
/// `hold` frames.
fn write_y4m(photos: &[PathBuf], hold: usize, path: &Path) {
    let mut frames = Vec::new();
    for p in photos {
        let src = image::open(p).unwrap().to_rgb8();
        let big = image::imageops::resize(&src, 400, 400, image::imageops::FilterType::Triangle);
        let mut frame = RgbImage::from_pixel(640, 480, image::Rgb([90, 90, 90]));
        image::imageops::overlay(&mut frame, &big, 120, 40);
        frames.extend(std::iter::repeat_n(frame, hold));
    }
    let mut out = Vec::new();
    siamface::data::y4m::write(&mut out, &frames, (10, 1), siamface::data::y4m::Colorspace::C420Jpeg).unwrap();
    std::fs::write(path, out).unwrap();
}

/// The server with the built-in model over `dir/g.sqlite`.
fn serve(dir: &Path, extra: &[&str]) -> Server {
    crate::common::serve(&[&["--gallery", dir.join("g.sqlite").to_str().unwrap()], extra].concat())
}

fn enroll(bin_dir: &Path, name: &str, photo: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_siamface"))
        .current_dir(root())
        .args(["enroll", name, photo.to_str().unwrap(), "--gallery", bin_dir.join("g.sqlite").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Runs a script of tests/browser (playwright-core driving /usr/bin/chromium); its JSON output.
fn node(args: &[&str]) -> serde_json::Value {
    let out = Command::new("node").current_dir(root().join("tests/browser")).args(args).output().expect("node runs (installed by .ci/run)");
    assert!(out.status.success(), "browser script failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stdout)))
}

/// Runs tests/browser/check.mjs (playwright-core driving /usr/bin/chromium): what the page
/// showed while the camera played, what verification said, what a cross-site page got, as JSON.
fn watch_page(url: &str, video: &Path, shot: &Path, expected: &str, impostor: &str, attack: &Path) -> serde_json::Value {
    node(&["check.mjs", url, video.to_str().unwrap(), shot.to_str().unwrap(), expected, impostor, attack.to_str().unwrap()])
}

#[test]
fn live_page_names_and_verifies_the_enrolled_person_and_refuses_another_site() {
    assert!(Path::new("/usr/bin/chromium").exists(), "chromium is not installed: run .ci/run");
    let dir = crate::server::tmp("browser");
    let person = "Colin_Powell";
    enroll(&dir, "Colin Powell", &lfw(person, 1));
    enroll(&dir, "Impostor", &lfw("Serena_Williams", 1));
    let video = dir.join("camera.y4m");
    write_y4m(&(2..=6).map(|n| lfw(person, n)).collect::<Vec<_>>(), 20, &video);
    let server = serve(&dir, &[]);
    let url = format!("http://{}/", server.1);

    // The README's picture is redrawn only when asked (SIAMFACE_SCREENSHOT=1), so a test run
    // leaves the checkout as it was.
    let shot = if std::env::var_os("SIAMFACE_SCREENSHOT").is_some_and(|v| v == "1") { root().join("docs/screenshot.png") } else { dir.join("screenshot.png") };
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    // The attacking page tries to add another of his photos to him: were it let through, he
    // would have two images.
    let seen = watch_page(&url, &video, &shot, "Colin Powell", "Impostor", &lfw(person, 7));
    eprintln!("page: {seen}");
    // The page is read five times a second while the camera plays Colin Powell's photos, until
    // it named him 25 times or the stream answered for 500 faces (check.mjs): counted, not timed.
    let count = |n: &str| seen["counts"][n].as_u64().unwrap_or(0);
    assert!(count("Colin Powell") >= 25, "the page named Colin Powell {} times: {seen}", count("Colin Powell"));
    assert_eq!(count("Impostor"), 0, "the impostor was named: {seen}");
    let fps: f64 = seen["fps"].as_str().unwrap_or_default().split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    assert!(fps > 0.0, "answers/s shown: {seen}");
    // Over the stream, the one face on camera is named in most answers: all but the first few
    // while its track gathers evidence.
    let stats = &seen["stats"];
    let (faces, named) = (stats["faces"].as_u64().unwrap(), stats["named"]["Colin Powell"].as_u64().unwrap_or(0));
    eprintln!("stream: {} answers, {faces} faces, {named} named Colin Powell, states {}", stats["answers"], stats["states"]);
    assert!(faces >= 25 && named as f64 >= 0.8 * faces as f64, "named in {named} of {faces} face answers: {seen}");
    assert!(stats["named"]["Impostor"].is_null(), "{seen}");
    assert!(seen["seenList"].as_array().unwrap().iter().any(|l| l.as_str().unwrap().starts_with("Colin Powell (track")), "the list of who was seen: {seen}");
    assert!(image::open(&shot).is_ok(), "screenshot written");

    // Verification: claimed as himself the page says Verified (on at least one of four frames),
    // claimed as the impostor never, and it shows the numbers.
    let verdicts = |k: &str| seen[k].as_array().unwrap().iter().map(|t| t["verdict"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert!(verdicts("verify_claimed").iter().any(|v| v == "Verified: Colin Powell"), "{seen}");
    assert!(verdicts("verify_impostor").iter().all(|v| v == "Unverified: Impostor"), "{seen}");
    assert!(seen["verify_claimed"][0]["detail"].as_str().unwrap().contains("enrolment images scored at least"), "{seen}");

    // The other site's form submission reached the server and was refused with a JSON reason;
    // its fetch with the custom header was stopped at the preflight; nothing was added (below).
    assert_eq!(seen["attack"]["form"]["status"], 403, "{seen}");
    assert!(seen["attack"]["form"]["body"].as_str().unwrap().contains("{\"error\""), "{seen}");
    assert!(seen["attack"]["preflighted"].as_str().unwrap().starts_with("blocked"), "{seen}");

    // Rename and forget from the page; Colin Powell still has his one image.
    assert!(seen["after_rename"].as_array().unwrap().iter().any(|n| n == "Impostor renamed (1)"), "{seen}");
    assert_eq!(seen["after_forget"], serde_json::json!(["Colin Powell (1)"]), "{seen}");
}

#[test]
fn the_page_asks_for_the_token_and_keeps_it_out_of_the_address() {
    assert!(Path::new("/usr/bin/chromium").exists(), "chromium is not installed: run .ci/run");
    let dir = crate::server::tmp("browser-token");
    enroll(&dir, "Colin Powell", &lfw("Colin_Powell", 1));
    let video = dir.join("camera.y4m");
    write_y4m(&[lfw("Colin_Powell", 2)], 10, &video);
    let token = "a-token-of-the-right-length-42";
    std::fs::write(dir.join("token"), format!("{token}\n")).unwrap();
    let server = serve(&dir, &["--token-file", dir.join("token").to_str().unwrap()]);
    let seen = node(&["token.mjs", &format!("http://{}/", server.1), video.to_str().unwrap(), token]);
    eprintln!("page: {seen}");
    let none = serde_json::json!([]);
    // Asked first, nothing shown; asked again after a wrong token; with the right one the page
    // lists the gallery, keeps the token in session storage and not in its address.
    assert_eq!((&seen["first"]["asked"], &seen["first"]["names"]), (&serde_json::json!(true), &none), "{seen}");
    assert_eq!((&seen["wrong"]["asked"], &seen["wrong"]["names"]), (&serde_json::json!(true), &none), "{seen}");
    assert_eq!(seen["right"]["asked"], false, "{seen}");
    assert_eq!(seen["right"]["names"], serde_json::json!(["Colin Powell (1)"]), "{seen}");
    assert_eq!(seen["right"]["stored"], token, "{seen}");
    assert!(!seen["right"]["url"].as_str().unwrap().contains(token), "{seen}");
    assert_eq!((&seen["reloaded"]["asked"], &seen["reloaded"]["names"]), (&serde_json::json!(false), &serde_json::json!(["Colin Powell (1)"])), "{seen}");
}
