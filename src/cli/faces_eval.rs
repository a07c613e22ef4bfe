//! `siamface eval faces`: a face model on LFW through the whole pipeline; the protocols are
//! `eval::face_protocol`'s. Optionally writes the model with the calibrated head and its card.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use crate::data::lfw::{self, Face};
use crate::eval::face_protocol::{self, Held, Rule};
use crate::eval::faces::{self, Align};
use crate::face::Detector;
use crate::config::Head;
use crate::gallery;
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
    /// Keep the embeddings here and reuse them on the next run with the same model.
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

#[derive(Serialize)]
struct Out {
    model: String,
    align: Align,
    images: usize,
    faces_missed: usize,
    ms_per_face: f64,
    view2: Vec<Rule>,
    held_out: Vec<Held>,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let ck = io::load(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    let model_id = gallery::fingerprint(&ck.params.data);
    let net = Siamese::new(ck.config.clone(), ck.params.clone(), 0)?;
    let det = Detector::new()?;
    let pairs = lfw::Pairs::parse(&a.lfw.join("pairs.txt"))?;
    let people = lfw::people(&a.lfw.join("people.txt"))?;
    if pairs.folds.len() != 10 || people.len() != 10 {
        anyhow::bail!("{}: expected LFW View 2's 10 folds in pairs.txt and people.txt", a.lfw.display());
    }
    let mut wanted: Vec<Face> = pairs.folds.iter().flatten().flat_map(|p| [p.a.clone(), p.b.clone()]).collect();
    wanted.extend(lfw::people_faces(&people[8]));
    wanted.extend(lfw::people_faces(&people[9]));
    let emb = faces::embed(&net, &det, &a.lfw.join("images_deepfunneled"), &wanted, a.align, &model_id, a.cache.as_deref(), a.reembed)?;

    let report = face_protocol::evaluate(&net, &emb, &pairs, &people, a.far, a.identify_far);
    let (ha, hb) = report.head.clone();
    let report_distance_head = report.distance_head;
    let out = Out { model: model_id, align: a.align, images: emb.faces.len(), faces_missed: emb.missed.len(), ms_per_face: emb.ms_per_face, view2: report.view2, held_out: report.held_out };
    if let Some(dir) = &a.write_model {
        let mut cfg = ck.config.clone();
        cfg.head = a.head;
        let mut params = crate::model::Params::zeros(&cfg)?;
        let n = params.specs.len();
        for spec in &params.specs.clone()[..n - 2] {
            let src = ck.params.get(&spec.name).with_context(|| format!("tensor {} missing from {}", spec.name, a.model.display()))?;
            params.data[spec.range()].copy_from_slice(src);
        }
        let (wr, br) = (params.specs[n - 2].range(), params.specs[n - 1].range());
        // Thresholds move with the head: a distance threshold becomes the probability the
        // Euclidean head gives at that distance.
        let (h, to_p): (&Held, Box<dyn Fn(f64) -> f64>) = match a.head {
            Head::WeightedL1 => {
                params.data[wr].copy_from_slice(&ha);
                params.data[br][0] = hb;
                (&out.held_out[0], Box::new(|t| t))
            }
            Head::Euclidean => {
                let (da, db) = report_distance_head;
                params.data[wr][0] = da;
                params.data[br][0] = db;
                (&out.held_out[1], Box::new(move |t: f64| 1.0 / (1.0 + (-(db as f64 - da as f64 * t)).exp())))
            }
        };
        io::save(dir, &cfg, &params, None, None)?;
        let card = serde_json::json!({
            "name": format!("dlib ResNet tower, {} head (LFW-calibrated)", match a.head { Head::WeightedL1 => "Koch's weighted-L1", Head::Euclidean => "Euclidean" }),
            "threshold": to_p(h.calibration.threshold),
            "threshold_source": format!("false-accept rate {} over every pair of different people among LFW people.txt fold 9 (held out from the head's training)", a.far),
            "identify_threshold": to_p(h.identify_threshold),
            "identify_threshold_source": format!("false-accept rate {} per pair on the same people: with G people enrolled a stranger is named at most about G x {} of the time", a.identify_far, a.identify_far),
            "verification": 0.5,
            "evaluation": &out,
        });
        let p = dir.join("card.json");
        std::fs::write(&p, serde_json::to_string_pretty(&card)?).with_context(|| format!("writing {}", p.display()))?;
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

