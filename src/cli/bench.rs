use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::bench::{self, GemmReport, Report};

#[derive(clap::Args)]
pub struct Args {
    /// Network preset: koch105 (105x105 gray, the paper) or face100 (100x100 RGB, the face app).
    #[arg(long, default_value = "koch105")]
    config: String,
    /// Worker threads (0 = every core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Timed repetitions per figure; medians are reported.
    #[arg(long, default_value_t = 7)]
    steps: usize,
    /// Python interpreter with TensorFlow, to measure the same network beside siamface.
    #[arg(long)]
    tf_python: Option<PathBuf>,
    /// The TensorFlow baseline script (keras_baseline.py) that `--tf-python` runs.
    #[arg(long)]
    tf_script: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Instead of the network, time identification against 1k, 100k and 1M enrolled
    /// embeddings of this width.
    #[arg(long)]
    identify_dim: Option<usize>,
    /// Instead of the network, time each of its products on one thread on the f32 GEMM and on
    /// the bf16 AMX tiles (where the CPU has them), beside the tile loop's peak.
    #[arg(long, conflicts_with = "identify_dim")]
    gemm: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    if let Some(dim) = a.identify_dim {
        let rows = bench::identify_scale(dim, &[1_000, 100_000, 1_000_000], a.threads, a.steps.max(1))?;
        if a.json {
            let v: Vec<_> = rows.iter().map(|(n, ms)| serde_json::json!({"enrolled": n, "dim": dim, "identify_ms": ms})).collect();
            println!("{}", serde_json::Value::Array(v));
        } else {
            for (n, ms) in rows {
                println!("identify one face against {n:>9} embeddings of {dim}: {ms:8.2} ms");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if a.gemm {
        let r = bench::gemm_kernels(&a.config, a.steps.max(1)).context("GEMM benchmark")?;
        if a.json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            print_gemm_table(&r);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if a.tf_python.is_some() != a.tf_script.is_some() {
        anyhow::bail!("--tf-python and --tf-script go together");
    }
    let opts = bench::Options { preset: a.config, threads: a.threads, steps: a.steps.max(1), tf_python: a.tf_python, tf_script: a.tf_script };
    let r = bench::run(&opts).context("benchmark")?;
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        print_table(&r);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(r: &Report) {
    let kernel = r.bf16_kernel.as_deref().unwrap_or("none on this CPU");
    let int8 = r.int8_kernel.as_deref().unwrap_or("none on this CPU");
    println!("siamface bench: {} on {} threads (f32 GEMM peak {:.0} GFLOP/s, bf16 kernel {kernel}, int8 kernel {int8}, peak RSS {:.0} MB)", r.config, r.threads, r.gemm_peak_gflops, r.peak_rss_mb);
    let stacks: Vec<&bench::Figures> = r.siamface.iter().chain(&r.tensorflow).collect();
    print!("{:<24}", "");
    for s in &stacks {
        print!(" {:>16}", s.stack);
    }
    let versus = r.tensorflow.last().map(|t| t.stack.clone());
    if let Some(t) = &versus {
        print!("  best siamface / {t}");
    }
    println!();
    let row = |name: &str, get: &dyn Fn(&bench::Figures) -> f64, higher_better: bool| {
        print!("{name:<24}");
        for s in &stacks {
            match get(s) {
                v if v.is_finite() => print!(" {v:>16.2}"),
                _ => print!(" {:>16}", "-"),
            }
        }
        if let Some(t) = r.tensorflow.last() {
            let ours = r.siamface.iter().map(get).fold(if higher_better { 0.0 } else { f64::INFINITY }, |a, b| if higher_better { a.max(b) } else { a.min(b) });
            let ratio = if higher_better { ours / get(t) } else { get(t) / ours };
            print!("  {ratio:.2}x");
        }
        println!();
    };
    row("train pairs/s", &|f| f.train_pairs_per_s, true);
    row("embeddings/s (batch 64)", &|f| f.embed_per_s, true);
    row("one image (ms)", &|f| f.single_ms, false);
    println!("(ratios: higher is faster for siamface, one image included)");
    println!("face detection, one 640x480 frame: {:.1} ms (photos, 640x640 network), {:.1} ms (live page, 320x320)", r.detect_640x480_ms, r.detect_fast_640x480_ms);
}

fn print_gemm_table(r: &GemmReport) {
    let peak = r.bf16_peak_gflops.map(|p| format!("{p:.0} GFLOP/s")).unwrap_or("-".into());
    let kernel = r.bf16_kernel.as_deref().unwrap_or("none");
    println!("siamface bench --gemm: {} products, one thread (f32 GEMM peak {:.0} GFLOP/s, bf16 kernel {kernel}, its peak {peak})", r.config, r.f32_peak_gflops);
    if r.bf16_kernel.is_none() {
        println!("no bf16 kernel is in use here (no AMX or AVX512_BF16 on this CPU, or {}=f32): f32 only", crate::engine::gemm::KERNELS_ENV);
    }
    println!("{:<20} {:>6} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>8} {:>7} {:>8}", "GFLOP/s", "m", "n", "k", "f32", "bf16", "B packed", "blocks", "pack ms", "bf16/f32", "of peak");
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map(f).unwrap_or("-".into());
    for x in &r.rows {
        println!(
            "{:<20} {:>6} {:>6} {:>6} {:>9.1} {:>9} {:>9} {:>9} {:>8.3} {:>7} {:>8}",
            x.name,
            x.m,
            x.n,
            x.k,
            x.f32_gflops,
            opt(x.bf16_gflops, &|v| format!("{v:.1}")),
            opt(x.bf16_packed_b_gflops, &|v| format!("{v:.1}")),
            opt(x.blocks_gflops, &|v| format!("{v:.1}")),
            x.pack_ms,
            opt(x.ratio, &|v| format!("{v:.2}x")),
            opt(x.peak_fraction, &|v| format!("{:.0}%", 100.0 * v)),
        );
    }
}
