//! `siamface eval faces`: a face model on LFW through the whole pipeline. View 2's ten folds for
//! three decision rules (the model's own head, the tower's Euclidean distance, Koch's head trained
//! on the other nine folds), then the shipped head: trained on the pairs of folds 1-8, its
//! thresholds calibrated at a stated false-accept rate on the people of fold 9, and measured on
//! the people of fold 10 (verification, open-set identification, N-way one-shot).
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use crate::data::lfw::{self, Face};
use crate::eval::calibrate::{self, People};
use crate::eval::faces::{self, Align, Embeddings};
use crate::eval::lfw_folds::{self, Fold, Protocol};
use crate::eval::verification;
use crate::face::Detector;
use crate::gallery;
use crate::model::{io, Siamese};
use crate::train::head::{self, Pair};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "models/face")]
    model: PathBuf,
    /// LFW folder: pairs.txt, people.txt and images_deepfunneled/.
    #[arg(long)]
    lfw: PathBuf,
    #[arg(long, value_enum, default_value_t = Align::Detect)]
    align: Align,
    /// Keep the embeddings here and reuse them on the next run with the same model.
    #[arg(long)]
    cache: Option<PathBuf>,
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
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Rule {
    name: &'static str,
    mean_accuracy: f64,
    standard_error: f64,
    folds: Vec<Fold>,
}

#[derive(Serialize)]
struct Held {
    rule: &'static str,
    calibration: calibrate::Verification,
    identify_threshold: f64,
    test: calibrate::Verification,
    open_set: calibrate::OpenSet,
    one_shot: Vec<calibrate::OneShot>,
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

fn rule(name: &'static str, p: Protocol) -> Rule {
    Rule { name, mean_accuracy: p.mean_accuracy, standard_error: p.standard_error, folds: p.folds }
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
    let emb = faces::embed(&net, &det, &a.lfw.join("images_deepfunneled"), &wanted, a.align, &model_id, a.cache.as_deref())?;
    let row = |f: &Face| emb.row(f).expect("every wanted face was embedded");
    let dim = emb.dim;

    let same: Vec<Vec<bool>> = pairs.folds.iter().map(|f| f.iter().map(|p| p.same).collect()).collect();
    let by = |score: &dyn Fn(&[f32], &[f32]) -> f64| -> Vec<Vec<f64>> {
        pairs.folds.iter().map(|f| f.iter().map(|p| score(row(&p.a), row(&p.b))).collect()).collect()
    };
    let euclid = |u: &[f32], v: &[f32]| -> f64 { -u.iter().zip(v).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>().sqrt() };
    let model_head = |u: &[f32], v: &[f32]| net.score(u, v) as f64;
    let mut distance = rule("euclidean distance", lfw_folds::run(&by(&euclid), &same));
    for f in &mut distance.folds {
        f.threshold = -f.threshold;
    }
    let mut view2 = vec![rule("the model's head", lfw_folds::run(&by(&model_head), &same)), distance];

    // Koch's head trained on the other nine folds' pairs, for each fold.
    let (start_a, start_b) = head_of(&ck.params);
    let rows_of = |folds: &[usize]| -> (Vec<f32>, Vec<Pair>) {
        let mut m = Vec::new();
        let mut ps = Vec::new();
        for &k in folds {
            for p in &pairs.folds[k] {
                let i = m.len() / dim;
                m.extend_from_slice(row(&p.a));
                m.extend_from_slice(row(&p.b));
                ps.push(Pair { a: i, b: i + 1, same: p.same });
            }
        }
        (m, ps)
    };
    let mut trained_folds = Vec::new();
    for k in 0..10 {
        let others: Vec<usize> = (0..10).filter(|&g| g != k).collect();
        let (m, ps) = rows_of(&others);
        let (ha, hb) = head::fit(&m, dim, &ps, (&start_a, start_b), head::Fit::default());
        let s = |u: &[f32], v: &[f32]| score_head(&ha, hb, u, v);
        let train_scores: Vec<f64> = ps.iter().map(|p| s(&m[p.a * dim..][..dim], &m[p.b * dim..][..dim])).collect();
        let train_same: Vec<bool> = ps.iter().map(|p| p.same).collect();
        let (t, _) = verification::best_threshold(&train_scores, &train_same);
        let test: Vec<f64> = pairs.folds[k].iter().map(|p| s(row(&p.a), row(&p.b))).collect();
        let (acc, _, _) = verification::at_threshold(&test, &same[k], t);
        let curve = verification::roc(&test, &same[k]);
        trained_folds.push(Fold { fold: k + 1, pairs: test.len(), threshold: t, accuracy: acc, auc: verification::auc(&curve), eer: verification::eer(&curve) });
    }
    let n = 10.0;
    let mean = trained_folds.iter().map(|f| f.accuracy).sum::<f64>() / n;
    let se = (trained_folds.iter().map(|f| (f.accuracy - mean).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
    view2.push(Rule { name: "Koch's head trained on the other nine folds", mean_accuracy: mean, standard_error: se, folds: trained_folds });

    // The shipped head: pairs of folds 1-8; thresholds from fold 9's people; tested on fold 10's.
    let (m, ps) = rows_of(&(0..8).collect::<Vec<_>>());
    let (ha, hb) = head::fit(&m, dim, &ps, (&start_a, start_b), head::Fit::default());
    let shipped = |u: &[f32], v: &[f32]| score_head(&ha, hb, u, v);
    let (cal_rows, cal_owner) = people_rows(&emb, &people[8]);
    let (test_rows, test_owner) = people_rows(&emb, &people[9]);
    let cal = People { rows: &cal_rows, dim, owner: cal_owner };
    let test = People { rows: &test_rows, dim, owner: test_owner };
    let mut held = Vec::new();
    let rules: [(&'static str, &(dyn Fn(&[f32], &[f32]) -> f64 + Sync)); 2] = [("trained head (pairs of folds 1-8)", &shipped), ("euclidean distance", &euclid)];
    for (name, score) in rules {
        let (cs, cy) = cal.all_pairs(score);
        let t = calibrate::threshold_at_far(&cs, &cy, a.far);
        let ti = calibrate::threshold_at_far(&cs, &cy, a.identify_far);
        let (ts, ty) = test.all_pairs(score);
        held.push(Held {
            rule: name,
            calibration: calibrate::verification(&cs, &cy, t),
            identify_threshold: ti,
            test: calibrate::verification(&ts, &ty, t),
            open_set: calibrate::open_set(&test, score, ti),
            one_shot: [5, 20, 100].iter().filter_map(|&w| calibrate::one_shot(&test, score, w, 400, 10 + w as u64)).collect(),
        });
    }
    let out = Out { model: model_id, align: a.align, images: emb.faces.len(), faces_missed: emb.missed.len(), ms_per_face: emb.ms_per_face, view2, held_out: held };

    if let Some(dir) = &a.write_model {
        let mut params = ck.params.clone();
        let nspec = params.specs.len();
        let (wr, br) = (params.specs[nspec - 2].range(), params.specs[nspec - 1].range());
        params.data[wr].copy_from_slice(&ha);
        params.data[br][0] = hb;
        io::save(dir, &ck.config, &params, None, None)?;
        let h = &out.held_out[0];
        let card = serde_json::json!({
            "threshold": h.calibration.threshold,
            "threshold_source": format!("false-accept rate {} over every pair of different people among LFW people.txt fold 9 (held out from the head's training)", a.far),
            "identify_threshold": h.identify_threshold,
            "identify_threshold_source": format!("false-accept rate {} per pair on the same people: a stranger is named at most about G x {} as often with G people enrolled", a.identify_far, a.identify_far),
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

fn head_of(p: &crate::model::Params) -> (Vec<f32>, f32) {
    let n = p.specs.len();
    (p.at(n - 2).to_vec(), p.at(n - 1)[0])
}

fn score_head(a: &[f32], b: f32, u: &[f32], v: &[f32]) -> f64 {
    let z = b as f64 + u.iter().zip(v).zip(a).map(|((x, y), w)| ((x - y).abs() * w) as f64).sum::<f64>();
    1.0 / (1.0 + (-z).exp())
}

fn people_rows(emb: &Embeddings, people: &[(String, usize)]) -> (Vec<f32>, Vec<usize>) {
    let (mut rows, mut owner) = (Vec::new(), Vec::new());
    for (k, f) in lfw::people_faces(people).iter().enumerate().map(|(_, f)| (people.iter().position(|p| p.0 == f.name).unwrap_or(0), f)) {
        if let Some(r) = emb.row(f) {
            rows.extend_from_slice(r);
            owner.push(k);
        }
    }
    (rows, owner)
}
