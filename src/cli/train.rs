//! `siamface train`: the flags as `service::training`'s choices, its progress on standard error.
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::data::sets::{Dataset, LfwFolds};
use crate::engine::gemm::Precision;
use crate::service::training::{self, Batches, Choices, Data, Optimizer};
use crate::train::batch::Augment;
use crate::train::{Init, Progress};

#[derive(clap::Args)]
pub struct Args {
    /// Dataset folder, of the kind --dataset names.
    #[arg(long)]
    data: PathBuf,
    /// What --data holds.
    #[arg(long, value_enum, default_value_t = Dataset::Omniglot)]
    dataset: Dataset,
    /// LFW: people.txt fold used for validation (model selection).
    #[arg(long, default_value_t = 9)]
    lfw_val_fold: usize,
    /// LFW: people.txt fold held out entirely (never loaded for training or validation).
    #[arg(long, default_value_t = 10)]
    lfw_test_fold: usize,
    /// Run folder: checkpoints, best model, history.csv/json, curves.png.
    #[arg(long)]
    out: PathBuf,
    /// Continue the run in --out from its last checkpoint (other settings come from it).
    #[arg(long)]
    resume: bool,
    /// Network: a preset (koch105, small35) or a JSON ModelConfig file.
    #[arg(long, default_value = "koch105")]
    config: String,
    /// How the weights are updated.
    #[arg(long, value_enum, default_value_t = Optimizer::Adam)]
    optimizer: Optimizer,
    /// Learning rate (Adam), or of every layer (SGD).
    #[arg(long)]
    lr: Option<f32>,
    /// Epochs to train to (default 200; with --resume, extends the run to this many).
    #[arg(long)]
    epochs: Option<usize>,
    /// Steps per epoch; validation and a checkpoint follow each epoch.
    #[arg(long, default_value_t = 300)]
    steps: usize,
    /// Pairs per step (--mode pairs) or images per step (--mode images).
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// How a batch is made.
    #[arg(long, value_enum, default_value_t = Batches::Pairs)]
    mode: Batches,
    /// Images of each class in a batch of --mode images.
    #[arg(long, default_value_t = 4)]
    per_class: usize,
    /// Distortions of the training images.
    #[arg(long, value_enum, default_value_t = Augment::Affine)]
    augment: Augment,
    /// Stop after this many epochs without a better validation accuracy.
    #[arg(long, default_value_t = 20)]
    patience: usize,
    /// Candidates per validation trial (N-way one-shot).
    #[arg(long, default_value_t = 20)]
    val_way: usize,
    /// Validation trials, drawn once and scored after every epoch (0: no validation).
    #[arg(long, default_value_t = 320)]
    val_trials: usize,
    /// Seed of everything random: initialisation, batches, augmentation, validation trials.
    #[arg(long, default_value_t = 2015)]
    seed: u64,
    /// Weight initialisation.
    #[arg(long, value_enum, default_value_t = Init::Paper)]
    init: Init,
    #[command(flatten)]
    cpu: super::options::Threads,
    /// Arithmetic of the products (bf16 measured 2.0x faster than f32 on koch105); with --resume, changes
    /// the run's precision from here on.
    #[arg(long, value_enum)]
    precision: Option<Precision>,
    /// Stop (after saving) once this many minutes have passed.
    #[arg(long)]
    minutes: Option<f64>,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let data = Data { dir: &a.data, dataset: a.dataset, folds: LfwFolds { validation: a.lfw_val_fold, test: a.lfw_test_fold } };
    let Args { config, optimizer, lr, epochs, steps, batch, mode, per_class, augment, patience, val_way, val_trials, seed, init, precision, .. } = a;
    let choices = Choices { config, optimizer, lr, epochs, steps, batch, mode, per_class, augment, patience, val_way, val_trials, seed, init, precision };
    let tty = std::io::stderr().is_terminal();
    // A progress line that cannot be written (standard error closed) does not stop the run.
    let mut progress = |p: &Progress| {
        if let Some(text) = training::progress_text(p, tty) {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
    };
    let why = training::train(&data, &a.out, &choices, a.resume, a.cpu.threads, a.minutes, &mut |line| eprintln!("{line}"), &mut progress)?;
    eprintln!("{why}; run folder {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}
