//! `siamface calibrate`: the flags given to `service::models::calibrate`, its report printed.
use std::path::PathBuf;
use std::process::ExitCode;

use crate::eval::faces::Align;
use crate::service::models;

#[derive(clap::Args)]
pub struct Args {
    /// Model directory (model.safetensors + config.json); int8.json is written into it.
    #[arg(long)]
    model: PathBuf,
    /// Folder of sample photos (and its sub-folders, one level: PERSON/*.jpg), like those the
    /// model will see; no labels are read.
    #[arg(long)]
    images: PathBuf,
    /// Photos to use, spread evenly over the folder's sorted list.
    #[arg(long, default_value_t = 300)]
    count: usize,
    /// How a photo becomes the network's input.
    #[arg(long, value_enum, default_value_t = Align::Detect)]
    align: Align,
    #[command(flatten)]
    cpu: super::options::Threads,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    print!("{}", models::calibrate(&a.model, &a.images, a.count, a.align, a.cpu.threads)?);
    Ok(ExitCode::SUCCESS)
}
