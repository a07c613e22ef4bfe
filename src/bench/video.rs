//! Frames per second of `identify --video` (the tracker's schedule: each face embedded every
//! few frames within a budget) on a 640x360 clip of 1 and of 5 enrolled faces, beside the
//! baseline of the same run that embeds every face of every frame (what identifying each frame
//! as a photo costs), with the ratio. `siamface bench-video` is this.
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::data::lfw;
use crate::error::{Error, Result};
use crate::eval::video::{compress, place, Degradation, FRAME_SIZE, WALL};
use crate::face::track::Settings;
use crate::rng::Rng;
use crate::service::stream::Stream;
use crate::service::{FaceService, Model, Options, Photo};

/// One clip timed both ways.
#[derive(Serialize)]
pub struct VideoRun {
    pub faces: usize,
    pub frames: usize,
    pub tracked_fps: f64,
    pub every_frame_fps: f64,
    pub speedup: f64,
    /// Faces named in the last frame by the tracker.
    pub named_at_end: usize,
}

/// The clips of 1 and of 5 faces.
#[derive(Serialize)]
#[serde(transparent)]
pub struct VideoReport {
    pub runs: Vec<VideoRun>,
}

fn fps(service: &FaceService, frames: &[image::RgbImage], settings: Settings) -> Result<(f64, usize)> {
    let mut stream = Stream::new(service.faces()?, settings);
    for f in frames.iter().take(5) {
        stream.next(service, f)?;
    }
    let mut stream = Stream::new(service.faces()?, settings);
    let t = Instant::now();
    let mut last = None;
    for f in frames {
        last = Some(stream.next(service, f)?);
    }
    let named = last.map_or(0, |r| r.faces.iter().filter(|f| f.name.is_some()).count());
    Ok((frames.len() as f64 / t.elapsed().as_secs_f64(), named))
}

/// Times `frames` frames of each clip with the built-in model; the faces are the first five
/// same-person pairs' people of the LFW folder `lfw` (pairs.txt and images_deepfunneled/),
/// enrolled from one photo and shown from the other.
pub fn video(lfw: &Path, frames: usize) -> Result<VideoReport> {
    let pairs = lfw::Pairs::parse(&lfw.join("pairs.txt"))?;
    let images = lfw.join("images_deepfunneled");
    let mut same: Vec<&lfw::Pair> = Vec::new();
    for p in pairs.folds.iter().flatten().filter(|p| p.same) {
        if same.len() < 5 && same.iter().all(|q| q.a.name != p.a.name) {
            same.push(p);
        }
    }
    if same.len() != 5 {
        return Err(Error::data(lfw, None, "fewer than 5 same-person pairs"));
    }
    let dir = std::env::temp_dir().join(format!("siamface-bench-video-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let service = FaceService::open(&Options { model: Some(Model::BuiltIn), gallery: dir.join("g.sqlite").into(), threads: 0, threshold: None, precision: Default::default() })?;
    let mut shown = Vec::new();
    for p in &same {
        service.enroll(&p.a.name.replace('_', " "), &[Photo::read(&p.a.path(&images))?], false)?;
        shown.push(crate::data::photo::open(&p.b.path(&images))?.to_rgb8());
    }
    let mut runs = Vec::new();
    for faces in [1usize, 5] {
        let mut rng = Rng::new(faces as u64);
        let d = Degradation { face_px: 70.0, blur: 0.5, noise: 3.0, gain: 0.9, jpeg_quality: 75, roll: 0.0 };
        let clip: Vec<image::RgbImage> = (0..frames)
            .map(|f| {
                let mut frame = image::RgbImage::from_pixel(FRAME_SIZE.0, FRAME_SIZE.1, WALL);
                for (k, src) in shown.iter().take(faces).enumerate() {
                    place(&mut frame, src, &d, [70.0 + 125.0 * k as f32 + (f % 20) as f32, 180.0], &mut rng);
                }
                compress(&frame, d.jpeg_quality)
            })
            .collect();
        let (tracked, named) = fps(&service, &clip, Settings::default())?;
        let every = Settings { embed_every: 1, embed_every_settled: 1, budget: usize::MAX, ..Settings::default() };
        let (baseline, _) = fps(&service, &clip, every)?;
        runs.push(VideoRun { faces, frames: clip.len(), tracked_fps: tracked, every_frame_fps: baseline, speedup: tracked / baseline, named_at_end: named });
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(VideoReport { runs })
}

impl std::fmt::Display for VideoReport {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        for r in &self.runs {
            writeln!(
                f,
                "{} face(s), 640x360, {} frames: {:.1} frames/s tracked, {:.1} frames/s embedding every face of every frame ({:.2}x); {} named in the last frame",
                r.faces, r.frames, r.tracked_fps, r.every_frame_fps, r.speedup, r.named_at_end
            )?;
        }
        Ok(())
    }
}
