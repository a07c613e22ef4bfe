//! The command line: what the user typed (clap) turned into calls of the library.
mod bench;
mod compare;
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
    /// Compare the faces of two photos: same person or not.
    Compare(compare::Args),
    /// Train a network on Omniglot (Koch's split), with validation, checkpoints and resume.
    Train(train::Args),
    /// Evaluate a model: one-shot runs, verification pairs.
    #[command(subcommand)]
    Eval(eval::Command),
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench(a) => bench::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Train(a) => train::run(a),
        Command::Eval(c) => eval::run(c),
    }
}
