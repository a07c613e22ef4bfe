//! `siamface train`'s one call: a run set up from the choices given, or resumed from the last
//! checkpoint in its folder, on a dataset loaded at the network's input size, and trained by
//! `train::Trainer` until it ends, stops improving or runs out of time; its progress as a
//! terminal or a log shows it. And `siamface train-head`'s: a face model's head fine-tuned on one
//! person (`train::tune`), with its history.
use std::fmt::{self, Display, Formatter};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::config::OptimizerConfig;
use crate::data::sets::{self, Dataset, LfwFolds};
use crate::engine::gemm::{Kernel, Precision};
use crate::error::Result;
use crate::eval::history::EpochRecord;
use crate::train::batch::{Augment, Mode};
use crate::train::trainer::{model_config, LAST};
use crate::train::tune::{self, Tuning};
use crate::train::{Init, Progress, TrainConfig, Trainer};

use super::Model;

/// How the weights are updated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Optimizer {
    /// The face app's Adam, lr 1e-4 unless given.
    Adam,
    /// The paper's per-layer SGD recipe, with momentum and decay.
    Sgd,
}

/// How a batch is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batches {
    /// Independent pairs.
    Pairs,
    /// `per_class` images of each class, each embedded once for several pairs.
    Images,
}

/// The dataset a run trains and validates on.
pub struct Data<'a> {
    pub dir: &'a Path,
    pub dataset: Dataset,
    /// With LFW: the people.txt folds of validation and of the held-out test.
    pub folds: LfwFolds,
}

/// A new run's choices. A resumed run keeps its own, but for `epochs` and `precision` where given.
pub struct Choices {
    /// The network: a preset name or a JSON `ModelConfig` file.
    pub config: String,
    pub optimizer: Optimizer,
    pub lr: Option<f32>,
    /// Default 200.
    pub epochs: Option<usize>,
    pub steps: usize,
    pub batch: usize,
    pub mode: Batches,
    pub per_class: usize,
    pub augment: Augment,
    pub patience: usize,
    pub val_way: usize,
    pub val_trials: usize,
    pub seed: u64,
    pub init: Init,
    /// Default f32.
    pub precision: Option<Precision>,
}

impl Choices {
    /// The run's configuration: at least one step per epoch and two pairs or images per step.
    pub fn config(&self) -> Result<TrainConfig> {
        let model = model_config(&self.config)?;
        let mut optimizer = match self.optimizer {
            Optimizer::Adam => OptimizerConfig::adam(),
            // One group of rates per convolution, for the dense layer, and for the head.
            Optimizer::Sgd => OptimizerConfig::sgd(model.conv.len() + 2),
        };
        if let Some(lr) = self.lr {
            optimizer = optimizer.with_lr(lr);
        }
        Ok(TrainConfig {
            model,
            optimizer,
            seed: self.seed,
            epochs: self.epochs.unwrap_or(200),
            steps_per_epoch: self.steps.max(1),
            batch: self.batch.max(2),
            mode: match self.mode {
                Batches::Pairs => Mode::Pairs,
                Batches::Images => Mode::Images { per_class: self.per_class },
            },
            augment: self.augment,
            patience: self.patience,
            val_way: self.val_way,
            val_trials: self.val_trials,
            init: self.init,
            precision: self.precision.unwrap_or_default(),
        })
    }
}

/// Trains into the run folder `out` (a new run made from `choices`, or with `resume` the run
/// there) until the run ends, stops improving or has run for `minutes` (then after saving), and
/// says why it stopped.
/// `note` hears what was loaded and which kernel runs the products before the first step,
/// `progress` where the run is after every step.
#[allow(clippy::too_many_arguments)]
pub fn train(data: &Data, out: &Path, choices: &Choices, resume: bool, threads: usize, minutes: Option<f64>, note: &mut dyn FnMut(&str), progress: &mut dyn FnMut(&Progress)) -> Result<String> {
    let deadline = minutes.map(|m| Instant::now() + Duration::from_secs_f64(m * 60.0));
    let new = if resume { None } else { Some(choices.config()?) };
    let model = match &new {
        Some(c) => c.model.clone(),
        None => crate::model::io::load(&out.join(LAST))?.config,
    };
    let s = sets::load(data.dataset, data.dir, &model, data.folds)?;
    if s.validation_is_training {
        note("warning: too few identities to hold some out; validation uses the training images");
    }
    let (train, val) = (s.train, s.validation);
    note(&format!("training set: {} classes, {} images; validation: {} classes, {} images", train.classes.len(), train.len(), val.classes.len(), val.len()));
    let mut trainer = match new {
        Some(config) => Trainer::new(config, &train, &val, out, threads)?,
        None => {
            let mut t = Trainer::resume(out, &train, &val, threads)?;
            if let Some(e) = choices.epochs {
                t.set_epochs(e);
            }
            if let Some(p) = choices.precision {
                t.set_precision(p)?;
            }
            t
        }
    };
    let precision = trainer.model().precision();
    note(&format!("products: {precision:?} on the {} kernel", Kernel::for_precision(precision).name()));
    trainer.run(deadline, progress)
}

/// What a terminal (`tty`) or a log shows of `p`: the epoch's line once it has its record;
/// before that, on a terminal the bar redrawn in place, in a log a line every tenth of an epoch.
pub fn progress_text(p: &Progress, tty: bool) -> Option<String> {
    let clear = if tty { "\r\x1b[2K" } else { "" };
    match (p.record, tty) {
        (Some(_), _) => Some(format!("{clear}{p}\n")),
        (None, true) => Some(format!("{clear}{p}")),
        (None, false) if p.step % (p.steps / 10).max(1) == 0 => Some(format!("{p}\n")),
        (None, false) => None,
    }
}

/// What `tune_head` did: the head's epochs, then the before/after report.
pub struct Tuned {
    pub history: Vec<EpochRecord>,
    pub report: tune::Report,
}

/// Fine-tunes the head of `model` as `t` says (`train::tune`).
pub fn tune_head(model: &Model, t: &Tuning) -> Result<Tuned> {
    let (ck, card) = model.load()?;
    let (report, history) = tune::tune(&ck, &card, t)?;
    Ok(Tuned { history, report })
}

impl Display for Tuned {
    fn fmt(&self, f: &mut Formatter) -> fmt::Result {
        for r in &self.history {
            writeln!(f, "epoch {:>3}: loss {:.4}, precision {:.3}, recall {:.3}, held-out acceptance {:.3}", r.epoch, r.loss, r.precision, r.recall, r.val_oneshot)?;
        }
        write!(f, "{}", self.report)
    }
}
