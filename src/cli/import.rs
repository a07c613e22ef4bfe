//! `siamface import dlib FILE --out DIR`: a pretrained network from another tool's file into a
//! siamface model directory (safetensors + config), so it runs under our engine and head.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::model::{dlib, io};

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
        Command::Dlib(a) => {
            let (cfg, mut params, metric) = dlib::read(&a.file)?;
            dlib::set_distance_head(&mut params, metric.distance_threshold);
            io::save(&a.out, &cfg, &params, None, None).with_context(|| format!("writing {}", a.out.display()))?;
            println!(
                "{}: {} tensors, {} parameters; dlib's metric: margin {}, distance threshold {} -> {}",
                a.file.display(),
                params.specs.len(),
                params.data.len(),
                metric.margin,
                metric.distance_threshold,
                a.out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
