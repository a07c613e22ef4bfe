//! Calibration for video, on held-out people. Video degrades faces in ways LFW's photos do not
//! (small faces, blur, sensor noise in the dark, block compression, pose that drifts), so the
//! thresholds that name a track are fitted on sequences made from LFW people of a held-out fold
//! and degraded that way, and reported on another fold.
//!
//! Each person of a fold with two photos or more is enrolled from one clean photo (the photo
//! pipeline, as `enroll` does); each of their other photos becomes a track: `FRAMES` frames of a
//! 640x360 picture in which the photo is scaled so the face is 40-120 px wide, turned a few
//! degrees, blurred, darkened, noised and JPEG-compressed, with per-track settings and a small
//! drift from frame to frame. People with a single photo are strangers: their photo becomes a
//! track too, and is never enrolled. Each frame goes through the live pipeline (the small
//! detector, alignment, quality), and every `embed_every`-th frame is embedded, as the tracker
//! does. The frames of one track come from one photo, so they are strongly correlated: the
//! pooled evidence is judged on whole tracks, never as independent frames.
use image::{Rgb, RgbImage};
use rayon::prelude::*;
use serde::Serialize;

use crate::error::Result;
use crate::face::align::{warp, LFW_LANDMARKS};
use crate::face::{Detection, Pipeline};
use crate::rng::Rng;

/// Frames per track (0.8 s at 30 frames a second).
pub const FRAMES: usize = 24;
/// The video frame the degraded photo is placed in.
pub const FRAME_SIZE: (u32, u32) = (640, 360);

/// How one track's frames are degraded.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Degradation {
    /// Face width in the frame, in pixels (LFW's faces are about 100 px in the 250 px photo).
    pub face_px: f32,
    /// Gaussian blur sigma, in frame pixels.
    pub blur: f32,
    /// Standard deviation of the sensor noise, in grey levels.
    pub noise: f32,
    /// Brightness factor (1: as photographed); a gamma of 1 / gain^0.5 darkens mid-tones more.
    pub gain: f32,
    pub jpeg_quality: u8,
    /// Head roll, in degrees.
    pub roll: f32,
}

impl Degradation {
    /// A track's settings, drawn uniformly over the ranges video gives.
    pub fn draw(rng: &mut Rng) -> Degradation {
        let mut u = |a: f64, b: f64| (a + (b - a) * rng.uniform()) as f32;
        Degradation { face_px: u(40.0, 120.0), blur: u(0.0, 1.5), noise: u(0.0, 10.0), gain: u(0.35, 1.0), jpeg_quality: u(30.0, 85.0) as u8, roll: u(-12.0, 12.0) }
    }
}

/// One frame of a track: `src` (a 250x250 LFW photo) placed at `at` (the face's centre) with
/// `d`, then blurred, darkened, noised and compressed.
pub fn render(src: &RgbImage, d: &Degradation, at: [f32; 2], rng: &mut Rng) -> RgbImage {
    let mut frame = RgbImage::from_pixel(FRAME_SIZE.0, FRAME_SIZE.1, WALL);
    place(&mut frame, src, d, at, rng);
    compress(&frame, d.jpeg_quality)
}

/// The grey wall the faces are placed on.
pub const WALL: Rgb<u8> = Rgb([96, 100, 104]);

/// `src` placed into `frame` with its face centred at `at`, turned, scaled, blurred, darkened
/// and noised as `d` says (only the face's neighbourhood is touched).
pub fn place(frame: &mut RgbImage, src: &RgbImage, d: &Degradation, at: [f32; 2], rng: &mut Rng) {
    // The map from the photo to the frame: scale so the eyes are d.face_px * 0.415 apart (LFW's
    // eyes are 41.5 px apart on ~100 px faces), turn by the roll, put the face centre at `at`.
    let eyes = LFW_LANDMARKS[1][0] - LFW_LANDMARKS[0][0];
    let scale = d.face_px * 0.415 / eyes;
    let (c, s) = (d.roll.to_radians().cos() * scale, d.roll.to_radians().sin() * scale);
    let centre = [125.0f32, 130.0];
    let z = [c, s, at[0] - (c * centre[0] - s * centre[1]), at[1] - (s * centre[0] + c * centre[1])];
    let (w, h) = frame.dimensions();
    let side = (250.0 * scale).ceil() as u32 + 4;
    let (x0, y0) = ((at[0] - side as f32 / 2.0).max(0.0) as u32, (at[1] - side as f32 / 2.0).max(0.0) as u32);
    if x0 >= w || y0 >= h {
        return;
    }
    let local = warp(src, [z[0], z[1], z[2] - x0 as f32, z[3] - y0 as f32], side);
    let mut patch = image::imageops::crop_imm(&local, 0, 0, side.min(w - x0), side.min(h - y0)).to_image();
    for p in patch.pixels_mut() {
        if p.0 == [0, 0, 0] {
            *p = WALL;
        }
    }
    if d.blur > 0.2 {
        patch = image::imageops::blur(&patch, d.blur);
    }
    // Darkening through a table (one gamma for the track); sensor noise from a table of normal
    // draws, walked with a random stride: the frame-to-frame noise that matters here, at a
    // fraction of a draw per sample.
    let gamma = 1.0 / d.gain.sqrt();
    let tone: Vec<f32> = (0..256).map(|v| (v as f32 / 255.0).powf(gamma) * d.gain * 255.0).collect();
    let noise: Vec<f32> = (0..4099).map(|_| d.noise * rng.normal() as f32).collect();
    let (mut at, stride) = (rng.below(noise.len()), 1 + rng.below(noise.len() - 1));
    for v in patch.iter_mut() {
        at = (at + stride) % noise.len();
        *v = (tone[*v as usize] + noise[at]).round().clamp(0.0, 255.0) as u8;
    }
    image::imageops::replace(frame, &patch, x0 as i64, y0 as i64);
}

/// The frame through a JPEG encoder at `quality` and back, as a camera's stream is.
pub fn compress(frame: &RgbImage, quality: u8) -> RgbImage {
    let mut jpeg = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, quality);
    if frame.write_with_encoder(enc).is_ok() {
        if let Ok(back) = image::load_from_memory(&jpeg) {
            return back.to_rgb8();
        }
    }
    frame.clone()
}

/// What the pipeline made of one embedded frame of a track.
#[derive(Clone, Debug, Serialize)]
pub struct Shot {
    pub frame: usize,
    pub weight: f32,
    pub embedding: Vec<f32>,
}

/// A track's embedded frames, and in how many frames the face was found at all.
#[derive(Clone, Debug, Serialize)]
pub struct TrackRun {
    pub person: String,
    pub degradation: Degradation,
    pub found: usize,
    pub shots: Vec<Shot>,
}

/// Renders and runs one track: every frame detected (the face nearest where it was placed),
/// every `embed_every`-th frame with a face good enough embedded.
pub fn run_track(pipe: &Pipeline, src: &RgbImage, person: &str, seed: u64, embed_every: usize) -> Result<TrackRun> {
    let mut rng = Rng::new(seed);
    let d = Degradation::draw(&mut rng);
    let (w, h) = (FRAME_SIZE.0 as f32, FRAME_SIZE.1 as f32);
    // The face stays whole inside the frame.
    let margin = [(d.face_px * 1.3).min(w / 2.0), (d.face_px * 1.3).min(h / 2.0)];
    let mut at = [margin[0] + (w - 2.0 * margin[0]) * rng.uniform() as f32, margin[1] + (h - 2.0 * margin[1]) * rng.uniform() as f32];
    let step = [2.0 * rng.normal() as f32, 1.0 * rng.normal() as f32];
    let mut run = TrackRun { person: person.to_string(), degradation: d, found: 0, shots: Vec::new() };
    let mut next_embed = 0;
    for frame in 0..FRAMES {
        let mut df = d;
        df.roll += 1.5 * rng.normal() as f32;
        df.face_px *= 1.0 + 0.03 * rng.normal() as f32;
        at = [(at[0] + step[0]).clamp(margin[0], w - margin[0]), (at[1] + step[1]).clamp(margin[1], h - margin[1])];
        let img = render(src, &df, at, &mut rng);
        let seen = pipe.sightings(&img, Detection::Live)?;
        let near = seen.into_iter().min_by(|a, b| dist(a.face.rect, at).total_cmp(&dist(b.face.rect, at)));
        let Some(s) = near.filter(|s| dist(s.face.rect, at) < d.face_px) else { continue };
        run.found += 1;
        if frame >= next_embed && s.quality.weight >= crate::face::quality::MIN_WEIGHT {
            run.shots.push(Shot { frame, weight: s.quality.weight, embedding: pipe.embed(&s.input)? });
            next_embed = frame + embed_every;
        }
    }
    Ok(run)
}

fn dist(r: [f32; 4], p: [f32; 2]) -> f32 {
    let (cx, cy) = (r[0] + r[2] / 2.0, r[1] + r[3] / 2.0);
    ((cx - p[0]).powi(2) + (cy - p[1]).powi(2)).sqrt()
}

/// Runs many tracks in parallel: `(photo path, person, seed)` each.
pub fn run_tracks(pipe: &Pipeline, jobs: &[(std::path::PathBuf, String, u64)], embed_every: usize) -> Result<Vec<TrackRun>> {
    let done = std::sync::atomic::AtomicUsize::new(0);
    jobs.par_iter()
        .map(|(path, person, seed)| {
            // A long run says how far it got, on standard error.
            let k = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if k % 100 == 0 {
                eprintln!("  {k} of {} tracks", jobs.len());
            }
            let src = crate::data::photo::open(path)?.to_rgb8();
            let src = if src.dimensions() == (250, 250) { src } else { image::imageops::resize(&src, 250, 250, image::imageops::FilterType::Triangle) };
            run_track(pipe, &src, person, *seed, embed_every)
        })
        .collect()
}

/// The weighted mean of a track's first `upto` frames' embeddings, and its total weight.
pub fn pooled(shots: &[Shot], upto: usize, window: usize) -> Option<(Vec<f32>, f32)> {
    let used: Vec<&Shot> = shots.iter().filter(|s| s.frame < upto).collect();
    let used = &used[used.len().saturating_sub(window)..];
    let total: f32 = used.iter().map(|s| s.weight).sum();
    let first = used.first()?;
    let mut m = vec![0f32; first.embedding.len()];
    for s in used {
        for (m, x) in m.iter_mut().zip(&s.embedding) {
            *m += x * s.weight / total;
        }
    }
    Some((m, total))
}

/// Tracks per enrolled person (from their 2nd and 3rd photos) and strangers at most per fold.
pub const TRACKS_PER_PERSON: usize = 2;
pub const MAX_STRANGERS: usize = 300;

/// One fold's people as a gallery and tracks: those with two photos or more enrolled from
/// their first (the face nearest the centre, as LFW labels it), the rest strangers.
pub fn setup(pipe: &Pipeline, images: &std::path::Path, people: &[(String, usize)], seed: u64) -> Result<super::video_fit::Setup> {
    use crate::data::lfw::Face;
    use crate::face::Pick;
    let multi: Vec<&(String, usize)> = people.iter().filter(|p| p.1 >= 2).collect();
    let enrolled: Vec<Result<Option<(String, Vec<f32>)>>> = multi
        .par_iter()
        .map(|(name, _)| {
            let path = Face { name: name.clone(), number: 1 }.path(images);
            let img = crate::data::photo::open(&path)?.to_rgb8();
            Ok(pipe.embed_photo(&img, Pick::Centre, &path).ok().map(|(_, e)| (name.clone(), e)))
        })
        .collect();
    let enrolled: Vec<(String, Vec<f32>)> = enrolled.into_iter().collect::<Result<Vec<_>>>()?.into_iter().flatten().collect();
    let mut jobs = Vec::new();
    for (name, _) in &enrolled {
        let n = multi.iter().find(|p| &p.0 == name).map_or(0, |p| p.1);
        for k in 2..=n.min(1 + TRACKS_PER_PERSON) {
            jobs.push((Face { name: name.clone(), number: k }.path(images), name.clone(), seed ^ (jobs.len() as u64 * 7919)));
        }
    }
    for (name, _) in people.iter().filter(|p| p.1 == 1).take(MAX_STRANGERS) {
        jobs.push((Face { name: name.clone(), number: 1 }.path(images), name.clone(), seed ^ (jobs.len() as u64 * 7919)));
    }
    let tracks = run_tracks(pipe, &jobs, crate::face::track::Settings::default().embed_every as usize)?;
    Ok(super::video_fit::Setup { enrolled, tracks })
}

/// What `eval video` reports: the rule fitted on one fold and its rates there and on another.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub far: f64,
    pub rule: crate::face::track::Rule,
    pub calibration_fold: usize,
    pub test_fold: usize,
    pub calibration: super::video_fit::Rates,
    pub test: super::video_fit::Rates,
    /// The test tracks split by face size: 80-120 px wide (a person near the camera) and
    /// 40-80 px (further away).
    pub test_near: super::video_fit::Rates,
    pub test_far: super::video_fit::Rates,
    /// Mean quality weight of the embedded frames, and the share of frames where the face was
    /// found, over the test tracks.
    pub mean_weight: f64,
    pub found: f64,
}

/// Fits the track rule at `far` per (track, person) pair on LFW `people.txt` fold
/// `calibration` (1-based) and measures it there and on fold `test`.
pub fn calibrate(pipe: &Pipeline, lfw: &std::path::Path, far: f64, calibration: usize, test: usize, seed: u64) -> Result<Report> {
    let people = crate::data::lfw::people(&lfw.join("people.txt"))?;
    let fold = |k: usize| {
        people.get(k.wrapping_sub(1)).ok_or_else(|| crate::Error::input("fold", format!("people.txt has {} folds; fold {k} asked for", people.len())))
    };
    let images = lfw.join("images_deepfunneled");
    eprintln!("fold {calibration}: tracks to fit the rule on");
    let cal = setup(pipe, &images, fold(calibration)?, seed)?;
    let rule = cal.fit(pipe.net(), far);
    eprintln!("fold {test}: tracks to test it on");
    let test_set = setup(pipe, &images, fold(test)?, seed + 1)?;
    let shots: Vec<f32> = test_set.tracks.iter().flat_map(|t| t.shots.iter().map(|s| s.weight)).collect();
    let found = test_set.tracks.iter().map(|t| t.found).sum::<usize>() as f64 / (test_set.tracks.len() * FRAMES).max(1) as f64;
    Ok(Report {
        far,
        rule,
        calibration_fold: calibration,
        test_fold: test,
        calibration: cal.rates(pipe.net(), &rule),
        test: test_set.rates(pipe.net(), &rule),
        test_near: test_set.only(|t| t.degradation.face_px >= 80.0).rates(pipe.net(), &rule),
        test_far: test_set.only(|t| t.degradation.face_px < 80.0).rates(pipe.net(), &rule),
        mean_weight: shots.iter().map(|&w| w as f64).sum::<f64>() / shots.len().max(1) as f64,
        found,
    })
}

impl Report {
    /// Writes the fitted rule, where it came from and this report into the card of the model
    /// directory `dir`, which must have one; everything else on the card stays. Returns the
    /// card's path.
    pub fn write_card(&self, dir: &std::path::Path) -> Result<std::path::PathBuf> {
        let path = dir.join(crate::model::card::FILE);
        if !path.is_file() {
            return Err(crate::Error::io(&path, std::io::Error::from(std::io::ErrorKind::NotFound)));
        }
        let mut card = crate::model::card::Card::read(dir)?;
        // A card without a name is named as the service calls such a model: by its folder.
        card.name = card.name.or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()));
        card.video = Some(self.rule);
        card.notes.insert(
            "video_source".into(),
            format!(
                "eval video: false-accept rate {} per (track, enrolled person) pair on degraded sequences of LFW people.txt fold {} (held out), reported on fold {}",
                self.far, self.calibration_fold, self.test_fold
            )
            .into(),
        );
        card.notes.insert("evaluation_video".into(), serde_json::to_value(self).map_err(|e| crate::Error::Internal(format!("video report: {e}")))?);
        card.write(dir)?;
        Ok(path)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(f, "rule (fold {}, FAR {} per track and person): named at {:.6} once the evidence weighs {}", self.calibration_fold, self.far, self.rule.name_at, self.rule.min_weight)?;
        for (what, x) in [("fit", &self.calibration), ("test", &self.test), ("test, faces 80-120 px", &self.test_near), ("test, faces 40-80 px", &self.test_far)] {
            writeln!(
                f,
                "{what}: {} genuine / {} stranger tracks; frames TAR@1e-3 {:.1}% @1e-4 {:.1}%; tracks TAR@1e-3 {:.1}% @1e-4 {:.1}%; named after 0.5 s {:.1}%, wrong {:.2}%; strangers named: {:.2}% of frames, {:.2}% of tracks; median {} frames to a name",
                x.genuine_tracks,
                x.stranger_tracks,
                100.0 * x.frame_tar_at_far_1e3,
                100.0 * x.frame_tar_at_far_1e4,
                100.0 * x.track_tar_at_far_1e3,
                100.0 * x.track_tar_at_far_1e4,
                100.0 * x.named_after_half_second,
                100.0 * x.named_wrong,
                100.0 * x.stranger_frames_named,
                100.0 * x.stranger_tracks_named,
                x.median_frames_to_name.map_or("-".into(), |f| f.to_string()),
            )?;
        }
        Ok(())
    }
}
