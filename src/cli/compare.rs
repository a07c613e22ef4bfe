use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use crate::face::{self, Detector};
use crate::model::{io, Siamese};

#[derive(clap::Args)]
pub struct Args {
    /// First photo (JPEG, PNG, PGM/PPM, WebP).
    a: PathBuf,
    /// Second photo.
    b: PathBuf,
    /// Face model: a directory (model.safetensors + config.json) or a .safetensors file.
    #[arg(long, default_value = "models/face")]
    model: PathBuf,
    /// Decision threshold on the probability; default: the model card's, else 0.5.
    #[arg(long)]
    threshold: Option<f64>,
    #[arg(long, default_value_t = 0)]
    threads: usize,
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Side {
    file: String,
    /// x, y, width, height in the photo's pixels.
    #[serde(rename = "box")]
    rect: [f32; 4],
    faces: usize,
}

#[derive(Serialize)]
struct Out {
    score: f64,
    same: bool,
    threshold: f64,
    a: Side,
    b: Side,
}

/// The threshold written in the model directory's `card.json`, if any.
pub fn card_threshold(model: &Path) -> Option<f64> {
    card_value(model, "threshold")
}

/// A number from the model card (`card.json` beside the model), if there is one.
pub fn card_value(model: &Path, key: &str) -> Option<f64> {
    let text = std::fs::read_to_string(model.join("card.json")).ok()?;
    serde_json::from_str::<serde_json::Value>(&text).ok()?[key].as_f64()
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let ck = io::load(&a.model).with_context(|| format!("loading the face model {}", a.model.display()))?;
    let cfg = ck.config.clone();
    let mut net = Siamese::new(ck.config, ck.params, a.threads)?;
    let det = Detector::new()?;
    let threshold = a.threshold.or_else(|| card_threshold(&a.model)).unwrap_or(0.5);
    let mut sides = Vec::new();
    let mut embeddings = Vec::new();
    for path in [&a.a, &a.b] {
        let found = face::from_file(&det, path, &cfg)?;
        if found.faces_in_photo > 1 && !a.json {
            eprintln!("note: {}: {} faces found; using the largest", path.display(), found.faces_in_photo);
        }
        embeddings.push(net.embed_bytes(&found.input)?);
        sides.push(Side { file: path.display().to_string(), rect: found.face.rect, faces: found.faces_in_photo });
    }
    let score = net.score(&embeddings[0], &embeddings[1]) as f64;
    let b = sides.pop().expect("two sides");
    let out = Out { score, same: score >= threshold, threshold, a: sides.pop().expect("two sides"), b };
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("{}: score {:.3} (threshold {:.2})", if out.same { "same person" } else { "different people" }, out.score, out.threshold);
    }
    Ok(ExitCode::SUCCESS)
}
