//! The epoch loop. Each epoch trains `steps_per_epoch` batches, then measures one-shot accuracy on
//! a fixed set of validation trials, writes the history (CSV, JSON, PNG) and a checkpoint, keeps
//! the best model, and stops early when validation has not improved for `patience` epochs.
//!
//! The checkpoint holds the weights, the optimiser state and this trainer's `State` (epoch, RNG,
//! history), so `resume` continues exactly where the last finished epoch left off.
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::batch::{Augment, Batch, Mode};
use super::metrics::Confusion;
use crate::config::{ModelConfig, OptimizerConfig};
use crate::data::imageset::ImageSet;
use crate::engine::gemm::Precision;
use crate::error::{Error, Result};
pub use crate::eval::history::EpochRecord;
use crate::eval::oneshot::{self, Trial};
use crate::model::{io, Optimizer, Params, Siamese, TrainState};
use crate::rng::Rng;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub model: ModelConfig,
    pub optimizer: OptimizerConfig,
    pub seed: u64,
    pub epochs: usize,
    pub steps_per_epoch: usize,
    /// Pairs per step (`Mode::Pairs`) or images per step (`Mode::Images`).
    pub batch: usize,
    pub mode: Mode,
    pub augment: Augment,
    /// Epochs without a better validation accuracy before stopping.
    pub patience: usize,
    pub val_way: usize,
    pub val_trials: usize,
    #[serde(default)]
    pub init: Init,
    /// The operands' arithmetic of every product, forward and backward (mixed precision in
    /// bf16: weights, gradients and optimiser state stay f32).
    #[serde(default)]
    pub precision: Precision,
}

/// How the weights start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// Koch et al.'s normal distributions (`Params::init`).
    #[default]
    Paper,
    /// Keras's Glorot-uniform weights and zero biases (`Params::init_keras`).
    Keras,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct State {
    config: TrainConfig,
    epoch: usize,
    rng: Rng,
    best: f64,
    bad_epochs: usize,
    history: Vec<EpochRecord>,
}

/// What the loop reports after every step, for a progress bar.
pub struct Progress<'a> {
    pub epoch: usize,
    pub epochs: usize,
    pub step: usize,
    pub steps: usize,
    pub pairs_per_s: f64,
    pub eta_s: f64,
    pub loss: f64,
    /// Set once per epoch, after validation.
    pub record: Option<&'a EpochRecord>,
}

/// The bar of the epoch in progress, or the epoch's line once it has its record.
impl std::fmt::Display for Progress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        if let Some(r) = self.record {
            return write!(
                f,
                "epoch {:>3}: loss {:.4}  precision {:.3}  recall {:.3}  accuracy {:.3}  val one-shot {:.3}  ({:.0} s, {} pairs)",
                r.epoch, r.loss, r.precision, r.recall, r.accuracy, r.val_oneshot, r.train_seconds, r.pairs
            );
        }
        let width = 30;
        let done = width * self.step / self.steps.max(1);
        let bar: String = "=".repeat(done) + &" ".repeat(width - done);
        let eta = self.eta_s.max(0.0) as u64;
        let clock = format!("{:02}:{:02}:{:02}", eta / 3600, eta / 60 % 60, eta % 60);
        write!(f, "epoch {}/{} [{bar}] {}/{}  {:.1} pairs/s  ETA {clock}  loss {:.4}", self.epoch, self.epochs, self.step, self.steps, self.pairs_per_s, self.loss)
    }
}

/// The network `--config` names: a preset, or a JSON `ModelConfig` file, validated and laid out.
pub fn model_config(spec: &str) -> Result<ModelConfig> {
    if !spec.ends_with(".json") {
        return ModelConfig::preset(spec);
    }
    let text = std::fs::read_to_string(spec).map_err(|e| Error::io(spec, e))?;
    let c: ModelConfig = serde_json::from_str(&text).map_err(|e| Error::data(spec, Some(e.line()), format!("not a model config: {e}")))?;
    c.validate()?;
    Params::layout(&c)?;
    Ok(c)
}

pub struct Trainer<'a> {
    state: State,
    net: Siamese,
    /// What each step writes (gradients, traces); the model only changes in `apply`.
    step: TrainState,
    opt: Optimizer,
    train: &'a ImageSet,
    val: &'a ImageSet,
    trials: Vec<Trial>,
    out: PathBuf,
    batch: Batch,
}

pub const LAST: &str = "last.safetensors";
pub const BEST: &str = "best";

impl<'a> Trainer<'a> {
    /// A fresh run: the paper's initialisation from `config.seed`.
    pub fn new(config: TrainConfig, train: &'a ImageSet, val: &'a ImageSet, out: &Path, threads: usize) -> Result<Self> {
        check_sets(&config.model, train, val)?;
        check_data(&config, train, val)?;
        let mut rng = Rng::new(config.seed);
        let params = match config.init {
            Init::Paper => Params::init(&config.model, &mut rng)?,
            Init::Keras => Params::init_keras(&config.model, &mut rng)?,
        };
        refuse_int8(config.precision)?;
        let net = Siamese::new(config.model.clone(), params, threads)?.with_precision(config.precision)?;
        let step = TrainState::new(&net)?;
        let opt = Optimizer::new(config.optimizer.clone(), net.params())?;
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let path = out.join("train_config.json");
        std::fs::write(&path, serde_json::to_string_pretty(&config).expect("config serialises")).map_err(|e| Error::io(&path, e))?;
        let trials = oneshot::random_trials(val, config.val_way, config.val_trials, &mut Rng::new(config.seed ^ 0x5EED));
        let state = State { config, epoch: 0, rng, best: f64::NEG_INFINITY, bad_epochs: 0, history: Vec::new() };
        Ok(Trainer { state, net, step, opt, train, val, trials, out: out.to_path_buf(), batch: Batch::default() })
    }

    /// Continues the run saved in `out` (its `last.safetensors`).
    pub fn resume(out: &Path, train: &'a ImageSet, val: &'a ImageSet, threads: usize) -> Result<Self> {
        let file = out.join(LAST);
        let ck = io::load(&file)?;
        let text = ck.trainer.ok_or_else(|| Error::ModelFile { path: file.clone(), reason: "no trainer state: not a training checkpoint".into() })?;
        let state: State = serde_json::from_str(&text).map_err(|e| Error::ModelFile { path: file.clone(), reason: format!("trainer state: {e}") })?;
        check_sets(&state.config.model, train, val)?;
        check_data(&state.config, train, val)?;
        let opt = ck.optimizer.ok_or_else(|| Error::ModelFile { path: file.clone(), reason: "no optimizer state".into() })?;
        refuse_int8(state.config.precision)?;
        let net = Siamese::new(ck.config, ck.params, threads)?.with_precision(state.config.precision)?;
        let step = TrainState::new(&net)?;
        let c = &state.config;
        let trials = oneshot::random_trials(val, c.val_way, c.val_trials, &mut Rng::new(c.seed ^ 0x5EED));
        Ok(Trainer { state, net, step, opt, train, val, trials, out: out.to_path_buf(), batch: Batch::default() })
    }

    /// Changes the precision of the products from here on (a run resumed on another machine, or
    /// continued faster in bf16); the checkpoint's weights are f32 either way.
    pub fn set_precision(&mut self, precision: Precision) -> Result<()> {
        refuse_int8(precision)?;
        self.net.set_precision(precision)?;
        self.state.config.precision = precision;
        Ok(())
    }

    /// Changes how many epochs the run goes to (to extend a finished run on resume).
    pub fn set_epochs(&mut self, epochs: usize) {
        self.state.config.epochs = epochs;
    }

    pub fn history(&self) -> &[EpochRecord] {
        &self.state.history
    }

    pub fn model(&self) -> &Siamese {
        &self.net
    }

    /// Runs epochs until `epochs`, early stopping, or `deadline` (checked after each step; the
    /// epoch then ends early but is still validated and saved). Returns why it stopped.
    pub fn run(&mut self, deadline: Option<Instant>, progress: &mut dyn FnMut(&Progress)) -> Result<String> {
        let c = self.state.config.clone();
        while self.state.epoch < c.epochs {
            let epoch = self.state.epoch + 1;
            let (mut loss_sum, mut conf, mut steps_done) = (0.0, Confusion::default(), 0);
            let (mut pairs, mut images) = (0u64, 0u64);
            let started = Instant::now();
            for step in 1..=c.steps_per_epoch {
                self.batch.fill(self.train, c.mode, c.batch, c.augment, &mut self.state.rng);
                let out = self.step.forward_backward(&self.net, &self.batch.images, &self.batch.pairs, &self.batch.labels)?;
                self.net.apply(&mut self.opt, self.step.grads())?;
                conf.add(self.step.last_logits(), &self.batch.labels);
                loss_sum += out.loss;
                steps_done = step;
                pairs += self.batch.pairs.len() as u64;
                images += (self.batch.images.len() / c.model.input_len()) as u64;
                let secs = started.elapsed().as_secs_f64();
                progress(&Progress {
                    epoch,
                    epochs: c.epochs,
                    step,
                    steps: c.steps_per_epoch,
                    pairs_per_s: pairs as f64 / secs,
                    eta_s: secs / step as f64 * (c.steps_per_epoch - step) as f64,
                    loss: loss_sum / step as f64,
                    record: None,
                });
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
            }
            let train_secs = started.elapsed().as_secs_f64();
            let val = oneshot::evaluate_set(&self.net, self.val, &self.trials)?.accuracy;
            let prev = self.state.history.last();
            let record = EpochRecord {
                epoch,
                loss: loss_sum / steps_done.max(1) as f64,
                precision: conf.precision(),
                recall: conf.recall(),
                accuracy: conf.accuracy(),
                val_oneshot: val,
                train_seconds: prev.map_or(0.0, |p| p.train_seconds) + train_secs,
                pairs: prev.map_or(0, |p| p.pairs) + pairs,
                images: prev.map_or(0, |p| p.images) + images,
            };
            self.state.history.push(record.clone());
            self.state.epoch = epoch;
            self.opt.end_epoch();
            if val > self.state.best {
                self.state.best = val;
                self.state.bad_epochs = 0;
                io::save(&self.out.join(BEST), &c.model, self.net.params(), None, None)?;
            } else {
                self.state.bad_epochs += 1;
            }
            self.save()?;
            progress(&Progress { epoch, epochs: c.epochs, step: steps_done, steps: c.steps_per_epoch, pairs_per_s: 0.0, eta_s: 0.0, loss: record.loss, record: Some(&record) });
            if self.state.bad_epochs >= c.patience.max(1) {
                return Ok(format!("early stop: no better validation accuracy for {} epochs", self.state.bad_epochs));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(format!("time budget reached after epoch {epoch}"));
            }
        }
        Ok(format!("finished {} epochs", c.epochs))
    }

    fn save(&self) -> Result<()> {
        let state = serde_json::to_string(&self.state).expect("state serialises");
        io::save(&self.out.join(LAST), &self.state.config.model, self.net.params(), Some(&self.opt), Some(&state))?;
        write_history(&self.out, &self.state.history)
    }
}

/// Refuses sets that cannot make the batches or the validation trials the config asks for (one
/// person, folders with a single photo each), before anything runs: the samplers draw a class
/// different from another, which would never end with one class.
pub fn check_data(config: &TrainConfig, train: &ImageSet, val: &ImageSet) -> Result<()> {
    let with = |s: &ImageSet, k: usize| s.classes.iter().filter(|c| c.items.len() >= k).count();
    let nonempty = train.classes.iter().filter(|c| !c.items.is_empty()).count();
    let (need, per) = match config.mode {
        Mode::Pairs => (1, 2),
        Mode::Images { per_class } => (2, per_class.max(2)),
    };
    if nonempty < 2 || with(train, per) < need {
        return Err(Error::shape(
            "training set",
            format!("at least two people (classes), {need} of them with {per} or more images, for same and different pairs"),
            format!("{nonempty} non-empty classes, {} with {per}+ images", with(train, per)),
        ));
    }
    if config.val_trials > 0 && (config.val_way < 2 || with(val, 2) < config.val_way) {
        return Err(Error::shape(
            "validation set",
            format!("at least {} classes with two or more images for {}-way one-shot trials", config.val_way.max(2), config.val_way),
            format!("{} such classes", with(val, 2)),
        ));
    }
    Ok(())
}

fn check_sets(model: &ModelConfig, train: &ImageSet, val: &ImageSet) -> Result<()> {
    for (name, s) in [("training set", train), ("validation set", val)] {
        if (s.height, s.width, s.channels) != (model.height, model.width, model.channels) {
            return Err(Error::shape(
                name,
                format!("{}x{}x{} images for this model", model.height, model.width, model.channels),
                format!("{}x{}x{}", s.height, s.width, s.channels),
            ));
        }
    }
    Ok(())
}

/// `history.csv`, `history.json` and the curves (`curves.png`, `curves.svg`) in `out`.
pub fn write_history(out: &Path, history: &[EpochRecord]) -> Result<()> {
    let mut csv = String::from("epoch,loss,precision,recall,accuracy,val_oneshot,train_seconds,pairs,images\n");
    for r in history {
        csv += &format!(
            "{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.1},{},{}\n",
            r.epoch, r.loss, r.precision, r.recall, r.accuracy, r.val_oneshot, r.train_seconds, r.pairs, r.images
        );
    }
    let p = out.join("history.csv");
    std::fs::write(&p, csv).map_err(|e| Error::io(&p, e))?;
    let p = out.join("history.json");
    std::fs::write(&p, serde_json::to_string_pretty(history).expect("history serialises")).map_err(|e| Error::io(&p, e))?;
    let name = out.file_name().map_or_else(|| out.display().to_string(), |n| n.to_string_lossy().into_owned());
    let fig = crate::plot::curves::figure(history, &name)?;
    for file in ["curves.png", "curves.svg"] {
        crate::plot::save(&fig, &out.join(file), None)?;
    }
    Ok(())
}

/// Training computes gradients, which int8's rounding of activations to a calibrated range
/// cannot give: it is an inference precision.
fn refuse_int8(precision: Precision) -> Result<()> {
    if precision == Precision::Int8 {
        return Err(Error::config("precision", "int8 is for inference only; train in f32 or bf16"));
    }
    Ok(())
}
