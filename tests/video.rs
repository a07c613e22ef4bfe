//! Faces in video through the binary: `identify --video` follows an enrolled person and a
//! stranger across a degraded clip (LFW photos placed, blurred, noised and compressed as
//! `eval::video` does) and names only the enrolled one; a cut stream is a clear error;
//! `enroll --video` takes the one person of a clip and refuses a clip of two.
use std::path::{Path, PathBuf};
use std::process::Command;

use image::RgbImage;
use siamface::data::y4m;
use siamface::eval::video::{compress, place, Degradation, FRAME_SIZE, WALL};
use siamface::rng::Rng;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_siamface"))
}

fn photo(name: &str, n: usize) -> RgbImage {
    image::open(crate::common::lfw(name, n)).unwrap().to_rgb8()
}

/// A clip of `frames` frames: each `(photo, x)` placed at height 180 and column `x`, drifting
/// a little, with a moderate degradation (faces 80 px wide, some blur, noise and compression).
pub fn clip(people: &[(&RgbImage, f32)], frames: usize, seed: u64) -> Vec<RgbImage> {
    let mut rng = Rng::new(seed);
    let d = Degradation { face_px: 80.0, blur: 0.6, noise: 4.0, gain: 0.8, jpeg_quality: 60, roll: 0.0 };
    (0..frames)
        .map(|f| {
            let mut frame = RgbImage::from_pixel(FRAME_SIZE.0, FRAME_SIZE.1, WALL);
            for (src, x) in people {
                let mut df = d;
                df.roll = 4.0 * ((f as f32) / 7.0).sin();
                place(&mut frame, src, &df, [x + f as f32, 180.0], &mut rng);
            }
            compress(&frame, d.jpeg_quality)
        })
        .collect()
}

pub fn write_clip(frames: &[RgbImage], path: &Path) {
    let mut out = Vec::new();
    y4m::write(&mut out, frames, (25, 1), y4m::Colorspace::C420Jpeg).unwrap();
    std::fs::write(path, out).unwrap();
}

fn enroll(gallery: &Path, name: &str, args: &[&str]) -> std::process::Output {
    bin().args(["enroll", name]).args(args).args(["--gallery", gallery.to_str().unwrap()]).output().unwrap()
}

fn dir(tag: &str) -> PathBuf {
    crate::server::tmp(&format!("video-{tag}"))
}

#[test]
fn identify_video_names_the_enrolled_person_on_most_frames_and_never_the_stranger() {
    let d = dir("identify");
    let g = d.join("g.sqlite");
    let out = enroll(&g, "Colin Powell", &[crate::common::lfw("Colin_Powell", 1).to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A stranger: never enrolled, on the right of the same frames.
    let (colin, stranger) = (photo("Colin_Powell", 3), photo("Aaron_Eckhart", 1));
    let clip_path = d.join("clip.y4m");
    write_clip(&clip(&[(&colin, 160.0), (&stranger, 460.0)], 50, 3), &clip_path);
    let out = bin().args(["identify", "--video", clip_path.to_str().unwrap(), "--json", "--gallery", g.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 51, "one line per frame and a summary");
    let (mut colin_frames, mut colin_named, mut stranger_named, mut stranger_frames) = (0, 0, 0, 0);
    for (k, l) in lines[..50].iter().enumerate() {
        assert_eq!(l["frame"], k);
        for f in l["faces"].as_array().unwrap() {
            let x = f["box"][0].as_f64().unwrap();
            assert!(["identifying", "named", "unknown"].contains(&f["state"].as_str().unwrap()), "{f}");
            if x < 310.0 {
                colin_frames += 1;
                colin_named += (k >= 12 && f["name"] == "Colin Powell") as usize;
            } else {
                stranger_frames += 1;
                stranger_named += f["name"].is_string() as usize;
            }
        }
    }
    eprintln!("Colin Powell named in {colin_named} of {} frames from frame 12; stranger named in {stranger_named} of {stranger_frames}", colin_frames.min(38));
    assert!(colin_frames >= 45 && stranger_frames >= 45, "both faces found in most frames: {colin_frames}, {stranger_frames}");
    assert!(colin_named >= 34, "Colin Powell named in {colin_named} of the 38 frames from frame 12 on");
    assert_eq!(stranger_named, 0);
    // Ids are stable: two long tracks in the summary.
    let summary = lines[50]["summary"].as_array().unwrap();
    let long: Vec<&serde_json::Value> = summary.iter().filter(|s| s["last"].as_u64().unwrap() - s["first"].as_u64().unwrap() >= 40).collect();
    assert_eq!(long.len(), 2, "{summary:?}");
    assert!(long.iter().any(|s| s["name"] == "Colin Powell") && long.iter().any(|s| s["name"].is_null()), "{summary:?}");

    // Without --json: a readable log naming him with a time, and the list of who was seen.
    let out = bin().args(["identify", "--video", clip_path.to_str().unwrap(), "--gallery", g.to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().any(|l| l.contains("s  track") && l.contains("Colin Powell (score")), "{text}");
    assert!(text.contains("who was seen:"), "{text}");
}

#[test]
fn a_cut_video_stream_is_an_error_naming_the_frame() {
    let d = dir("cut");
    let clip_path = d.join("clip.y4m");
    let colin = photo("Colin_Powell", 3);
    write_clip(&clip(&[(&colin, 200.0)], 4, 1), &clip_path);
    let bytes = std::fs::read(&clip_path).unwrap();
    std::fs::write(&clip_path, &bytes[..bytes.len() - 1000]).unwrap();
    let out = bin().args(["identify", "--video", clip_path.to_str().unwrap(), "--gallery", d.join("g.sqlite").to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    // Frames count from 1 in messages: the fourth is the one cut.
    assert!(err.contains("clip.y4m") && err.contains("frame 4 is cut short"), "{err}");
}

#[test]
fn enroll_video_takes_the_person_of_the_clip_and_refuses_a_clip_of_two() {
    let d = dir("enroll");
    let g = d.join("g.sqlite");
    let (colin, stranger) = (photo("Colin_Powell", 3), photo("Aaron_Eckhart", 1));
    let one = d.join("one.y4m");
    write_clip(&clip(&[(&colin, 250.0)], 30, 5), &one);
    let out = enroll(&g, "Colin Powell", &["--video", one.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let images = v["images"].as_u64().unwrap();
    assert!((2..=5).contains(&images), "{v}");
    // The enrolment verifies him on a clean photo he was not enrolled from (the frames were
    // small and compressed, so the strict naming threshold of identify is not the test).
    let out = bin().args(["verify", crate::common::lfw("Colin_Powell", 1).to_str().unwrap(), "--as", "Colin Powell", "--json", "--gallery", g.to_str().unwrap()]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verified"], true, "{v}");

    let two = d.join("two.y4m");
    write_clip(&clip(&[(&colin, 160.0), (&stranger, 460.0)], 30, 6), &two);
    let out = enroll(&g, "Someone", &["--video", two.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 people appear in the clip"), "{err}");
    let people = bin().args(["people", "--gallery", g.to_str().unwrap()]).output().unwrap();
    assert!(!String::from_utf8_lossy(&people.stdout).contains("Someone"));
}

#[test]
fn identify_video_reads_standard_input_and_lists_of_images_as_frames() {
    use std::io::Write;
    let d = dir("stdin");
    let g = d.join("g.sqlite");
    assert!(enroll(&g, "Colin Powell", &[crate::common::lfw("Colin_Powell", 1).to_str().unwrap()]).status.success());
    let colin = photo("Colin_Powell", 3);
    let frames = clip(&[(&colin, 250.0)], 12, 4);
    let mut y4m_bytes = Vec::new();
    y4m::write(&mut y4m_bytes, &frames, (25, 1), y4m::Colorspace::C420Mpeg2).unwrap();
    let mut child = bin()
        .args(["identify", "--video", "-", "--json", "--gallery", g.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&y4m_bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let piped: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
    assert_eq!(piped.len(), 13, "12 frames and the summary");
    // The same frames as PNG files give one line per file, frames numbered in order.
    let paths: Vec<String> = frames
        .iter()
        .enumerate()
        .map(|(k, f)| {
            let p = d.join(format!("f{k:03}.png"));
            f.save(&p).unwrap();
            p.to_str().unwrap().to_string()
        })
        .collect();
    let out = bin().args(["identify", "--video", "--json", "--gallery", g.to_str().unwrap()]).args(&paths).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 13);
    assert_eq!(lines[11]["frame"], 11);
    assert!(lines[11]["faces"][0]["track"].as_u64().is_some(), "{}", lines[11]);
}
