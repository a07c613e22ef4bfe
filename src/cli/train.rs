use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::{ModelConfig, OptimizerConfig};
use crate::data::imageset::ImageSet;
use crate::data::sets::{self, Dataset};
use crate::train::batch::{Augment, Mode};
use crate::engine::gemm::Precision;
use crate::train::{Init, Progress, TrainConfig, Trainer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OptimizerKind {
    /// The face app's (lr 1e-4 unless --lr).
    Adam,
    /// The paper's per-layer recipe, momentum and decay.
    Sgd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BatchMode {
    /// Independent pairs.
    Pairs,
    /// Embed each image once, score every same pair in the batch and as many different pairs.
    Images,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AugmentKind {
    /// The images as they are.
    None,
    /// Koch's affine distortions.
    Affine,
    /// The face app's photo augmentations plus mild affine distortions (faces).
    Photo,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InitKind {
    /// Koch et al.'s normals.
    Paper,
    /// Glorot-uniform weights, zero biases.
    Keras,
}

#[derive(clap::Args)]
pub struct Args {
    /// Dataset folder: Omniglot (images_background.npz, images_evaluation.npz, alphabets.tsv),
    /// LFW (people.txt, images_deepfunneled/), identity folders (PERSON/*.jpg) or the face
    /// app's anchor/ positive/ negative/.
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
    #[arg(long, value_enum, default_value_t = OptimizerKind::Adam)]
    optimizer: OptimizerKind,
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
    #[arg(long, value_enum, default_value_t = BatchMode::Pairs)]
    mode: BatchMode,
    /// Images of each class in a batch of --mode images.
    #[arg(long, default_value_t = 4)]
    per_class: usize,
    /// Distortions of the training images.
    #[arg(long, value_enum, default_value_t = AugmentKind::Affine)]
    augment: AugmentKind,
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
    #[arg(long, value_enum, default_value_t = InitKind::Paper)]
    init: InitKind,
    /// Worker threads (0 = every core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Arithmetic of the products: bf16 trains in mixed precision (f32 weights, gradients and
    /// optimiser state), 1.4x faster measured on koch105 where the CPU has AVX512_BF16. With
    /// --resume, changes the run's precision from here on.
    #[arg(long, value_enum)]
    precision: Option<Precision>,
    /// Stop (after saving) once this many minutes have passed.
    #[arg(long)]
    minutes: Option<f64>,
}

fn model_config(spec: &str) -> anyhow::Result<ModelConfig> {
    if spec.ends_with(".json") {
        let text = std::fs::read_to_string(spec).with_context(|| format!("reading {spec}"))?;
        let c: ModelConfig = serde_json::from_str(&text).with_context(|| format!("{spec}: not a model config"))?;
        c.validate().with_context(|| spec.to_string())?;
        crate::model::Params::layout(&c).with_context(|| spec.to_string())?;
        Ok(c)
    } else {
        Ok(ModelConfig::preset(spec)?)
    }
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let cfg = if a.resume {
        let ck = crate::model::io::load(&a.out.join(crate::train::trainer::LAST)).context("--resume")?;
        ck.config
    } else {
        model_config(&a.config)?
    };
    let (train, val) = load_sets(&a, &cfg)?;
    eprintln!(
        "training set: {} classes, {} images; validation: {} classes, {} images",
        train.classes.len(),
        train.len(),
        val.classes.len(),
        val.len()
    );

    let mut trainer = if a.resume {
        let mut t = Trainer::resume(&a.out, &train, &val, a.threads)?;
        if let Some(e) = a.epochs {
            t.set_epochs(e);
        }
        if let Some(p) = a.precision {
            t.set_precision(p)?;
        }
        t
    } else {
        let groups = cfg.conv.len() + 2;
        let optimizer = match a.optimizer {
            OptimizerKind::Adam => match OptimizerConfig::adam() {
                OptimizerConfig::Adam { beta1, beta2, epsilon, lr } => OptimizerConfig::Adam { lr: a.lr.unwrap_or(lr), beta1, beta2, epsilon },
                other => other,
            },
            OptimizerKind::Sgd => match OptimizerConfig::sgd(groups) {
                OptimizerConfig::Sgd { mut layers, lr_decay, momentum_start, momentum_ramp_epochs } => {
                    if let Some(lr) = a.lr {
                        layers.iter_mut().for_each(|l| l.lr = lr);
                    }
                    OptimizerConfig::Sgd { layers, lr_decay, momentum_start, momentum_ramp_epochs }
                }
                other => other,
            },
        };
        let mode = match a.mode {
            BatchMode::Pairs => Mode::Pairs,
            BatchMode::Images => Mode::Images { per_class: a.per_class },
        };
        let augment = match a.augment {
            AugmentKind::None => Augment::None,
            AugmentKind::Affine => Augment::Affine,
            AugmentKind::Photo => Augment::Photo,
        };
        let config = TrainConfig {
            model: cfg,
            optimizer,
            seed: a.seed,
            epochs: a.epochs.unwrap_or(200),
            steps_per_epoch: a.steps.max(1),
            batch: a.batch.max(2),
            mode,
            augment,
            patience: a.patience,
            val_way: a.val_way,
            val_trials: a.val_trials,
            init: match a.init {
                InitKind::Paper => Init::Paper,
                InitKind::Keras => Init::Keras,
            },
            precision: a.precision.unwrap_or_default(),
        };
        Trainer::new(config, &train, &val, &a.out, a.threads)?
    };
    let precision = trainer.model().precision();
    eprintln!("products: {precision:?} on the {} kernel", crate::engine::gemm::Kernel::for_precision(precision).name());
    let deadline = a.minutes.map(|m| Instant::now() + Duration::from_secs_f64(m * 60.0));
    let tty = std::io::stderr().is_terminal();
    let why = trainer.run(deadline, &mut |p: &Progress| report(p, tty))?;
    eprintln!("{why}; run folder {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}

fn load_sets(a: &Args, cfg: &ModelConfig) -> anyhow::Result<(ImageSet, ImageSet)> {
    let folds = sets::LfwFolds { validation: a.lfw_val_fold, test: a.lfw_test_fold };
    let s = sets::load(a.dataset, &a.data, cfg, folds).with_context(|| format!("loading {}", a.data.display()))?;
    if s.validation_is_training {
        eprintln!("warning: too few identities to hold some out; validation uses the training images");
    }
    Ok((s.train, s.validation))
}

fn report(p: &Progress, tty: bool) {
    let mut err = std::io::stderr();
    if let Some(r) = p.record {
        let _ = writeln!(
            err,
            "{}epoch {:>3}: loss {:.4}  precision {:.3}  recall {:.3}  accuracy {:.3}  val one-shot {:.3}  ({:.0} s, {} pairs)",
            if tty { "\r\x1b[2K" } else { "" },
            r.epoch,
            r.loss,
            r.precision,
            r.recall,
            r.accuracy,
            r.val_oneshot,
            r.train_seconds,
            r.pairs
        );
        return;
    }
    let every = (p.steps / 10).max(1);
    if tty || p.step % every == 0 {
        let width = 30;
        let done = width * p.step / p.steps.max(1);
        let bar: String = "=".repeat(done) + &" ".repeat(width - done);
        let line = format!(
            "epoch {}/{} [{bar}] {}/{}  {:.1} pairs/s  ETA {}  loss {:.4}",
            p.epoch,
            p.epochs,
            p.step,
            p.steps,
            p.pairs_per_s,
            clock(p.eta_s),
            p.loss
        );
        let _ = if tty { write!(err, "\r\x1b[2K{line}") } else { writeln!(err, "{line}") };
    }
}

fn clock(s: f64) -> String {
    let s = s.max(0.0) as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}
