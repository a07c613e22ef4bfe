//! `siamface train-head`: fine-tune a face model's head on one person's pictures (the app's
//! `anchor/` and `positive/`, collected by the page's buttons or any folder) against other
//! people (`negative/` and, given LFW, people of its training folds), the tower frozen. Writes
//! the model, the history and its curves, and a before/after on held-out pictures.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use rayon::prelude::*;
use serde::Serialize;

use crate::config::Head;
use crate::data::{folder, lfw, photo};
use crate::face::{self, Detector};
use crate::model::{bundled, io, Siamese};
use crate::train::finetune::{self, Check, Material};
use crate::train::head::Pair;
use crate::train::trainer;

#[derive(clap::Args)]
pub struct Args {
    /// Face model to start from; default: the built-in one.
    #[arg(long)]
    model: Option<PathBuf>,
    /// The app's folder: anchor/ and positive/ (the person), optional negative/ (others).
    #[arg(long)]
    app: PathBuf,
    /// LFW folder: people of people.txt folds 1-8 as other people, and pairs.txt folds 1-8 to
    /// keep the head's view of strangers; pairs.txt fold 10 (never trained on) is scored before
    /// and after, to show what fine-tuning on one person costs everyone else.
    #[arg(long)]
    lfw: Option<PathBuf>,
    /// Where the fine-tuned model, history.csv/json and curves.png go.
    #[arg(long)]
    out: PathBuf,
    /// Share of the person's pictures held out for the before/after check.
    #[arg(long, default_value_t = 0.25)]
    holdout: f64,
    /// Passes over the head's training pairs (only the head learns; the tower is fixed).
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Optimiser steps per epoch.
    #[arg(long, default_value_t = 100)]
    steps: usize,
}

#[derive(Serialize)]
struct Report {
    person_pictures: usize,
    held_out: usize,
    other_pictures: usize,
    skipped_without_face: Vec<String>,
    /// The original model's threshold, at which `before` is counted.
    threshold: f64,
    /// The fine-tuned head's threshold (written to its card), at which `after` is counted.
    threshold_after: f64,
    before: Check,
    after: Check,
    /// LFW pairs.txt fold 10 before and after, each at its own threshold (with --lfw).
    #[serde(skip_serializing_if = "Option::is_none")]
    lfw_fold_10: Option<LfwCheck>,
}

/// Verification of LFW pairs the head never saw: before with the original model at its
/// threshold, after with the fine-tuned head at its own.
#[derive(Serialize)]
struct LfwCheck {
    pairs: usize,
    /// Pairs left out because a photo had no detected face.
    skipped: usize,
    before: PairCheck,
    after: PairCheck,
}

#[derive(Serialize)]
struct PairCheck {
    accuracy: f64,
    /// Same-person pairs accepted.
    tar: f64,
    /// Different-person pairs accepted.
    far: f64,
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

/// Embeds photos through the face pipeline; photos without a face are skipped and named.
fn embed(net: &Siamese, det: &Detector, paths: &[PathBuf]) -> anyhow::Result<(Vec<f32>, Vec<String>)> {
    let cfg = net.config().clone();
    let done: Vec<crate::Result<Option<Vec<f32>>>> = paths
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
fn embed_pairs(net: &Siamese, det: &Detector, pairs: &[(PathBuf, PathBuf, bool)]) -> anyhow::Result<(Vec<f32>, Vec<Pair>)> {
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

fn pictures(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    Ok(folder::images_in(dir)?)
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(a.holdout > 0.0 && a.holdout < 1.0, "--holdout: a share between 0 and 1, found {}", a.holdout);
    let (ck, card_text) = match &a.model {
        Some(m) => (io::load(m).with_context(|| format!("loading {}", m.display()))?, std::fs::read_to_string(m.join("card.json")).ok()),
        None => (bundled::face()?, Some(bundled::FACE_CARD.to_string())),
    };
    let card: serde_json::Value = card_text.as_deref().and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
    let threshold = card["threshold"].as_f64().unwrap_or(0.5);
    let net = Siamese::new(ck.config.clone(), ck.params.clone(), 0)?;
    let det = Detector::new()?;
    let mut person = pictures(&a.app.join("anchor"))?;
    person.extend(pictures(&a.app.join("positive"))?);
    anyhow::ensure!(person.len() >= 3, "{}: anchor/ and positive/ hold {} pictures; fine-tuning needs 3 or more (2 to train, 1 to check)", a.app.display(), person.len());
    let mut others = pictures(&a.app.join("negative"))?;
    let mut lfw_pairs = Vec::new();
    if let Some(l) = &a.lfw {
        let people = lfw::people(&l.join("people.txt"))?;
        let root = l.join("images_deepfunneled");
        // One picture each of every 8th person of folds 1-8: a few hundred strangers.
        others.extend(people.iter().take(8).flatten().step_by(8).map(|(n, _)| lfw::Face { name: n.clone(), number: 1 }.path(&root)));
        let pairs = lfw::Pairs::parse(&l.join("pairs.txt"))?;
        lfw_pairs = pairs.folds.iter().take(8).flatten().step_by(4).map(|p| (p.a.path(&root), p.b.path(&root), p.same)).collect();
    }
    anyhow::ensure!(!others.is_empty(), "{}: no pictures of other people: add negative/ or give --lfw", a.app.display());

    let (person_rows, mut skipped) = embed(&net, &det, &person)?;
    let (other_rows, s2) = embed(&net, &det, &others)?;
    skipped.extend(s2);
    let d = net.embedding_len();
    let n = person_rows.len() / d;
    let held = ((n as f64 * a.holdout).round() as usize).clamp(1, n.saturating_sub(2).max(1));
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
    let ((ha, hb), new_threshold, history) = finetune::run(&m, (&a0, b0), a.epochs, a.steps, &old_strangers, threshold)?;
    let after = finetune::check(&m, &ha, hb, new_threshold);
    let mut cfg = ck.config.clone();
    cfg.head = Head::WeightedL1;
    let mut params = crate::model::Params::zeros(&cfg)?;
    for spec in &params.specs.clone()[..nspec - 2] {
        params.data[spec.range()].copy_from_slice(ck.params.get(&spec.name).with_context(|| format!("tensor {}", spec.name))?);
    }
    let (wr, br) = (params.specs[nspec - 2].range(), params.specs[nspec - 1].range());
    params.data[wr].copy_from_slice(&ha);
    params.data[br][0] = hb;
    io::save(&a.out, &cfg, &params, None, None)?;
    // The new head has its own score scale: its card keeps the old one's promise (as many of
    // the same strangers accepted) rather than its number.
    let mut new_card = card.clone();
    if !new_card.is_object() {
        new_card = serde_json::json!({});
    }
    new_card["threshold"] = serde_json::json!(new_threshold);
    new_card["threshold_source"] = serde_json::json!(format!(
        "fine-tuned head: accepts as many of the {} stranger pairs of its training material as the original head did at {threshold}",
        old_strangers.len()
    ));
    if let Some(o) = new_card.as_object_mut() {
        for k in ["identify_threshold", "identify_threshold_source", "evaluation"] {
            o.remove(k);
        }
    }
    std::fs::write(a.out.join("card.json"), serde_json::to_string_pretty(&new_card)?).with_context(|| format!("writing {}", a.out.display()))?;
    trainer::write_history(&a.out, &history)?;
    let lfw_fold_10 = match &a.lfw {
        Some(l) => {
            let pairs = lfw::Pairs::parse(&l.join("pairs.txt"))?;
            let root = l.join("images_deepfunneled");
            let fold = pairs.folds.get(9).context("pairs.txt has no fold 10")?;
            let triples: Vec<(PathBuf, PathBuf, bool)> = fold.iter().map(|p| (p.a.path(&root), p.b.path(&root), p.same)).collect();
            let (rows, kept) = embed_pairs(&net, &det, &triples)?;
            let (mut old, mut new) = (Vec::new(), Vec::new());
            for p in &kept {
                let (u, v) = (&rows[p.a * d..(p.a + 1) * d], &rows[p.b * d..(p.b + 1) * d]);
                old.push((net.score(u, v) as f64, p.same));
                new.push((finetune::score(&ha, hb, u, v), p.same));
            }
            Some(LfwCheck { pairs: old.len(), skipped: fold.len() - old.len(), before: pair_check(&old, threshold), after: pair_check(&new, new_threshold) })
        }
        None => None,
    };
    let report = Report { person_pictures: n - test.len() / d, held_out: test.len() / d, other_pictures: other_rows.len() / d, skipped_without_face: skipped, threshold, threshold_after: new_threshold, before, after, lfw_fold_10 };
    std::fs::write(a.out.join("finetune.json"), serde_json::to_string_pretty(&report)?)?;
    for r in &history {
        println!("epoch {:>3}: loss {:.4}, precision {:.3}, recall {:.3}, held-out acceptance {:.3}", r.epoch, r.loss, r.precision, r.recall, r.val_oneshot);
    }
    if let Some(c) = &report.lfw_fold_10 {
        println!(
            "LFW fold 10 ({} pairs never trained on): accuracy {:.1}% -> {:.1}%, same-person pairs accepted {:.1}% -> {:.1}%, different {:.2}% -> {:.2}%",
            c.pairs,
            100.0 * c.before.accuracy,
            100.0 * c.after.accuracy,
            100.0 * c.before.tar,
            100.0 * c.after.tar,
            100.0 * c.before.far,
            100.0 * c.after.far
        );
    }
    println!(
        "held-out pictures accepted: {:.1}% -> {:.1}%; other people accepted: {:.2}% -> {:.2}% (threshold {threshold:.4} -> {new_threshold:.4}); model in {}",
        100.0 * report.before.tar, 100.0 * report.after.tar, 100.0 * report.before.far, 100.0 * report.after.far, a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
