//! Speed and memory of the network on this machine, with TensorFlow measured in the same run when
//! a TensorFlow interpreter is given, so the ratios compare like with like.
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use serde::Serialize;

use crate::config::ModelConfig;
use crate::engine::gemm::{matmul, Op, Par};
use crate::error::{Error, Result};
use crate::model::{Optimizer, Params, Siamese, TrainState};
use crate::rng::Rng;
use crate::OptimizerConfig;

mod faces;
mod gallery;
mod table;
mod video;

pub use faces::{faces, Dlib, FaceFigures, FacesReport};
pub use gallery::{gallery_backends, GalleryReport, GalleryRow};
pub use video::{video, VideoReport, VideoRun};

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
    /// The kernel bf16 products ran on (`amx`, `avx512bf16`), or `None` where this CPU has none
    /// (or `SIAMFACE_KERNELS=f32`) and only `f32` was measured.
    pub bf16_kernel: Option<String>,
    /// The kernel int8 products ran on (`avx512vnni`), or `None` where int8 was not measured.
    pub int8_kernel: Option<String>,
    /// siamface in `f32`, then in bf16 where a bf16 kernel runs, then in int8 (inference only)
    /// where an int8 kernel runs.
    pub siamface: Vec<Figures>,
    /// TensorFlow in `f32` and with `--bf16` (mixed_bfloat16), when an interpreter was given.
    pub tensorflow: Vec<Figures>,
    pub peak_rss_mb: f64,
    /// GFLOP/s of the 2048^3 `f32` product on all threads, measured in this run: the machine's
    /// `f32` peak.
    pub gemm_peak_gflops: f64,
    /// Face detection (YuNet) on one 640x480 frame: the photo detector (640x640 network input)
    /// and the live page's (320x320).
    pub detect_640x480_ms: f64,
    pub detect_fast_640x480_ms: f64,
}

/// One stack's figures on the network.
#[derive(Debug, Serialize, Clone)]
pub struct Figures {
    /// `siamface f32`, `siamface bf16`, `tensorflow f32`, `tensorflow bf16`.
    pub stack: String,
    pub train_pairs_per_s: f64,
    pub embed_per_s: f64,
    pub single_ms: f64,
    /// Network GFLOP/s of each figure, and as a share of the measured `f32` GEMM peak.
    pub train_gflops: f64,
    pub embed_gflops: f64,
    pub single_gflops: f64,
    pub train_peak_fraction: f64,
    pub embed_peak_fraction: f64,
    pub single_peak_fraction: f64,
}

impl Figures {
    fn new(stack: &str, (train_s, embed_s, single_s): (f64, f64, f64), cfg: &ModelConfig, peak: f64) -> Result<Figures> {
        let fwd = crate::model::params::forward_flops(cfg)?;
        let train_gflops = 2.0 * PAIRS as f64 * train_flops_per_image(cfg)? / train_s / 1e9;
        let embed_gflops = EMBED_BATCH as f64 * fwd / embed_s / 1e9;
        let single_gflops = fwd / single_s / 1e9;
        Ok(Figures {
            stack: stack.into(),
            train_pairs_per_s: PAIRS as f64 / train_s,
            embed_per_s: EMBED_BATCH as f64 / embed_s,
            single_ms: 1e3 * single_s,
            train_gflops,
            embed_gflops,
            single_gflops,
            train_peak_fraction: train_gflops / peak,
            embed_peak_fraction: embed_gflops / peak,
            single_peak_fraction: single_gflops / peak,
        })
    }
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
    use crate::engine::gemm::{Kernel, Precision};
    if opts.tf_python.is_some() != opts.tf_script.is_some() {
        return Err(Error::input("--tf-python and --tf-script", "give both or neither"));
    }
    let cfg = ModelConfig::preset(&opts.preset)?;
    let mut rng = Rng::new(0);
    let params = Params::init(&cfg, &mut rng)?;
    let kernel = Kernel::for_precision(Precision::Bf16);
    let mut precisions: Vec<Precision> = if kernel == Kernel::F32 { vec![Precision::F32] } else { vec![Precision::F32, Precision::Bf16] };
    if Kernel::for_precision(Precision::Int8).is_int8() {
        precisions.push(Precision::Int8);
    }
    let mut nets = Vec::new();
    for &p in &precisions {
        let mut net = Siamese::new(cfg.clone(), params.clone(), opts.threads)?;
        if p == Precision::Int8 {
            // Ranges from images of the same kind as the measured ones, not the same images.
            let sample = synthetic(&cfg, 64, &mut Rng::new(1));
            let c = net.calibrate(&sample, "synthetic bench images")?;
            net = net.with_int8(c)?;
        }
        let net = net.with_precision(p)?;
        let opt = Optimizer::new(OptimizerConfig::adam(), net.params())?;
        let step = TrainState::new(&net)?;
        nets.push((net, opt, step));
    }
    let threads = nets[0].0.threads();

    let images = synthetic(&cfg, 2 * PAIRS, &mut rng);
    let pairs: Vec<(u32, u32)> = (0..PAIRS as u32).map(|i| (i, PAIRS as u32 + i)).collect();
    let labels: Vec<f32> = (0..PAIRS).map(|i| (i % 2) as f32).collect();
    let batch = synthetic(&cfg, EMBED_BATCH, &mut rng);
    let mut out = vec![0f32; EMBED_BATCH * cfg.embedding];
    let mut out1 = vec![0f32; cfg.embedding];
    let mut measure = |net: &mut Siamese, opt: &mut Optimizer, step: &mut TrainState| -> (f64, f64, f64) {
        // int8 is for inference: its training figure is left out (NaN, printed as "-").
        let train_s = if net.precision() == Precision::Int8 {
            f64::NAN
        } else {
            time(opts.steps, || {
                step.forward_backward(net, &images, &pairs, &labels).expect("valid batch");
                net.apply(opt, step.grads()).expect("gradients of this model");
            })
        };
        let embed_s = time(opts.steps, || net.embed(&batch, &mut out).expect("valid batch"));
        let single_s = time(opts.steps * 4, || net.embed(&batch[..cfg.input_len()], &mut out1).expect("valid image"));
        (train_s, embed_s, single_s)
    };
    // This machine's speed drifts within minutes, so each stack is measured twice, in turn
    // (siamface, TensorFlow, siamface, TensorFlow), and each keeps its best.
    let best = |a: (f64, f64, f64), b: (f64, f64, f64)| (a.0.min(b.0), a.1.min(b.1), a.2.min(b.2));
    let tf = |bf16: bool| -> Result<Option<(f64, f64, f64)>> {
        match (&opts.tf_python, &opts.tf_script) {
            (Some(py), Some(script)) => Ok(Some(tensorflow_figures(py, script, &opts.preset, bf16)?)),
            _ => Ok(None),
        }
    };
    let mut ours: Vec<(f64, f64, f64)> = Vec::new();
    let mut theirs: Vec<Option<(f64, f64, f64)>> = vec![None, None];
    for round in 0..2 {
        for (i, (net, opt, step)) in nets.iter_mut().enumerate() {
            let m = measure(net, opt, step);
            if round == 0 { ours.push(m) } else { ours[i] = best(ours[i], m) }
        }
        for (i, bf16) in [false, true].into_iter().enumerate() {
            if let Some(m) = tf(bf16)? {
                theirs[i] = Some(theirs[i].map_or(m, |t| best(t, m)));
            }
        }
        if opts.tf_python.is_none() {
            break;
        }
    }
    let det = crate::face::Detector::new()?;
    let frame = image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8]));
    let detect_s = time(opts.steps, || {
        det.detect(&frame).expect("detector runs");
    });
    let detect_fast_s = time(opts.steps, || {
        det.detect_fast(&frame).expect("detector runs");
    });
    let peak = gemm_peak(threads);
    let siamface = precisions
        .iter()
        .zip(&ours)
        .map(|(p, m)| {
            let name = match p {
                Precision::F32 => "siamface f32",
                Precision::Bf16 => "siamface bf16",
                Precision::Int8 => "siamface int8",
            };
            Figures::new(name, *m, &cfg, peak)
        })
        .collect::<Result<Vec<_>>>()?;
    let tensorflow = ["tensorflow f32", "tensorflow bf16"]
        .iter()
        .zip(&theirs)
        .filter_map(|(name, m)| m.map(|m| Figures::new(name, m, &cfg, peak)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Report {
        config: opts.preset.clone(),
        threads,
        bf16_kernel: (kernel != Kernel::F32).then(|| kernel.name().to_string()),
        int8_kernel: Some(Kernel::for_precision(Precision::Int8)).filter(|k| k.is_int8()).map(|k| k.name().to_string()),
        siamface,
        tensorflow,
        peak_rss_mb: peak_rss_mb(),
        gemm_peak_gflops: peak,
        detect_640x480_ms: 1e3 * detect_s,
        detect_fast_640x480_ms: 1e3 * detect_fast_s,
    })
}

/// Forward, weight gradients and input gradients of every layer but the first (whose input
/// gradient is never needed).
pub fn train_flops_per_image(cfg: &ModelConfig) -> Result<f64> {
    let layers = cfg.layers()?;
    let l0 = &layers[0];
    let conv1 = 2.0 * (l0.conv_h() * l0.conv_w() * l0.patch() * l0.filters) as f64;
    Ok(3.0 * crate::model::params::forward_flops(cfg)? - conv1)
}

/// TensorFlow's seconds per (training step, embedded batch, single image) from the baseline
/// script, in `f32` or with its `--bf16` (mixed_bfloat16) policy.
fn tensorflow_figures(py: &PathBuf, script: &PathBuf, preset: &str, bf16: bool) -> Result<(f64, f64, f64)> {
    let run = |mode: &str| -> Result<serde_json::Value> {
        let mut cmd = Command::new(py);
        cmd.arg(script).arg(mode).arg("8").arg("--json");
        if bf16 {
            cmd.arg("--bf16");
        }
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
    Ok((PAIRS as f64 / get(&t, "train_pairs_per_s")?, EMBED_BATCH as f64 / get(&i, "embed_per_s")?, get(&i, "single_ms")? / 1e3))
}

/// One query against `enrolled` embeddings of width `dim`: the median time.
#[derive(Debug, Serialize)]
pub struct IdentifyRow {
    pub dim: usize,
    pub enrolled: usize,
    pub identify_ms: f64,
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct IdentifyReport {
    pub rows: Vec<IdentifyRow>,
}

/// Identification latency: one query against `n` enrolled embeddings of width `dim` (synthetic,
/// uniform in [0, 1) like sigmoid outputs), for each `n` of `sizes`.
pub fn identify_scale(dim: usize, sizes: &[usize], threads: usize, reps: usize) -> Result<IdentifyReport> {
    let cfg = ModelConfig { embedding: dim, ..ModelConfig::small35() };
    let mut rng = Rng::new(5);
    let params = Params::init(&cfg, &mut rng)?;
    let net = Siamese::new(cfg, params, threads)?;
    let query: Vec<f32> = (0..dim).map(|_| rng.uniform() as f32).collect();
    let mut rows = Vec::new();
    for &n in sizes {
        let gallery: Vec<f32> = (0..n * dim).map(|i| ((i as u64).wrapping_mul(2_654_435_761) % 1000) as f32 / 1000.0).collect();
        let mut scores = vec![0f32; n];
        let s = time(reps, || net.score_many(&query, &gallery, &mut scores).expect("sizes match"));
        rows.push(IdentifyRow { dim, enrolled: n, identify_ms: 1e3 * s });
    }
    Ok(IdentifyReport { rows })
}

/// One product of the network timed on each kernel, one thread.
#[derive(Debug, Serialize)]
pub struct GemmRow {
    pub name: String,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub f32_gflops: f64,
    /// The whole bf16 product on the bf16 kernel here, rounding and packing included.
    pub bf16_gflops: Option<f64>,
    /// The bf16 product with `B` packed beforehand (`gemm::PackedB`, as for weights at inference).
    pub bf16_packed_b_gflops: Option<f64>,
    /// Of which rounding and packing both operands into tile panels (runs on any CPU).
    pub pack_ms: f64,
    /// The blocks alone: the bf16 product's time less the packing.
    pub blocks_gflops: Option<f64>,
    /// bf16 / f32 throughput.
    pub ratio: Option<f64>,
    /// bf16 throughput as a share of the bf16 kernel's peak.
    pub peak_fraction: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct GemmReport {
    pub config: String,
    /// The kernel the bf16 rows ran on (`amx`, `avx512bf16`), or `None` where bf16 runs in
    /// `f32` here (no such CPU feature, or `SIAMFACE_KERNELS=f32`).
    pub bf16_kernel: Option<String>,
    /// `f32` GEMM of 2048^3 on one thread: the AVX-512 (or portable) peak.
    pub f32_peak_gflops: f64,
    /// A loop of the bf16 kernel's instruction on operands held in registers or tiles
    /// (`tdpbf16ps` or `vdpbf16ps`), one thread.
    pub bf16_peak_gflops: Option<f64>,
    pub rows: Vec<GemmRow>,
}

/// Floats of im2col scratch per thread in the model (`model::work::COL_SCRATCH`): it sets how
/// many output pixels one convolution product covers.
const MODEL_COL_SCRATCH: usize = 1 << 20;

/// The products one image (and a batch of 64 through the dense layer) runs, as `conv` and
/// `linear` call them: (name, m, n, k, A transposed, B transposed).
fn network_products(cfg: &ModelConfig) -> Result<Vec<(String, usize, usize, usize, bool, bool)>> {
    let mut out = Vec::new();
    for (i, l) in cfg.layers()?.iter().enumerate() {
        let (patch, k) = (l.patch(), l.filters);
        let rows = (MODEL_COL_SCRATCH / patch).clamp(1, l.conv_h() * l.conv_w());
        out.push((format!("conv{} forward", i + 1), rows, k, patch, false, false));
        out.push((format!("conv{} dW", i + 1), patch, k, rows, true, false));
        if i > 0 {
            out.push((format!("conv{} dX", i + 1), rows, patch, k, false, true));
        }
    }
    out.push(("dense forward (64)".into(), EMBED_BATCH, cfg.embedding, cfg.flat_len()?, false, false));
    Ok(out)
}

/// Seconds per call of `f`: the median of `reps` samples, each long enough (about 20 ms) to time.
fn time_small<F: FnMut()>(reps: usize, mut f: F) -> f64 {
    let t = Instant::now();
    f();
    let inner = ((0.02 / t.elapsed().as_secs_f64().max(1e-7)) as usize).clamp(1, 10_000);
    time(reps, || (0..inner).for_each(|_| f())) / inner as f64
}

/// GFLOP/s of each product of `preset` on the `f32` kernel and, where the CPU has one, on the bf16
/// kernel, with its peak and the `f32` peak measured in the same run, all on one thread.
pub fn gemm_kernels(preset: &str, reps: usize) -> Result<GemmReport> {
    use crate::engine::bf16::{self, View};
    use crate::engine::gemm::{matmul_on, matmul_packed, Kernel, PackedB, Precision};
    let cfg = ModelConfig::preset(preset)?;
    let kernel = Kernel::for_precision(Precision::Bf16);
    let bf16 = kernel != Kernel::F32;
    let bf16_peak_gflops = match kernel {
        Kernel::Bf16Amx => {
            let tiles = crate::engine::amx::Tiles::configure();
            let iters = 1 << 20;
            let flops = tiles.peak_loop(iters);
            Some(flops / time(reps, || {
                tiles.peak_loop(iters);
            }) / 1e9)
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Bf16Avx512 => {
            let iters = 1 << 20;
            let flops = crate::engine::bf16_dot::peak_loop(iters);
            Some(flops / time(reps, || {
                crate::engine::bf16_dot::peak_loop(iters);
            }) / 1e9)
        }
        _ => None,
    };
    let mut rng = Rng::new(9);
    let mut rows = Vec::new();
    for (name, m, n, k, at, bt) in network_products(&cfg)? {
        let a: Vec<f32> = (0..m * k).map(|_| rng.normal() as f32).collect();
        let b: Vec<f32> = (0..k * n).map(|_| rng.normal() as f32).collect();
        let mut c = vec![0f32; m * n];
        let (ao, bo) = (Op { data: &a, t: at, stride: None }, Op { data: &b, t: bt, stride: None });
        let flops = 2.0 * (m * n * k) as f64;
        let mut on = |kernel| time_small(reps, || matmul_on(kernel, ao, bo, &mut c, n, m, n, k, false, Par::One));
        let f32_s = on(Kernel::F32);
        let bf16_s = bf16.then(|| on(kernel));
        let packed_s = bf16.then(|| {
            let pb = PackedB::new(bo, k, n, kernel);
            time_small(reps, || matmul_packed(ao, &pb, &mut c, n, m, false, Par::One))
        });
        let (mut pa, mut pb) = (vec![0u16; bf16::packed_len(m, k)], vec![0u16; bf16::packed_len(n, k)]);
        let (av, bv) = (
            if at { View { data: &a, rs: 1, cs: m } } else { View { data: &a, rs: k, cs: 1 } },
            if bt { View { data: &b, rs: 1, cs: k } } else { View { data: &b, rs: n, cs: 1 } },
        );
        let pack_s = time_small(reps, || {
            bf16::pack_a(av, m, k, &mut pa);
            bf16::pack_b(bv, k, n, &mut pb);
        });
        let gflops = |s: f64| flops / s / 1e9;
        rows.push(GemmRow {
            name,
            m,
            n,
            k,
            f32_gflops: gflops(f32_s),
            bf16_gflops: bf16_s.map(gflops),
            bf16_packed_b_gflops: packed_s.map(gflops),
            pack_ms: 1e3 * pack_s,
            blocks_gflops: bf16_s.filter(|s| *s > pack_s).map(|s| gflops(s - pack_s)),
            ratio: bf16_s.map(|s| f32_s / s),
            peak_fraction: bf16_s.zip(bf16_peak_gflops).map(|(s, p)| gflops(s) / p),
        });
    }
    Ok(GemmReport { config: preset.into(), bf16_kernel: bf16.then(|| kernel.name().to_string()), f32_peak_gflops: gemm_peak(1), bf16_peak_gflops, rows })
}
