//! `siamface compare A B`: the face service's comparison of two photos, printed.
use crate::engine::gemm::Precision;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::service::{Faces, Model, Photo};

#[derive(clap::Args)]
pub struct Args {
    /// First photo (JPEG, PNG, PGM/PPM, WebP).
    a: PathBuf,
    /// Second photo.
    b: PathBuf,
    /// Face model: a directory (model.safetensors + config.json) or a .safetensors file;
    /// default: the model built into the binary.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Decision threshold on the probability, from 0 to 1; default: the model card's, else 0.5.
    #[arg(long, value_parser = super::people::unit)]
    threshold: Option<f32>,
    /// Threads of the model's batch work; 0 means one per core.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Arithmetic of the model's products: f32, or bf16 (1.4-1.8x faster measured where the CPU has
    /// AVX512_BF16 or AMX; embeddings within bf16's rounding of f32's).
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    precision: Precision,
    /// Print the score, decision, threshold and both faces' boxes as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let faces = Faces::load(&Model::from_arg(a.model), a.threads, None, a.precision)?;
    let out = faces.compare(&Photo::read(&a.a)?, &Photo::read(&a.b)?, a.threshold)?;
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        for s in [&out.a, &out.b].into_iter().filter(|s| s.faces > 1) {
            eprintln!("note: {}: {} faces found; using the largest", s.file, s.faces);
        }
        let (score, threshold) = (crate::service::card::show_like(out.score, out.threshold), crate::service::card::show(out.threshold));
        println!("{}: score {score} (threshold {threshold})", if out.same { "same person" } else { "different people" });
    }
    // 0 same, 1 different, 2 error (main), as `cmp` answers.
    Ok(if out.same { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
