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
    Curves {
        /// Run folder (its history.json) or history.json file; several side by side, a colour each.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// Name of each run, in order (default: the run folder's name).
        #[arg(long)]
        name: Vec<String>,
        #[command(flatten)]
        picture: Picture,
    },
    /// ROC curves of one or more saved evaluations on one picture.
    Roc {
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
    },
    /// Genuine and impostor score histograms of a saved evaluation, the threshold drawn.
    Scores {
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
    },
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

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    let (fig, to) = match c {
        Command::Curves { runs, name, picture } => (plot::curves::of_files(&runs, &name)?, picture),
        Command::Roc { evals, labels, threshold, picture } => (plot::roc::of_files(&evals, &labels, threshold)?, picture),
        Command::Scores { eval, label, threshold, bins, picture } => (plot::scores::figure(&source::read_eval(&eval)?.with(label, threshold), bins)?, picture),
    };
    plot::save(&fig, &to.out, to.width.zip(to.height))?;
    Ok(ExitCode::SUCCESS)
}
