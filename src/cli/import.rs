//! `siamface import dlib FILE --out DIR`: a pretrained network from another tool's file into a
//! siamface model directory (safetensors + config), so it runs under our engine and head.
use std::path::PathBuf;
use std::process::ExitCode;

use crate::service::models;

#[derive(clap::Subcommand)]
pub enum Command {
    /// dlib's face ResNet (`dlib_face_recognition_resnet_model_v1.dat`) as a `resnet150` tower.
    Dlib(DlibArgs),
}

#[derive(clap::Args)]
pub struct DlibArgs {
    /// The .dat file.
    file: PathBuf,
    /// Model directory to write (model.safetensors + config.json).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::Dlib(a) => print!("{}", models::import_dlib(&a.file, &a.out)?),
    }
    Ok(ExitCode::SUCCESS)
}
