//! `siamface eval`: each evaluation is one call of `eval` (or of `train::heldout`), printed;
//! `eval video` also writes the fitted rule into a model's card with `--write-card`.
use std::path::PathBuf;
use std::process::ExitCode;

use super::options::{Arith, Evaluated, FaceModel};
use crate::config::Head;
use crate::eval::face_protocol::{self, Lfw};
use crate::eval::faces::Align;
use crate::eval::{lfw_folds, oneshot, rule};
use crate::plot::{self, source::Scored};

#[derive(clap::Subcommand)]
pub enum Command {
    /// N-way one-shot accuracy: Lake's 20 runs (--runs) or random tasks on held-out alphabets.
    Oneshot(OneshotArgs),
    /// Verification on held-out pairs: accuracy, precision, recall, ROC AUC, EER, TAR at FAR.
    Verify(VerifyArgs),
    /// LFW View 2: per fold, threshold from the other nine folds; mean accuracy +- SE.
    Lfw(LfwArgs),
    /// The app's verification rule (per-image score threshold, then a fraction of the claimed
    /// person's enrolment images): fitted on one LFW people.txt fold, reported on another.
    Rule(RuleArgs),
    /// A face model on LFW through the whole pipeline: View 2's ten folds for three decision
    /// rules, and thresholds calibrated at a false-accept rate on held-out people.
    Faces(FacesArgs),
    /// The rule that names faces in video, fitted on held-out people's sequences degraded as
    /// video degrades faces, and its rates per frame and per track.
    Video(VideoArgs),
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

#[derive(clap::Args)]
pub struct RuleArgs {
    #[command(flatten)]
    model: Evaluated,
    #[command(flatten)]
    people: HeldOut,
    /// Enrolment images per person (people with more images give the queries).
    #[arg(long, default_value_t = 3)]
    enrol: usize,
    /// At most this many queries per person, so a few people with hundreds of photos do not
    /// outweigh everyone else.
    #[arg(long, default_value_t = 5)]
    queries: usize,
    /// Per-image score threshold to fit the fraction at (default: the model card's threshold).
    #[arg(long, conflicts_with = "fit_detection")]
    detection: Option<f32>,
    /// Fit the per-image threshold too, instead of taking it from the card.
    #[arg(long)]
    fit_detection: bool,
}

#[derive(clap::Args)]
pub struct LfwArgs {
    #[command(flatten)]
    model: Evaluated,
    /// LFW folder: pairs.txt and images_deepfunneled/NAME/NAME_NNNN.jpg.
    #[arg(long)]
    lfw: PathBuf,
    /// Report this fold (1-10) at the top level; all ten are computed.
    #[arg(long)]
    fold: Option<usize>,
    /// How a photo becomes the network's input: `detect` runs the face pipeline every other
    /// command runs (the face nearest the centre, as LFW labels it); `frame` takes LFW's
    /// deep-funneled frame as the aligned face, how Koch's face models were trained.
    #[arg(long, value_enum, default_value_t = Align::Detect)]
    align: Align,
    #[command(flatten)]
    arith: Arith,
}

#[derive(clap::Args)]
pub struct OneshotArgs {
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
}

#[derive(clap::Args)]
pub struct VerifyArgs {
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
}

#[derive(clap::Args)]
pub struct FacesArgs {
    /// Model directory (weights, config, card) or .safetensors file.
    #[arg(long, default_value = "models/face")]
    model: PathBuf,
    /// LFW folder: pairs.txt, people.txt and images_deepfunneled/.
    #[arg(long)]
    lfw: PathBuf,
    /// How each LFW image becomes the model's crop: detect (find the face and align it by its
    /// landmarks, as the app does) or frame (LFW's own deep-funneled frame, no detection).
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
    /// Print the result as one JSON object, for scripts and `siamface plot`.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct VideoArgs {
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
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::Oneshot(a) => {
            let tasks = oneshot::Tasks::of(a.lfw.as_deref(), a.fold, a.runs.as_deref(), a.omniglot.as_deref())?;
            let m = &a.model;
            super::show(m.json, &oneshot::on_model(&m.model, m.cpu.threads, a.arith.precision, &tasks, a.way, a.trials, a.seed)?)
        }
        Command::Verify(a) => {
            let m = &a.model;
            let out = crate::train::heldout::verify(&m.model, m.cpu.threads, &a.omniglot, a.pairs, a.threshold, a.seed)?;
            if let Some(path) = &a.roc {
                plot::save(&plot::roc::figure(&[Scored::from(&out)])?, path, None)?;
            }
            super::show(m.json, &out)
        }
        Command::Lfw(a) => {
            let m = &a.model;
            super::show(m.json, &lfw_folds::view2(&m.model, m.cpu.threads, a.arith.precision, &a.lfw, a.align, a.fold)?)
        }
        Command::Rule(a) => {
            let m = &a.model;
            super::show(m.json, &rule::on_lfw(&m.model, m.cpu.threads, &a.people.lfw, a.people.fit_fold, a.people.test_fold, a.enrol, a.queries, a.detection, a.fit_detection)?)
        }
        Command::Faces(a) => faces(a),
        Command::Video(a) => video(a),
    }
}

fn faces(a: FacesArgs) -> anyhow::Result<ExitCode> {
    let lfw = Lfw { dir: &a.lfw, align: a.align, cache: a.cache.as_deref(), reembed: a.reembed };
    let write = a.write_model.as_deref().map(|dir| (dir, a.head));
    super::show(a.json, &face_protocol::on_model(&a.model, &lfw, a.far, a.identify_far, write)?)
}

fn video(a: VideoArgs) -> anyhow::Result<ExitCode> {
    let faces = a.model.load(None)?;
    let r = crate::eval::video::calibrate(faces.pipeline(), &a.people.lfw, a.far, a.people.fit_fold, a.people.test_fold, a.seed)?;
    super::show_pretty(a.json, &r)?;
    if let Some(dir) = &a.write_card {
        r.write_card(dir)?;
        eprintln!("wrote the video rule into {}", dir.join(crate::model::card::FILE).display());
    }
    Ok(ExitCode::SUCCESS)
}
