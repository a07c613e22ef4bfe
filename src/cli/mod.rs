//! The command line: what the user typed (clap) turned into calls of the library.
mod bench;
mod calibrate;
mod compare;
mod gallery;
mod people;
mod plot;
mod serve;
mod eval;
mod import;
mod options;
mod train;
mod train_head;
mod values;

use std::process::ExitCode;

use clap::Parser;

/// One-shot face recognition on the CPU: enrol a person from one photo, then verify, identify
/// and follow them in photos and video (a Siamese network: dlib's face ResNet by default, or
/// Koch's network).
#[derive(Parser)]
#[command(name = "siamface", version)]
enum Command {
    #[command(flatten)]
    People(people::Command),
    /// Check, repair, export or import the gallery file.
    #[command(subcommand)]
    Gallery(gallery::Command),
    /// Serve the HTTP API.
    Serve(serve::Args),
    /// Compare the faces of two photos: same person or not.
    Compare(compare::Args),
    /// Measure a model's activation ranges on sample photos for --precision int8 (int8.json).
    Calibrate(calibrate::Args),
    /// Fine-tune a face model's head on one person's pictures (the app's anchor/ and positive/).
    TrainHead(train_head::Args),
    /// Train a network on Omniglot (Koch's split), with validation, checkpoints and resume.
    Train(train::Args),
    /// Convert a pretrained network from another tool's file into a siamface model.
    #[command(subcommand)]
    Import(import::Command),
    /// Evaluate a model: one-shot runs, verification pairs.
    #[command(subcommand)]
    Eval(eval::Command),
    /// Draw training curves, ROC curves or score histograms from saved results (.png or .svg).
    #[command(subcommand)]
    Plot(plot::Command),
    #[command(flatten)]
    Bench(bench::Command),
}

pub fn run() -> anyhow::Result<ExitCode> {
    // `--version` also names the built-in model, which takes a parse of its weights: only then.
    if matches!(std::env::args().nth(1).as_deref(), Some("--version" | "-V")) {
        println!("siamface {}\nmodel: {}", env!("CARGO_PKG_VERSION"), crate::model::bundled::describe()?);
        return Ok(ExitCode::SUCCESS);
    }
    let command = Command::parse();
    crate::engine::gemm::check_env().map_err(anyhow::Error::msg)?;
    match command {
        Command::Bench(c) => bench::run(c),
        Command::Compare(a) => compare::run(a),
        Command::Calibrate(a) => calibrate::run(a),
        Command::Serve(a) => serve::run(a),
        Command::People(c) => people::run(c),
        Command::Gallery(c) => gallery::run(c),
        Command::Train(a) => train::run(a),
        Command::TrainHead(a) => train_head::run(a),
        Command::Eval(c) => eval::run(c),
        Command::Import(c) => import::run(c),
        Command::Plot(c) => plot::run(c),
    }
}
