//! `siamface plot`: pictures from saved results, without the model or the data: training curves
//! from a run's history, ROC curves of one or several models and score histograms from the JSON
//! of `siamface eval verify|lfw --json`. PNG or SVG by the output's extension.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

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

#[derive(clap::Args)]
pub struct Size {
    /// Width in pixels (default: the picture's own).
    #[arg(long, requires = "height")]
    width: Option<u32>,
    /// Height in pixels.
    #[arg(long, requires = "width")]
    height: Option<u32>,
}

impl Size {
    fn get(&self) -> Option<(u32, u32)> {
        self.width.zip(self.height)
    }
}

#[derive(clap::Args)]
pub struct CurvesArgs {
    /// Run folder (its history.json) or a history.json file; several draw their loss and
    /// validation accuracy side by side, one colour each.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Output picture, .png or .svg.
    #[arg(long)]
    out: PathBuf,
    /// Name of each run, in order (default: the run folder's name).
    #[arg(long)]
    name: Vec<String>,
    #[command(flatten)]
    size: Size,
}

#[derive(clap::Args)]
pub struct RocArgs {
    /// JSON written by `siamface eval verify --json` or `eval lfw --json`, one per model.
    #[arg(required = true)]
    evals: Vec<PathBuf>,
    /// Output picture, .png or .svg.
    #[arg(long)]
    out: PathBuf,
    /// Legend name of each model, in the order of the files (default: the model's path).
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Operating threshold to mark on every model (default: each file's `threshold`).
    #[arg(long)]
    threshold: Option<f64>,
    #[command(flatten)]
    size: Size,
}

#[derive(clap::Args)]
pub struct ScoresArgs {
    /// JSON written by `siamface eval verify --json` or `eval lfw --json`.
    eval: PathBuf,
    /// Output picture, .png or .svg.
    #[arg(long)]
    out: PathBuf,
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
    size: Size,
}

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    let (fig, out, size) = match c {
        Command::Curves(a) => {
            if !a.name.is_empty() && a.name.len() != a.runs.len() {
                anyhow::bail!("--name given {} times for {} runs: give one per run or none", a.name.len(), a.runs.len());
            }
            let mut runs = Vec::new();
            for (i, run) in a.runs.iter().enumerate() {
                let history = source::read_history(run)?;
                let dir = if run.is_dir() { run.clone() } else { run.parent().map(PathBuf::from).unwrap_or_default() };
                let name = a.name.get(i).cloned().unwrap_or_else(|| dir.file_name().map_or_else(|| run.display().to_string(), |n| n.to_string_lossy().into_owned()));
                runs.push((name, history));
            }
            let fig = if runs.len() == 1 {
                plot::curves::figure(&runs[0].1, &runs[0].0).with_context(|| format!("drawing {}", a.runs[0].display()))?
            } else {
                plot::curves::compare(&runs).context("drawing the runs side by side")?
            };
            (fig, a.out, a.size.get())
        }
        Command::Roc(a) => {
            if !a.labels.is_empty() && a.labels.len() != a.evals.len() {
                anyhow::bail!("--label given {} times for {} files: give one per file or none", a.labels.len(), a.evals.len());
            }
            let mut models = Vec::new();
            for (k, path) in a.evals.iter().enumerate() {
                let mut m = source::read_eval(path)?;
                if let Some(l) = a.labels.get(k) {
                    m.name = l.clone();
                }
                m.threshold = a.threshold.or(m.threshold);
                models.push(m);
            }
            (plot::roc::figure(&models)?, a.out, a.size.get())
        }
        Command::Scores(a) => {
            let mut m = source::read_eval(&a.eval)?;
            if let Some(l) = a.label {
                m.name = l;
            }
            m.threshold = a.threshold.or(m.threshold);
            (plot::scores::figure(&m, a.bins)?, a.out, a.size.get())
        }
    };
    plot::save(&fig, &out, size)?;
    Ok(ExitCode::SUCCESS)
}
