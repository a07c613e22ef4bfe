//! Speed and memory of the network on this machine, with TensorFlow measured in the same run when
//! a TensorFlow interpreter is given, so the ratios compare like with like.
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use serde::Serialize;

use crate::config::ModelConfig;
use crate::engine::gemm::{matmul, Op, Par};
use crate::error::{Error, Result};
use crate::model::{Optimizer, Params, Siamese};
use crate::rng::Rng;
use crate::OptimizerConfig;

pub struct Options {
    pub preset: String,
    pub threads: usize,
    /// Timed repetitions of each measurement; the median is reported.
    pub steps: usize,
    pub tf_python: Option<PathBuf>,
    pub tf_script: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub config: String,
    pub threads: usize,
    pub train_pairs_per_s: f64,
    pub embed_per_s: f64,
    pub single_ms: f64,
    pub peak_rss_mb: f64,
    /// GFLOP/s of the 2048^3 product on all threads, measured in this run: the machine's peak.
    pub gemm_peak_gflops: f64,
    pub train_gflops: f64,
    pub embed_gflops: f64,
    pub single_gflops: f64,
    pub train_peak_fraction: f64,
    pub embed_peak_fraction: f64,
    pub single_peak_fraction: f64,
    /// Face detection (YuNet) on one 640x480 frame: the photo detector (640x640 network input)
    /// and the live page's (320x320).
    pub detect_640x480_ms: f64,
    pub detect_fast_640x480_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tensorflow: Option<TfReport>,
}

#[derive(Debug, Serialize)]
pub struct TfReport {
    pub train_pairs_per_s: f64,
    pub embed_per_s: f64,
    pub single_ms: f64,
    /// siamface / TensorFlow throughput (higher is better for siamface).
    pub train_ratio: f64,
    pub embed_ratio: f64,
    /// siamface / TensorFlow latency (lower is better for siamface).
    pub single_ratio: f64,
}

const PAIRS: usize = 32;
const EMBED_BATCH: usize = 64;

/// Images around ten random prototypes, as the TensorFlow script makes them.
fn synthetic(cfg: &ModelConfig, n: usize, rng: &mut Rng) -> Vec<f32> {
    let il = cfg.input_len();
    let protos: Vec<f32> = (0..10 * il).map(|_| rng.uniform() as f32).collect();
    (0..n).flat_map(|_| {
        let p = rng.below(10);
        (0..il).map(|k| 0.6 * protos[p * il + k] + 0.4 * rng.uniform() as f32).collect::<Vec<_>>()
    }).collect()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn time<F: FnMut()>(reps: usize, mut f: F) -> f64 {
    f();
    median((0..reps.max(1)).map(|_| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64()
    }).collect())
}

pub fn gemm_peak(threads: usize) -> f64 {
    let n = 2048;
    let a = vec![0.5f32; n * n];
    let mut c = vec![0f32; n * n];
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build().expect("thread pool");
    let s = pool.install(|| time(4, || matmul(Op::n(&a), Op::n(&a), &mut c, n, n, n, n, false, Par::threads(threads))));
    2.0 * (n * n * n) as f64 / s / 1e9
}

pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

pub fn run(opts: &Options) -> Result<Report> {
    let cfg = ModelConfig::preset(&opts.preset)?;
    let mut rng = Rng::new(0);
    let params = Params::init(&cfg, &mut rng)?;
    let mut net = Siamese::new(cfg.clone(), params, opts.threads)?;
    let threads = net.threads();
    let mut opt = Optimizer::new(OptimizerConfig::adam(), &net.params)?;

    let images = synthetic(&cfg, 2 * PAIRS, &mut rng);
    let pairs: Vec<(u32, u32)> = (0..PAIRS as u32).map(|i| (i, PAIRS as u32 + i)).collect();
    let labels: Vec<f32> = (0..PAIRS).map(|i| (i % 2) as f32).collect();
    let batch = synthetic(&cfg, EMBED_BATCH, &mut rng);
    let mut out = vec![0f32; EMBED_BATCH * cfg.embedding];
    let mut out1 = vec![0f32; cfg.embedding];
    let mut measure = |net: &mut Siamese| -> (f64, f64, f64) {
        let train_s = time(opts.steps, || {
            net.forward_backward(&images, &pairs, &labels).expect("valid batch");
            net.apply(&mut opt);
        });
        let embed_s = time(opts.steps, || net.embed(&batch, &mut out).expect("valid batch"));
        let single_s = time(opts.steps * 4, || net.embed(&batch[..cfg.input_len()], &mut out1).expect("valid image"));
        (train_s, embed_s, single_s)
    };
    // This machine's speed drifts within minutes, so with a TensorFlow baseline each stack is
    // measured twice, interleaved (siamface, TensorFlow, siamface, TensorFlow), and each keeps
    // its best.
    let first = measure(&mut net);
    let tf_first = match (&opts.tf_python, &opts.tf_script) {
        (Some(py), Some(script)) => Some(tensorflow_figures(py, script, &opts.preset)?),
        _ => None,
    };
    let (train_s, embed_s, single_s) = if tf_first.is_some() {
        let second = measure(&mut net);
        (first.0.min(second.0), first.1.min(second.1), first.2.min(second.2))
    } else {
        first
    };
    let det = crate::face::Detector::new()?;
    let frame = image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8]));
    let detect_s = time(opts.steps, || {
        det.detect(&frame).expect("detector runs");
    });
    let detect_fast_s = time(opts.steps, || {
        det.detect_fast(&frame).expect("detector runs");
    });
    let fwd = cfg.forward_flops()?;
    let train_flops = 2.0 * PAIRS as f64 * train_flops_per_image(&cfg)?;
    let peak = gemm_peak(threads);
    let mut report = Report {
        config: opts.preset.clone(),
        threads,
        train_pairs_per_s: PAIRS as f64 / train_s,
        embed_per_s: EMBED_BATCH as f64 / embed_s,
        single_ms: 1e3 * single_s,
        peak_rss_mb: peak_rss_mb(),
        gemm_peak_gflops: peak,
        train_gflops: train_flops / train_s / 1e9,
        embed_gflops: EMBED_BATCH as f64 * fwd / embed_s / 1e9,
        single_gflops: fwd / single_s / 1e9,
        train_peak_fraction: 0.0,
        embed_peak_fraction: 0.0,
        single_peak_fraction: 0.0,
        detect_640x480_ms: 1e3 * detect_s,
        detect_fast_640x480_ms: 1e3 * detect_fast_s,
        tensorflow: None,
    };
    report.train_peak_fraction = report.train_gflops / peak;
    report.embed_peak_fraction = report.embed_gflops / peak;
    report.single_peak_fraction = report.single_gflops / peak;
    if let (Some(py), Some(script), Some(a)) = (&opts.tf_python, &opts.tf_script, tf_first) {
        let b = tensorflow_figures(py, script, &opts.preset)?;
        let (tp, ep, sm) = (a.0.max(b.0), a.1.max(b.1), a.2.min(b.2));
        report.tensorflow = Some(TfReport {
            train_pairs_per_s: tp,
            embed_per_s: ep,
            single_ms: sm,
            train_ratio: report.train_pairs_per_s / tp,
            embed_ratio: report.embed_per_s / ep,
            single_ratio: report.single_ms / sm,
        });
    }
    Ok(report)
}

/// Forward, weight gradients and input gradients of every layer but the first (whose input
/// gradient is never needed).
pub fn train_flops_per_image(cfg: &ModelConfig) -> Result<f64> {
    let layers = cfg.layers()?;
    let l0 = &layers[0];
    let conv1 = 2.0 * (l0.conv_h() * l0.conv_w() * l0.patch() * l0.filters) as f64;
    Ok(3.0 * cfg.forward_flops()? - conv1)
}

/// TensorFlow's (training pairs/s, embeddings/s, single-image ms) from the baseline script.
fn tensorflow_figures(py: &PathBuf, script: &PathBuf, preset: &str) -> Result<(f64, f64, f64)> {
    let run = |mode: &str| -> Result<serde_json::Value> {
        let mut cmd = Command::new(py);
        cmd.arg(script).arg(mode).arg("8").arg("--json");
        if preset == "face100" {
            cmd.arg("face");
        }
        let out = cmd.output().map_err(|e| Error::io(py, e))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().rev().find(|l| l.trim_start().starts_with('{')).ok_or_else(|| {
            Error::shape("TensorFlow baseline output", "a JSON line", format!("{}{}", text, String::from_utf8_lossy(&out.stderr)))
        })?;
        serde_json::from_str(line).map_err(|e| Error::shape("TensorFlow baseline output", "JSON", e))
    };
    let (t, i) = (run("train")?, run("infer")?);
    let get = |v: &serde_json::Value, k: &str| v[k].as_f64().ok_or_else(|| Error::shape("TensorFlow baseline output", k, v));
    Ok((get(&t, "train_pairs_per_s")?, get(&i, "embed_per_s")?, get(&i, "single_ms")?))
}

/// Identification latency: one query against `n` enrolled embeddings of width `dim` (synthetic,
/// uniform in [0, 1) like sigmoid outputs), for each `n`; returns (n, median ms).
pub fn identify_scale(dim: usize, sizes: &[usize], threads: usize, reps: usize) -> Result<Vec<(usize, f64)>> {
    let cfg = ModelConfig { embedding: dim, ..ModelConfig::small35() };
    let mut rng = Rng::new(5);
    let params = Params::init(&cfg, &mut rng)?;
    let net = Siamese::new(cfg, params, threads)?;
    let query: Vec<f32> = (0..dim).map(|_| rng.uniform() as f32).collect();
    let mut out = Vec::new();
    for &n in sizes {
        let gallery: Vec<f32> = (0..n * dim).map(|i| ((i as u64).wrapping_mul(2_654_435_761) % 1000) as f32 / 1000.0).collect();
        let mut scores = vec![0f32; n];
        let s = time(reps, || net.score_many(&query, &gallery, &mut scores).expect("sizes match"));
        out.push((n, 1e3 * s));
    }
    Ok(out)
}
