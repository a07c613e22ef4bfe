//! `siamface train-head`: `service::training::tune_head` on the flags, its history printed.
use std::path::PathBuf;
use std::process::ExitCode;

use crate::service::{training, Model};
use crate::train::tune::Tuning;

#[derive(clap::Args)]
pub struct Args {
    /// Face model to start from; default: the built-in one.
    #[arg(long)]
    model: Option<PathBuf>,
    /// The app's folder: anchor/ and positive/ (the person), optional negative/ (others).
    #[arg(long)]
    app: PathBuf,
    /// LFW folder: people of people.txt folds 1-8 as other people, and pairs.txt folds 1-8 to
    /// keep the head's view of strangers; pairs.txt fold 10 (never trained on) is scored before
    /// and after, to show what fine-tuning on one person costs everyone else.
    #[arg(long)]
    lfw: Option<PathBuf>,
    /// Where the fine-tuned model, history.csv/json and curves.png go.
    #[arg(long)]
    out: PathBuf,
    /// Share of the person's pictures held out for the before/after check.
    #[arg(long, default_value_t = 0.25)]
    holdout: f64,
    /// Passes over the head's training pairs (only the head learns; the tower is fixed).
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Optimiser steps per epoch.
    #[arg(long, default_value_t = 100)]
    steps: usize,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let t = Tuning { app: &a.app, lfw: a.lfw.as_deref(), out: &a.out, holdout: a.holdout, epochs: a.epochs, steps: a.steps };
    print!("{}", training::tune_head(&Model::from_arg(a.model), &t)?);
    Ok(ExitCode::SUCCESS)
}
