//! `siamface calibrate`: measures a model's activation ranges for `--precision int8` on sample
//! photos and writes them beside its weights (`int8.json`).
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::eval::faces::{sample_inputs, Align};
use crate::face::Detector;
use crate::model::{io, Siamese};

#[derive(clap::Args)]
pub struct Args {
    /// Model directory (model.safetensors + config.json); int8.json is written into it.
    #[arg(long)]
    model: PathBuf,
    /// Folder of sample photos (and its sub-folders, one level: PERSON/*.jpg), like those the
    /// model will see; no labels are read.
    #[arg(long)]
    images: PathBuf,
    /// Photos to use, spread evenly over the folder's sorted list.
    #[arg(long, default_value_t = 300)]
    count: usize,
    /// How a photo becomes the network's input.
    #[arg(long, value_enum, default_value_t = Align::Detect)]
    align: Align,
    /// Worker threads (0 = every core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(a.model.is_dir(), "{}: --model must be a model directory, where int8.json is written", a.model.display());
    let ck = io::load(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    let mut net = Siamese::new(ck.config, ck.params, a.threads)?;
    let det = Detector::new()?;
    let (inputs, used, skipped) = sample_inputs(&net, &det, &a.images, a.count, a.align)?;
    anyhow::ensure!(used > 0, "{}: no face found in the {skipped} photos picked", a.images.display());
    let source = format!("{used} photos of {} ({:?} crops)", a.images.display(), a.align).to_lowercase();
    let c = net.calibrate(&inputs, &source)?;
    c.write(&a.model)?;
    println!("{}: int8 ranges of {} weight matrices from {used} photos ({skipped} without a face skipped)", a.model.join(crate::model::int8::FILE).display(), c.inputs.len());
    for (i, r) in c.inputs.iter().enumerate() {
        println!("  matrix {i:>2} ({}x{}): range [{:.4}, {:.4}] of seen [{:.4}, {:.4}]", r.k, r.n, r.lo, r.hi, r.seen_min, r.seen_max);
    }
    Ok(ExitCode::SUCCESS)
}
