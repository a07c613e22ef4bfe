//! `siamface import dlib FILE --out DIR`: `service::models::import_dlib`, its report printed.
use std::path::PathBuf;
use std::process::ExitCode;

use crate::service::models;

#[derive(clap::Subcommand)]
pub enum Command {
    /// dlib's face ResNet (`dlib_face_recognition_resnet_model_v1.dat`) as a `resnet150` tower.
    Dlib {
        /// The .dat file.
        file: PathBuf,
        /// Model directory to write (model.safetensors + config.json).
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::Dlib { file, out } => print!("{}", models::import_dlib(&file, &out)?),
    }
    Ok(ExitCode::SUCCESS)
}
