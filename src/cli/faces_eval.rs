//! `siamface eval faces`: a face model on LFW through the whole pipeline; the protocols are
//! `eval::face_protocol`'s. Optionally writes the model with the calibrated head and its card.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::config::Head;
use crate::eval::face_protocol::{self, Lfw};
use crate::eval::faces::Align;
use crate::face::Detector;
use crate::model::{io, Siamese};

#[derive(clap::Args)]
pub struct Args {
    /// Model directory (weights, config, card) or .safetensors file.
    #[arg(long, default_value = "models/face")]
    model: PathBuf,
    /// LFW folder: pairs.txt, people.txt and images_deepfunneled/.
    #[arg(long)]
    lfw: PathBuf,
    /// How each LFW image becomes the model's crop: detect (find the face and align it by its
    /// landmarks, as the app does) or frame (LFW's own deep-funneled frame, no detection).
    #[arg(long, value_enum, default_value_t = Align::Detect)]
    align: Align,
    /// Keep the embeddings here and reuse them on the next run with the same model; a cache
    /// whose detections or crops another version of the pipeline made is made again.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Embed again (after a change of crop) with the detections kept in --cache.
    #[arg(long)]
    reembed: bool,
    /// False-accept rate the verification threshold is calibrated for.
    #[arg(long, default_value_t = 1e-3)]
    far: f64,
    /// False-accept rate per pair the identification threshold is calibrated for: with G
    /// people enrolled a stranger is named at most about G times this often.
    #[arg(long, default_value_t = 1e-4)]
    identify_far: f64,
    /// Write the model with the calibrated head and its card here.
    #[arg(long)]
    write_model: Option<PathBuf>,
    /// The head the written model compares embeddings with.
    #[arg(long, value_enum, default_value_t = Head::Euclidean)]
    head: Head,
    /// Print the result as one JSON object, for scripts and `siamface plot`.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let ck = io::load(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    let net = Siamese::new(ck.config.clone(), ck.params.clone(), 0)?;
    let det = Detector::new()?;
    let lfw = Lfw { dir: &a.lfw, align: a.align, cache: a.cache.as_deref(), reembed: a.reembed };
    let (out, fitted) = face_protocol::run(&net, &det, &lfw, a.far, a.identify_far)?;
    if let Some(dir) = &a.write_model {
        face_protocol::write_model(dir, &ck, &out, &fitted, a.head, a.far, a.identify_far)?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("{} images ({} without a detected face), {:.1} ms per face", out.images, out.faces_missed, out.ms_per_face);
        for r in &out.view2 {
            println!("LFW View 2, {}: {:.2}% +- {:.2}%", r.name, 100.0 * r.mean_accuracy, 100.0 * r.standard_error);
        }
        for h in &out.held_out {
            println!(
                "{}: fold 10 people at FAR {} (fold 9): TAR {:.2}% FAR {:.2e}; TAR@1e-3 {:.2}%, @1e-4 {:.2}%; open set: {} enrolled, identified {:.1}%, strangers named {:.2}%",
                h.rule, a.far, 100.0 * h.test.tar, h.test.far, 100.0 * h.test.tar_at_far_1e3, 100.0 * h.test.tar_at_far_1e4,
                h.open_set.enrolled, 100.0 * h.open_set.identified, 100.0 * h.open_set.fpir
            );
            for o in &h.one_shot {
                println!("  {}-way one-shot: {:.1}% +- {:.1}%", o.way, 100.0 * o.accuracy, 100.0 * o.interval);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

