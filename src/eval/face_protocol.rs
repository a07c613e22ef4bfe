//! A face model on LFW from embeddings computed once (`eval::faces`): View 2's ten folds for
//! three decision rules (the model's own head, the tower's Euclidean distance, Koch's head
//! trained on the other nine folds), then a head to ship: trained on the pairs of folds 1-8, its
//! thresholds calibrated at a stated false-accept rate on the people of fold 9, and measured on
//! the people of fold 10 (verification, open-set identification, N-way one-shot).
use std::path::Path;

use serde::Serialize;

use super::calibrate::{self, People};
use super::faces::{self, Align, Embeddings};
use super::lfw_folds::{self, Fold, Protocol};
use super::verification;
use crate::config::Head;
use crate::data::lfw::{self, Face, Pairs};
use crate::error::{Error, Result};
use crate::face::Detector;
use crate::model::card::Card;
use crate::model::head::{self, Pair};
use crate::model::io::{self, Checkpoint};
use crate::model::Siamese;

/// people.txt fold (0-based) whose people calibrate the shipped head's thresholds: fold 9.
pub const CALIBRATION_FOLD: usize = 8;
/// people.txt fold (0-based) whose people the shipped head is measured on: fold 10.
pub const TEST_FOLD: usize = 9;

#[derive(Serialize)]
pub struct Rule {
    pub name: &'static str,
    pub mean_accuracy: f64,
    pub standard_error: f64,
    pub folds: Vec<Fold>,
}

#[derive(Serialize)]
pub struct Held {
    pub rule: &'static str,
    pub calibration: calibrate::Verification,
    pub identify_threshold: f64,
    pub test: calibrate::Verification,
    pub open_set: calibrate::OpenSet,
    pub one_shot: Vec<calibrate::OneShot>,
}

pub struct Report {
    pub view2: Vec<Rule>,
    pub held_out: Vec<Held>,
    /// Koch's head trained on the pairs of folds 1-8: weights and bias.
    pub head: (Vec<f32>, f32),
    /// The Euclidean head `sigmoid(b + a * distance)` fitted on the same pairs: (a, b).
    pub distance_head: (f32, f32),
}

/// Logistic regression of `same` on one feature (Newton's method): `p = sigmoid(b + a x)`.
pub fn fit_logistic(x: &[f64], same: &[bool]) -> (f64, f64) {
    let (mut a, mut b) = (0.0f64, 0.0f64);
    for _ in 0..50 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 1e-9, 0.0, 1e-9);
        for (xi, yi) in x.iter().zip(same) {
            let p = 1.0 / (1.0 + (-(b + a * xi)).exp());
            let e = p - if *yi { 1.0 } else { 0.0 };
            let w = p * (1.0 - p);
            ga += e * xi;
            gb += e;
            haa += w * xi * xi;
            hab += w * xi;
            hbb += w;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-18 {
            break;
        }
        let (da, db) = ((hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det);
        a -= da;
        b -= db;
        if da.abs() + db.abs() < 1e-10 {
            break;
        }
    }
    (a, b)
}

fn rule(name: &'static str, p: Protocol) -> Rule {
    Rule { name, mean_accuracy: p.mean_accuracy, standard_error: p.standard_error, folds: p.folds }
}

/// `emb` must hold every face of `pairs` and of `people` folds 9 and 10; `far` and
/// `identify_far` are the false-accept rates the verification and identification thresholds
/// are calibrated for.
pub fn evaluate(net: &Siamese, emb: &Embeddings, pairs: &Pairs, people: &[Vec<(String, usize)>], far: f64, identify_far: f64) -> Report {
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
    let (start_a, start_b) = head_of(net.params(), dim);
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
        let s = |u: &[f32], v: &[f32]| head::score(&ha, hb, u, v);
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
    let shipped = |u: &[f32], v: &[f32]| head::score(&ha, hb, u, v);
    let (cal_rows, cal_owner) = people_rows(emb, &people[CALIBRATION_FOLD]);
    let (test_rows, test_owner) = people_rows(emb, &people[TEST_FOLD]);
    let cal = People { rows: &cal_rows, dim, owner: cal_owner };
    let test = People { rows: &test_rows, dim, owner: test_owner };
    let mut held = Vec::new();
    let rules: [(&'static str, &(dyn Fn(&[f32], &[f32]) -> f64 + Sync)); 2] = [("trained head (pairs of folds 1-8)", &shipped), ("euclidean distance", &euclid)];
    for (name, score) in rules {
        let (cs, cy) = cal.all_pairs(score);
        let t = calibrate::threshold_at_far(&cs, &cy, far);
        let ti = calibrate::threshold_at_far(&cs, &cy, identify_far);
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
    let d: Vec<f64> = ps.iter().map(|p| -euclid(&m[p.a * dim..][..dim], &m[p.b * dim..][..dim])).collect();
    let y: Vec<bool> = ps.iter().map(|p| p.same).collect();
    let (da, db) = fit_logistic(&d, &y);
    Report { view2, held_out: held, head: (ha, hb), distance_head: (da as f32, db as f32) }
}

/// Where Koch's head is fitted from: the model's own weighted-L1 head, or for a model with a
/// Euclidean head (one weight), the plain L1 head that decides where dlib's distance
/// threshold 0.6 would (`dlib::set_distance_head`).
fn head_of(p: &crate::model::Params, dim: usize) -> (Vec<f32>, f32) {
    let n = p.specs.len();
    if p.at(n - 2).len() == dim {
        return (p.at(n - 2).to_vec(), p.at(n - 1)[0]);
    }
    let k = 10.0 / ((dim as f64).sqrt() * 0.6);
    (vec![-k as f32; dim], (k * (dim as f64).sqrt() * 0.6) as f32)
}

fn people_rows(emb: &Embeddings, people: &[(String, usize)]) -> (Vec<f32>, Vec<usize>) {
    let (mut rows, mut owner) = (Vec::new(), Vec::new());
    for (k, (name, n)) in people.iter().enumerate() {
        for number in 1..=*n {
            if let Some(r) = emb.row(&Face { name: name.clone(), number }) {
                rows.extend_from_slice(r);
                owner.push(k);
            }
        }
    }
    (rows, owner)
}

/// `siamface eval faces`: a face model on LFW through the whole pipeline, as saved and printed.
#[derive(Serialize)]
pub struct Evaluation {
    pub model: String,
    pub align: Align,
    pub images: usize,
    pub faces_missed: usize,
    pub ms_per_face: f64,
    pub view2: Vec<Rule>,
    pub held_out: Vec<Held>,
    /// The false-accept rate the verification thresholds were calibrated for.
    #[serde(skip)]
    pub far: f64,
}

/// Where the LFW photos are embedded from and how.
pub struct Lfw<'a> {
    /// pairs.txt, people.txt and images_deepfunneled/.
    pub dir: &'a Path,
    pub align: Align,
    /// Embeddings kept between runs with the same model (`eval::faces`).
    pub cache: Option<&'a Path>,
    /// Embed again with the detections kept in `cache`.
    pub reembed: bool,
}

/// Embeds every face the protocols need (both photos of every View 2 pair and every photo of
/// the people of the calibration and test folds) and runs them. Returns what is reported and
/// the fitted heads (`Report::head`, `Report::distance_head`).
pub fn run(net: &Siamese, det: &Detector, lfw: &Lfw, far: f64, identify_far: f64) -> Result<(Evaluation, Report)> {
    let model_id = net.params().fingerprint();
    let pairs = lfw::Pairs::parse(&lfw.dir.join("pairs.txt"))?;
    let people = lfw::people(&lfw.dir.join("people.txt"))?;
    if pairs.folds.len() != 10 || people.len() != 10 {
        return Err(Error::data(lfw.dir, None, "expected LFW View 2's 10 folds in pairs.txt and people.txt"));
    }
    let mut wanted: Vec<Face> = pairs.folds.iter().flatten().flat_map(|p| [p.a.clone(), p.b.clone()]).collect();
    wanted.extend(lfw::people_faces(&people[CALIBRATION_FOLD]));
    wanted.extend(lfw::people_faces(&people[TEST_FOLD]));
    let emb = faces::embed(net, det, &lfw.dir.join("images_deepfunneled"), &wanted, lfw.align, &model_id, lfw.cache, lfw.reembed)?;
    let mut report = evaluate(net, &emb, &pairs, &people, far, identify_far);
    let e = Evaluation {
        model: model_id,
        align: lfw.align,
        images: emb.faces.len(),
        faces_missed: emb.missed.len(),
        ms_per_face: emb.ms_per_face,
        view2: std::mem::take(&mut report.view2),
        held_out: std::mem::take(&mut report.held_out),
        far,
    };
    Ok((e, report))
}

/// Writes to `dir` the model of `ck` with the head `run` fitted on folds 1-8 (`head`: Koch's
/// weighted L1, or the Euclidean distance calibrated into a probability) and its card: the
/// thresholds calibrated on the calibration fold's people at `far` and `identify_far`, and the
/// evaluation. Thresholds move with the head: a distance threshold becomes the probability the
/// Euclidean head gives at that distance.
pub fn write_model(dir: &Path, ck: &Checkpoint, e: &Evaluation, fitted: &Report, head: Head, far: f64, identify_far: f64) -> Result<()> {
    let ((ha, hb), (da, db)) = (&fitted.head, fitted.distance_head);
    let (h, to_p): (&Held, Box<dyn Fn(f64) -> f64>) = match head {
        Head::WeightedL1 => (&e.held_out[0], Box::new(|t| t)),
        Head::Euclidean => (&e.held_out[1], Box::new(move |t: f64| 1.0 / (1.0 + (-(db as f64 - da as f64 * t)).exp()))),
    };
    let (cfg, params) = match head {
        Head::WeightedL1 => ck.params.with_head(&ck.config, head, ha, *hb)?,
        Head::Euclidean => ck.params.with_head(&ck.config, head, &[da], db)?,
    };
    io::save(dir, &cfg, &params, None, None)?;
    let note = |v: String| serde_json::Value::from(v);
    let mut card = Card {
        name: Some(format!("dlib ResNet tower, {} head (LFW-calibrated)", match head { Head::WeightedL1 => "Koch's weighted-L1", Head::Euclidean => "Euclidean" })),
        threshold: to_p(h.calibration.threshold),
        identify_threshold: Some(to_p(h.identify_threshold)),
        verification: 0.5,
        ..Card::default()
    };
    card.notes.insert("threshold_source".into(), note(format!("false-accept rate {far} over every pair of different people among LFW people.txt fold {} (held out from the head's training)", CALIBRATION_FOLD + 1)));
    card.notes.insert(
        "identify_threshold_source".into(),
        note(format!("false-accept rate {identify_far} per pair on the same people: with G people enrolled a stranger is named at most about G x {identify_far} of the time")),
    );
    card.notes.insert("evaluation".into(), serde_json::to_value(e).map_err(|err| Error::Internal(format!("evaluation: {err}")))?);
    card.write(dir)
}

/// `run` for the model at `model`, and, given `write` (a directory and the head the written
/// model compares embeddings with), `write_model` there.
pub fn on_model(model: &Path, lfw: &Lfw, far: f64, identify_far: f64, write: Option<(&Path, Head)>) -> Result<Evaluation> {
    let ck = io::load(model)?;
    let net = Siamese::new(ck.config.clone(), ck.params.clone(), 0)?;
    let (e, fitted) = run(&net, &Detector::new()?, lfw, far, identify_far)?;
    if let Some((dir, head)) = write {
        write_model(dir, &ck, &e, &fitted, head, far, identify_far)?;
    }
    Ok(e)
}

impl std::fmt::Display for Evaluation {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(f, "{} images ({} without a detected face), {:.1} ms per face", self.images, self.faces_missed, self.ms_per_face)?;
        for r in &self.view2 {
            writeln!(f, "LFW View 2, {}: {:.2}% +- {:.2}%", r.name, 100.0 * r.mean_accuracy, 100.0 * r.standard_error)?;
        }
        for h in &self.held_out {
            writeln!(
                f,
                "{}: fold 10 people at FAR {} (fold 9): TAR {:.2}% FAR {:.2e}; TAR@1e-3 {:.2}%, @1e-4 {:.2}%; open set: {} enrolled, identified {:.1}%, strangers named {:.2}%",
                h.rule, self.far, 100.0 * h.test.tar, h.test.far, 100.0 * h.test.tar_at_far_1e3, 100.0 * h.test.tar_at_far_1e4,
                h.open_set.enrolled, 100.0 * h.open_set.identified, 100.0 * h.open_set.fpir
            )?;
            for o in &h.one_shot {
                writeln!(f, "  {}-way one-shot: {:.1}% +- {:.1}%", o.way, 100.0 * o.accuracy, 100.0 * o.interval)?;
            }
        }
        Ok(())
    }
}
