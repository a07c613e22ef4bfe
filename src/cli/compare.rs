//! `siamface compare A B`: the face service's comparison of two photos, printed.
use std::path::PathBuf;
use std::process::ExitCode;

use crate::service::Photo;

#[derive(clap::Args)]
pub struct Args {
    /// First photo (JPEG, PNG, PGM/PPM, WebP).
    a: PathBuf,
    /// Second photo.
    b: PathBuf,
    #[command(flatten)]
    model: super::options::FaceModel,
    /// Decision threshold on the probability, from 0 to 1; default: the model card's, else 0.5.
    #[arg(long, value_parser = super::options::unit)]
    threshold: Option<f32>,
    #[command(flatten)]
    output: super::options::Output,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let out = a.model.load(None)?.compare(&Photo::read(&a.a)?, &Photo::read(&a.b)?, a.threshold)?;
    if !a.output.json {
        out.notes().for_each(|note| eprintln!("{note}"));
    }
    a.output.show(&out)?;
    // 0 same, 1 different, 2 error (main), as `cmp` answers.
    Ok(if out.same { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
