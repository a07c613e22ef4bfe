//! The command line: what the user typed (clap) turned into calls of the library.
mod bench;
mod compare;
mod people;
mod plot;
mod serve;
mod eval;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// One-shot face verification with Koch's Siamese network, on the CPU.
#[derive(Parser)]
#[command(name = "siamface", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure training and inference speed and memory (optionally beside TensorFlow).
    Bench(bench::Args),
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
    /// Serve the HTTP API.
    Serve(serve::Args),
    /// Compare the faces of two photos: same person or not.
    Compare(compare::Args),
    /// Train a network on Omniglot (Koch's split), with validation, checkpoints and resume.
    Train(train::Args),
    /// Evaluate a model: one-shot runs, verification pairs.
    #[command(subcommand)]
    Eval(eval::Command),
    /// Draw training curves, ROC curves or score histograms from saved results (.png or .svg).
    #[command(subcommand)]
    Plot(plot::Command),
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench(a) => bench::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Enroll(a) => people::enroll(a),
        Command::Verify(a) => people::verify(a),
        Command::Identify(a) => people::identify(a),
        Command::People(a) => people::people(a),
        Command::Rename(a) => people::rename(a),
        Command::Forget(a) => people::forget(a),
        Command::Train(a) => train::run(a),
        Command::Eval(c) => eval::run(c),
        Command::Plot(c) => plot::run(c),
    }
}
