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

use clap::{Parser, Subcommand};

/// One-shot face recognition on the CPU: enrol a person from one photo, then verify, identify
/// and follow them in photos and video (a Siamese network: dlib's face ResNet by default, or
/// Koch's network).
#[derive(Parser)]
#[command(name = "siamface", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Enrol a person from one photo (one-shot) or several.
    Enroll(people::EnrollArgs),
    /// Is the face in this photo the claimed person?
    Verify(people::VerifyArgs),
    /// Who are the faces in these photos (or "unknown")?
    Identify(people::IdentifyArgs),
    /// List the enrolled people.
    People(people::PeopleArgs),
    /// Rename an enrolled person.
    Rename(people::RenameArgs),
    /// Delete a person and everything stored for them.
    Forget(people::ForgetArgs),
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
    /// Measure training and inference speed and memory (optionally beside TensorFlow).
    Bench(bench::Args),
    /// Measure the face pipeline per photo and the tower on a batch (optionally beside dlib).
    BenchFaces(bench::FacesArgs),
    /// Time the gallery backends (SQLite, PostgreSQL) at 10k to 1M enrolled faces.
    BenchGallery(bench::GalleryArgs),
    /// Frames per second of identify --video with 1 and 5 faces, beside embedding every frame.
    BenchVideo(bench::VideoArgs),
}

pub fn run() -> anyhow::Result<ExitCode> {
    // `--version` also names the built-in model, which takes a parse of its weights: only then.
    if matches!(std::env::args().nth(1).as_deref(), Some("--version" | "-V")) {
        println!("siamface {}\nmodel: {}", env!("CARGO_PKG_VERSION"), crate::model::bundled::describe()?);
        return Ok(ExitCode::SUCCESS);
    }
    let cli = Cli::parse();
    crate::engine::gemm::check_env().map_err(anyhow::Error::msg)?;
    match cli.command {
        Command::Bench(a) => bench::run(a),
        Command::BenchFaces(a) => bench::faces(a),
        Command::BenchGallery(a) => bench::gallery(a),
        Command::BenchVideo(a) => bench::video(a),
        Command::Compare(a) => compare::run(a),
        Command::Calibrate(a) => calibrate::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Enroll(a) => people::enroll(a),
        Command::Verify(a) => people::verify(a),
        Command::Identify(a) => people::identify(a),
        Command::People(a) => people::people(a),
        Command::Rename(a) => people::rename(a),
        Command::Forget(a) => people::forget(a),
        Command::Gallery(c) => gallery::run(c),
        Command::Train(a) => train::run(a),
        Command::TrainHead(a) => train_head::run(a),
        Command::Eval(c) => eval::run(c),
        Command::Import(c) => import::run(c),
        Command::Plot(c) => plot::run(c),
    }
}

/// Prints a command's result: one line of JSON with `--json`, else its text (the result's
/// `Display`, every line of which ends in a newline).
fn show<T: serde::Serialize + std::fmt::Display>(json: bool, result: &T) -> anyhow::Result<ExitCode> {
    show_with(json, result, serde_json::to_string)
}

/// `show` for the long reports people also read as JSON: indented.
fn show_pretty<T: serde::Serialize + std::fmt::Display>(json: bool, result: &T) -> anyhow::Result<ExitCode> {
    show_with(json, result, serde_json::to_string_pretty)
}

fn show_with<T: std::fmt::Display>(json: bool, result: &T, to_json: fn(&T) -> serde_json::Result<String>) -> anyhow::Result<ExitCode> {
    if json {
        println!("{}", to_json(result)?);
    } else {
        print!("{result}");
    }
    Ok(ExitCode::SUCCESS)
}
