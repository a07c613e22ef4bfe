//! A face model's head fine-tuned on one person's pictures (the app's `anchor/` and
//! `positive/`, collected by the page's buttons or any folder) against other people
//! (`negative/` and, given LFW, people of its training folds), the tower frozen: the pictures
//! embedded, the loop of `finetune` run, and the model, its card, its history and a
//! before/after on held-out pictures written. `siamface train-head` is this.
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::finetune::{self, Check, Material};
use super::trainer::{self, EpochRecord};
use crate::config::Head;
use crate::data::{folder, lfw, photo};
use crate::error::{Error, Result};
use crate::face::{self, Detector};
use crate::model::card::Card;
use crate::model::head::{self, Pair};
use crate::model::io::{self, Checkpoint};
use crate::model::Siamese;

/// What a fine-tuning starts from and how long it runs.
pub struct Tuning<'a> {
    /// The app's folder: anchor/ and positive/ (the person), optional negative/ (others).
    pub app: &'a Path,
    /// LFW folder: people of people.txt folds 1-8 as other people, pairs.txt folds 1-8 to keep
    /// the head's view of strangers, and pairs.txt fold 10 scored before and after.
    pub lfw: Option<&'a Path>,
    /// Where the model, its card, history.csv/json, curves and finetune.json go.
    pub out: &'a Path,
    /// Share of the person's pictures held out for the before/after check.
    pub holdout: f64,
    /// Passes over the head's training pairs, and optimiser steps in each.
    pub epochs: usize,
    pub steps: usize,
}

/// `finetune.json`: what was trained on and the before/after.
#[derive(Serialize)]
pub struct Report {
    pub person_pictures: usize,
    pub held_out: usize,
    pub other_pictures: usize,
    pub skipped_without_face: Vec<String>,
    /// The original model's threshold, at which `before` is counted.
    pub threshold: f64,
    /// The fine-tuned head's threshold (written to its card), at which `after` is counted.
    pub threshold_after: f64,
    pub before: Check,
    pub after: Check,
    /// LFW pairs.txt fold 10 before and after, each at its own threshold (with LFW).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lfw_fold_10: Option<LfwCheck>,
    /// Where the model went (`Tuning::out`).
    #[serde(skip)]
    pub out: PathBuf,
}

/// Verification of LFW pairs the head never saw: before with the original model at its
/// threshold, after with the fine-tuned head at its own.
#[derive(Serialize)]
pub struct LfwCheck {
    pub pairs: usize,
    /// Pairs left out because a photo had no detected face.
    pub skipped: usize,
    pub before: PairCheck,
    pub after: PairCheck,
}

#[derive(Serialize)]
pub struct PairCheck {
    pub accuracy: f64,
    /// Same-person pairs accepted.
    pub tar: f64,
    /// Different-person pairs accepted.
    pub far: f64,
}

fn pair_check(scores: &[(f64, bool)], threshold: f64) -> PairCheck {
    let (mut right, mut same, mut same_ok, mut diff, mut diff_ok) = (0, 0, 0, 0, 0);
    for &(s, is_same) in scores {
        let accept = s >= threshold;
        right += (accept == is_same) as usize;
        if is_same {
            same += 1;
            same_ok += accept as usize;
        } else {
            diff += 1;
            diff_ok += accept as usize;
        }
    }
    PairCheck { accuracy: right as f64 / scores.len().max(1) as f64, tar: same_ok as f64 / same.max(1) as f64, far: diff_ok as f64 / diff.max(1) as f64 }
}

/// Embeds photos (the first detected face of each); photos without a face are skipped and
/// named.
fn embed(net: &Siamese, det: &Detector, paths: &[PathBuf]) -> Result<(Vec<f32>, Vec<String>)> {
    let cfg = net.config().clone();
    let done: Vec<Result<Option<Vec<f32>>>> = paths
        .par_iter()
        .map_init(
            || net.scratch(),
            |s, p| {
                let img = photo::open(p)?.to_rgb8();
                match det.detect(&img)?.first() {
                    Some(f) => Ok(Some(net.embed_bytes_with(&face::input_from_photo(&img, f, &cfg), s)?)),
                    None => Ok(None),
                }
            },
        )
        .collect();
    let (mut rows, mut skipped) = (Vec::new(), Vec::new());
    for (p, r) in paths.iter().zip(done) {
        match r? {
            Some(e) => rows.extend(e),
            None => skipped.push(p.display().to_string()),
        }
    }
    Ok((rows, skipped))
}

/// Embeds both photos of each pair; a pair loses both sides when either has no face. Returns
/// the rows (the two of a kept pair side by side) and the kept pairs as row indices.
fn embed_pairs(net: &Siamese, det: &Detector, pairs: &[(PathBuf, PathBuf, bool)]) -> Result<(Vec<f32>, Vec<Pair>)> {
    let d = net.embedding_len();
    let flat: Vec<PathBuf> = pairs.iter().flat_map(|(x, y, _)| [x.clone(), y.clone()]).collect();
    let (rows, miss) = embed(net, det, &flat)?;
    let missing: std::collections::HashSet<String> = miss.into_iter().collect();
    let (mut out, mut kept, mut k) = (Vec::new(), Vec::new(), 0);
    for (x, y, same) in pairs {
        let (fx, fy) = (!missing.contains(&x.display().to_string()), !missing.contains(&y.display().to_string()));
        let (ix, iy) = (k, k + fx as usize);
        k += fx as usize + fy as usize;
        if fx && fy {
            let base = out.len() / d;
            out.extend_from_slice(&rows[ix * d..(ix + 1) * d]);
            out.extend_from_slice(&rows[iy * d..(iy + 1) * d]);
            kept.push(Pair { a: base, b: base + 1, same: *same });
        }
    }
    Ok((out, kept))
}

fn pictures(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    folder::images_in(dir)
}

/// Fine-tunes the head of `ck` (whose card is `card`) as `t` says, and writes the model (Koch's
/// head over the same tower), its card, the history with its curves and `finetune.json` to
/// `t.out`. Returns the report and the history.
pub fn tune(ck: &Checkpoint, card: &Card, t: &Tuning) -> Result<(Report, Vec<EpochRecord>)> {
    if !(t.holdout > 0.0 && t.holdout < 1.0) {
        return Err(Error::input("--holdout", format!("a share between 0 and 1, found {}", t.holdout)));
    }
    let threshold = card.threshold;
    let net = Siamese::new(ck.config.clone(), ck.params.clone(), 0)?;
    let det = Detector::new()?;
    let mut person = pictures(&t.app.join("anchor"))?;
    person.extend(pictures(&t.app.join("positive"))?);
    if person.len() < 3 {
        return Err(Error::data(t.app, None, format!("anchor/ and positive/ hold {} pictures; fine-tuning needs 3 or more (2 to train, 1 to check)", person.len())));
    }
    let mut others = pictures(&t.app.join("negative"))?;
    let mut lfw_pairs = Vec::new();
    if let Some(l) = t.lfw {
        let people = lfw::people(&l.join("people.txt"))?;
        let root = l.join("images_deepfunneled");
        // One picture each of every 8th person of folds 1-8: a few hundred strangers.
        others.extend(people.iter().take(8).flatten().step_by(8).map(|(n, _)| lfw::Face { name: n.clone(), number: 1 }.path(&root)));
        let pairs = lfw::Pairs::parse(&l.join("pairs.txt"))?;
        lfw_pairs = pairs.folds.iter().take(8).flatten().step_by(4).map(|p| (p.a.path(&root), p.b.path(&root), p.same)).collect();
    }
    if others.is_empty() {
        return Err(Error::data(t.app, None, "no pictures of other people: add negative/ or give --lfw"));
    }

    let (person_rows, mut skipped) = embed(&net, &det, &person)?;
    let (other_rows, s2) = embed(&net, &det, &others)?;
    skipped.extend(s2);
    let d = net.embedding_len();
    let n = person_rows.len() / d;
    let held = ((n as f64 * t.holdout).round() as usize).clamp(1, n.saturating_sub(2).max(1));
    // Every k-th picture is held out, so both halves span the collection (lighting, days).
    let step = (n / held).max(1);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (i, r) in person_rows.chunks(d).enumerate() {
        if i % step == step - 1 && test.len() / d < held { test.extend_from_slice(r) } else { train.extend_from_slice(r) }
    }
    let (pair_rows, pairs) = embed_pairs(&net, &det, &lfw_pairs)?;
    let m = Material { dim: d, person: &train, held_out: &test, others: &other_rows, pairs_rows: &pair_rows, pairs: &pairs };
    let nspec = ck.params.specs.len();
    let before = finetune::check_with(&m, &|u, v| net.score(u, v) as f64, threshold);
    // Koch's head is what is fine-tuned. A Euclidean head starts it at the same slope spread
    // over the dimensions (an L1 distance is about sqrt(dim) times an even L2 one).
    let (a0, b0) = match ck.config.head {
        Head::WeightedL1 => (ck.params.at(nspec - 2).to_vec(), ck.params.at(nspec - 1)[0]),
        Head::Euclidean => (vec![ck.params.at(nspec - 2)[0] / (d as f32).sqrt(); d], ck.params.at(nspec - 1)[0]),
    };
    let old_strangers = finetune::impostor_scores(&m, &|u, v| net.score(u, v) as f64);
    let ((ha, hb), new_threshold, history) = finetune::run(&m, (&a0, b0), t.epochs, t.steps, &old_strangers, threshold)?;
    let after = finetune::check(&m, &ha, hb, new_threshold);
    let (cfg, params) = ck.params.with_head(&ck.config, Head::WeightedL1, &ha, hb)?;
    io::save(t.out, &cfg, &params, None, None)?;
    tuned_card(card, t.out, new_threshold, threshold, old_strangers.len()).write(t.out)?;
    trainer::write_history(t.out, &history)?;
    let lfw_fold_10 = match t.lfw {
        Some(l) => {
            let pairs = lfw::Pairs::parse(&l.join("pairs.txt"))?;
            let root = l.join("images_deepfunneled");
            let fold = pairs.folds.get(9).ok_or_else(|| Error::data(l.join("pairs.txt"), None, "pairs.txt has no fold 10"))?;
            let triples: Vec<(PathBuf, PathBuf, bool)> = fold.iter().map(|p| (p.a.path(&root), p.b.path(&root), p.same)).collect();
            let (rows, kept) = embed_pairs(&net, &det, &triples)?;
            let (mut old, mut new) = (Vec::new(), Vec::new());
            for p in &kept {
                let (u, v) = (&rows[p.a * d..(p.a + 1) * d], &rows[p.b * d..(p.b + 1) * d]);
                old.push((net.score(u, v) as f64, p.same));
                new.push((head::score(&ha, hb, u, v), p.same));
            }
            Some(LfwCheck { pairs: old.len(), skipped: fold.len() - old.len(), before: pair_check(&old, threshold), after: pair_check(&new, new_threshold) })
        }
        None => None,
    };
    let report = Report {
        person_pictures: n - test.len() / d,
        held_out: test.len() / d,
        other_pictures: other_rows.len() / d,
        skipped_without_face: skipped,
        threshold,
        threshold_after: new_threshold,
        before,
        after,
        lfw_fold_10,
        out: t.out.to_path_buf(),
    };
    let path = t.out.join("finetune.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report).expect("report serialises")).map_err(|e| Error::io(&path, e))?;
    Ok((report, history))
}

/// The fine-tuned model's card: the old card's name (else the folder's, as a model without a
/// card name is called) and notes, and a threshold of its own. The new head has its own score
/// scale, so its card keeps the old one's promise (as many of the same strangers accepted)
/// rather than its number, and drops what was measured of the old head.
fn tuned_card(old: &Card, out: &Path, threshold: f64, old_threshold: f64, strangers: usize) -> Card {
    let mut card = old.clone();
    card.name = card.name.or_else(|| out.file_name().map(|n| n.to_string_lossy().into_owned()));
    card.threshold = threshold;
    card.identify_threshold = None;
    for k in ["identify_threshold_source", "evaluation"] {
        card.notes.remove(k);
    }
    card.notes.insert(
        "threshold_source".into(),
        format!("fine-tuned head: accepts as many of the {strangers} stranger pairs of its training material as the original head did at {old_threshold}").into(),
    );
    card
}

/// The before/after on LFW (when it was given) and on the held-out pictures.
impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        if let Some(c) = &self.lfw_fold_10 {
            writeln!(
                f,
                "LFW fold 10 ({} pairs never trained on): accuracy {:.1}% -> {:.1}%, same-person pairs accepted {:.1}% -> {:.1}%, different {:.2}% -> {:.2}%",
                c.pairs,
                100.0 * c.before.accuracy,
                100.0 * c.after.accuracy,
                100.0 * c.before.tar,
                100.0 * c.after.tar,
                100.0 * c.before.far,
                100.0 * c.after.far
            )?;
        }
        writeln!(
            f,
            "held-out pictures accepted: {:.1}% -> {:.1}%; other people accepted: {:.2}% -> {:.2}% (threshold {:.4} -> {:.4}); model in {}",
            100.0 * self.before.tar,
            100.0 * self.after.tar,
            100.0 * self.before.far,
            100.0 * self.after.far,
            self.threshold,
            self.threshold_after,
            self.out.display()
        )
    }
}
