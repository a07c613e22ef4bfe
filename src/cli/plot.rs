//! `siamface plot`: pictures from saved results, without the model or the data: training curves
//! from a run's history, ROC curves of one or several models and score histograms from the JSON
//! of `siamface eval verify|lfw --json`. PNG or SVG by the output's extension.
use std::path::PathBuf;
use std::process::ExitCode;

use crate::plot::{self, source};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Training curves (loss; precision and recall; accuracy) from a run's history.json, or
    /// several runs' loss and validation accuracy side by side.
    Curves(CurvesArgs),
    /// ROC curves of one or more saved evaluations on one picture.
    Roc(RocArgs),
    /// Genuine and impostor score histograms of a saved evaluation, the threshold drawn.
    Scores(ScoresArgs),
}

/// The picture to write.
#[derive(clap::Args)]
pub struct Picture {
    /// Output picture, .png or .svg.
    #[arg(long)]
    out: PathBuf,
    /// Width in pixels (default: the picture's own).
    #[arg(long, requires = "height")]
    width: Option<u32>,
    /// Height in pixels.
    #[arg(long, requires = "width")]
    height: Option<u32>,
}

#[derive(clap::Args)]
pub struct CurvesArgs {
    /// Run folder (its history.json) or a history.json file; several draw their loss and
    /// validation accuracy side by side, one colour each.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Name of each run, in order (default: the run folder's name).
    #[arg(long)]
    name: Vec<String>,
    #[command(flatten)]
    picture: Picture,
}

#[derive(clap::Args)]
pub struct RocArgs {
    /// JSON written by `siamface eval verify --json` or `eval lfw --json`, one per model.
    #[arg(required = true)]
    evals: Vec<PathBuf>,
    /// Legend name of each model, in the order of the files (default: the model's path).
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Operating threshold to mark on every model (default: each file's `threshold`).
    #[arg(long)]
    threshold: Option<f64>,
    #[command(flatten)]
    picture: Picture,
}

#[derive(clap::Args)]
pub struct ScoresArgs {
    /// JSON written by `siamface eval verify --json` or `eval lfw --json`.
    eval: PathBuf,
    /// Name in the caption (default: the model's path).
    #[arg(long)]
    label: Option<String>,
    /// Decision threshold to draw (default: the file's `threshold`).
    #[arg(long)]
    threshold: Option<f64>,
    /// Histogram bars between scores 0 and 1.
    #[arg(long, default_value_t = 40)]
    bins: usize,
    #[command(flatten)]
    picture: Picture,
}

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    let (fig, to) = match c {
        Command::Curves(a) => (plot::curves::of_files(&a.runs, &a.name)?, a.picture),
        Command::Roc(a) => (plot::roc::of_files(&a.evals, &a.labels, a.threshold)?, a.picture),
        Command::Scores(a) => (plot::scores::figure(&source::read_eval(&a.eval)?.with(a.label, a.threshold), a.bins)?, a.picture),
    };
    plot::save(&fig, &to.out, to.width.zip(to.height))?;
    Ok(ExitCode::SUCCESS)
}
