//! `siamface eval`: each evaluation is one call of `eval` (or of `train::heldout`), printed;
//! `eval video` also writes the fitted rule into a model's card with `--write-card`.
use std::path::PathBuf;
use std::process::ExitCode;

use super::options::{Arith, Evaluated, FaceModel, Output};
use crate::config::Head;
use crate::eval::face_protocol::{self, Lfw};
use crate::eval::faces::Align;
use crate::eval::{lfw_folds, oneshot, rule};
use crate::plot::{self, source::Scored};

#[derive(clap::Subcommand)]
pub enum Command {
    /// N-way one-shot accuracy: Lake's 20 runs (--runs) or random tasks on held-out alphabets.
    Oneshot {
        #[command(flatten)]
        model: Evaluated,
        /// Lake et al.'s all_runs folder (20 runs x 20 trials).
        #[arg(long, conflicts_with = "omniglot")]
        runs: Option<PathBuf>,
        /// Omniglot folder: random tasks on the test alphabets (Lake's 10), drawers 17-20.
        #[arg(long, conflicts_with = "lfw")]
        omniglot: Option<PathBuf>,
        /// LFW folder: random tasks among the people of one people.txt fold (--fold).
        #[arg(long)]
        lfw: Option<PathBuf>,
        /// The people.txt fold whose people the LFW tasks use (held out from training).
        #[arg(long, default_value_t = 10)]
        fold: usize,
        /// Candidates per trial (N-way): one of them is the query's class.
        #[arg(long, default_value_t = 20)]
        way: usize,
        /// Random tasks to draw (with --omniglot or --lfw; Lake's runs are a fixed 400).
        #[arg(long, default_value_t = 400)]
        trials: usize,
        /// Seed of the random tasks: the same seed draws the same tasks.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[command(flatten)]
        arith: Arith,
    },
    /// Verification on held-out pairs: accuracy, precision, recall, ROC AUC, EER, TAR at FAR.
    Verify {
        #[command(flatten)]
        model: Evaluated,
        /// Omniglot folder: pairs within the test alphabets (Lake's 10), drawers 17-20.
        #[arg(long)]
        omniglot: PathBuf,
        /// Number of pairs, half same and half different.
        #[arg(long, default_value_t = 10000)]
        pairs: usize,
        /// Decision threshold on the probability.
        #[arg(long, default_value_t = 0.5)]
        threshold: f64,
        /// Draw the ROC curve here (.png or .svg), the threshold marked; more models on one
        /// picture: `siamface plot roc` over saved `--json` outputs.
        #[arg(long)]
        roc: Option<PathBuf>,
        /// Seed of the pair sampler: the same seed draws the same pairs.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// LFW View 2: per fold, threshold from the other nine folds; mean accuracy +- SE.
    Lfw {
        #[command(flatten)]
        model: Evaluated,
        /// LFW folder: pairs.txt and images_deepfunneled/NAME/NAME_NNNN.jpg.
        #[arg(long)]
        lfw: PathBuf,
        /// Report this fold (1-10) at the top level; all ten are computed.
        #[arg(long)]
        fold: Option<usize>,
        /// How a photo becomes the network's input.
        #[arg(long, value_enum, default_value_t = Align::Detect)]
        align: Align,
        #[command(flatten)]
        arith: Arith,
    },
    /// The app's verification rule (per-image score threshold, then a fraction of the claimed
    /// person's enrolment images): fitted on one LFW people.txt fold, reported on another.
    Rule {
        #[command(flatten)]
        model: Evaluated,
        #[command(flatten)]
        people: HeldOut,
        /// Enrolment images per person (people with more images give the queries).
        #[arg(long, default_value_t = 3)]
        enrol: usize,
        /// At most this many queries per person, so people with hundreds of photos do not dominate.
        #[arg(long, default_value_t = 5)]
        queries: usize,
        /// Per-image score threshold to fit the fraction at (default: the model card's threshold).
        #[arg(long, conflicts_with = "fit_detection")]
        detection: Option<f32>,
        /// Fit the per-image threshold too, instead of taking it from the card.
        #[arg(long)]
        fit_detection: bool,
    },
    /// A face model on LFW through the whole pipeline: View 2's ten folds for three decision
    /// rules, and thresholds calibrated at a false-accept rate on held-out people.
    Faces {
        /// Model directory (weights, config, card) or .safetensors file.
        #[arg(long, default_value = "models/face")]
        model: PathBuf,
        /// LFW folder: pairs.txt, people.txt and images_deepfunneled/.
        #[arg(long)]
        lfw: PathBuf,
        /// How each LFW image becomes the model's crop.
        #[arg(long, value_enum, default_value_t = Align::Detect)]
        align: Align,
        /// Keep the embeddings here and reuse them on the next run with the same model; a cache
        /// whose detections or crops another version of the pipeline made is made again.
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Embed again (after a change of crop) with the detections kept in --cache.
        #[arg(long)]
        reembed: bool,
        /// False-accept rate the verification threshold is calibrated for.
        #[arg(long, default_value_t = 1e-3)]
        far: f64,
        /// False-accept rate per pair the identification threshold is calibrated for: with G
        /// people enrolled a stranger is named at most about G times this often.
        #[arg(long, default_value_t = 1e-4)]
        identify_far: f64,
        /// Write the model with the calibrated head and its card here.
        #[arg(long)]
        write_model: Option<PathBuf>,
        /// The head the written model compares embeddings with.
        #[arg(long, value_enum, default_value_t = Head::Euclidean)]
        head: Head,
        #[command(flatten)]
        output: Output,
    },
    /// The rule that names faces in video, fitted on held-out people's sequences degraded as
    /// video degrades faces, and its rates per frame and per track.
    Video {
        #[command(flatten)]
        people: HeldOut,
        #[command(flatten)]
        model: FaceModel,
        /// False-accept rate per (track, enrolled person) pair the rule is fitted for.
        #[arg(long, default_value_t = 1e-3)]
        far: f64,
        /// Seed of the degradations drawn for each track.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Write the rule and the report into this model directory's card.json.
        #[arg(long)]
        write_card: Option<PathBuf>,
        #[command(flatten)]
        output: Output,
    },
}

/// The held-out LFW people a rule is fitted on and reported on.
#[derive(clap::Args)]
pub struct HeldOut {
    /// LFW folder: people.txt and images_deepfunneled/.
    #[arg(long)]
    lfw: PathBuf,
    /// people.txt fold whose people the rule is fitted on (held out from training).
    #[arg(long, default_value_t = 9)]
    fit_fold: usize,
    /// people.txt fold whose people the fitted rule is reported on.
    #[arg(long, default_value_t = 10)]
    test_fold: usize,
}

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::Oneshot { model, runs, omniglot, lfw, fold, way, trials, seed, arith } => {
            let tasks = oneshot::Tasks::of(lfw.as_deref(), fold, runs.as_deref(), omniglot.as_deref())?;
            model.show(|m, threads| oneshot::on_model(m, threads, arith.precision, &tasks, way, trials, seed))
        }
        Command::Verify { model, omniglot, pairs, threshold, roc, seed } => {
            let out = crate::train::heldout::verify(&model.model, model.cpu.threads, &omniglot, pairs, threshold, seed)?;
            if let Some(path) = &roc {
                plot::save(&plot::roc::figure(&[Scored::from(&out)])?, path, None)?;
            }
            model.output.show(&out)
        }
        Command::Lfw { model, lfw, fold, align, arith } => model.show(|m, threads| lfw_folds::view2(m, threads, arith.precision, &lfw, align, fold)),
        Command::Rule { model, people: p, enrol, queries, detection, fit_detection } => {
            model.show(|m, threads| rule::on_lfw(m, threads, &p.lfw, p.fit_fold, p.test_fold, enrol, queries, detection, fit_detection))
        }
        Command::Faces { model, lfw, align, cache, reembed, far, identify_far, write_model, head, output } => {
            let lfw = Lfw { dir: &lfw, align, cache: cache.as_deref(), reembed };
            let write = write_model.as_deref().map(|dir| (dir, head));
            output.show(&face_protocol::on_model(&model, &lfw, far, identify_far, write)?)
        }
        Command::Video { people: p, model, far, seed, write_card, output } => {
            let r = crate::eval::video::calibrate(model.load(None)?.pipeline(), &p.lfw, far, p.fit_fold, p.test_fold, seed)?;
            output.show_pretty(&r)?;
            if let Some(dir) = &write_card {
                eprintln!("wrote the video rule into {}", r.write_card(dir)?.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
