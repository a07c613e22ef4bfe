//! The original app's own loop, on a frozen tower: pictures of one person (anchor/positive) and
//! pictures of other people fine-tune Koch's head, epoch by epoch, with the trainer's history
//! (loss, precision, recall, accuracy) and a before/after on the person's held-out pictures.
//! LFW pairs of other people are kept in the training set so that the head does not forget
//! strangers while it learns one face.
use std::time::Instant;

use serde::Serialize;

use crate::model::head::{self, score, Fit, Pair};
use super::metrics::Confusion;
use super::trainer::EpochRecord;
use crate::error::{Error, Result};

/// Embeddings (`dim` wide, row-major) of the training material.
pub struct Material<'a> {
    pub dim: usize,
    /// The person's pictures used for training.
    pub person: &'a [f32],
    /// The person's held-out pictures.
    pub held_out: &'a [f32],
    /// Other people, one picture each (the app's negatives, LFW people).
    pub others: &'a [f32],
    /// Extra labelled pairs of other people (LFW), as (a, b, same) rows of `pairs_rows`.
    pub pairs_rows: &'a [f32],
    pub pairs: &'a [Pair],
}

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// Held-out pictures of the person accepted against the training pictures (each pair).
    pub tar: f64,
    /// Other people's pictures accepted as the person (each pair).
    pub far: f64,
    pub genuine_pairs: usize,
    pub impostor_pairs: usize,
}

fn rows(m: &[f32], dim: usize) -> usize {
    m.len() / dim
}

/// TAR of held-out vs training pictures and FAR of others vs training pictures at `threshold`,
/// for the weighted-L1 head (`a`, `b`).
pub fn check(m: &Material, a: &[f32], b: f32, threshold: f64) -> Check {
    check_with(m, &|u, v| score(a, b, u, v), threshold)
}

/// `check` for any scoring of two embeddings (the model's own head, whatever it is).
pub fn check_with(m: &Material, score: &dyn Fn(&[f32], &[f32]) -> f64, threshold: f64) -> Check {
    let d = m.dim;
    let (mut g, mut ga, mut i, mut ia) = (0, 0, 0, 0);
    for p in m.person.chunks(d) {
        for q in m.held_out.chunks(d) {
            g += 1;
            ga += (score(p, q) >= threshold) as usize;
        }
        for q in m.others.chunks(d) {
            i += 1;
            ia += (score(p, q) >= threshold) as usize;
        }
    }
    Check { tar: ga as f64 / g.max(1) as f64, far: ia as f64 / i.max(1) as f64, genuine_pairs: g, impostor_pairs: i }
}

/// Fits the head for `epochs` rounds of `steps` full-batch steps from `start`; returns the head,
/// its threshold (`matched_threshold` against the old head's `old` stranger scores at
/// `old_threshold`) and one history record per epoch (`val_oneshot` holds the held-out TAR at
/// that epoch's matched threshold).
pub fn run(m: &Material, start: (&[f32], f32), epochs: usize, steps: usize, old: &[f64], old_threshold: f64) -> Result<((Vec<f32>, f32), f64, Vec<EpochRecord>)> {
    let d = m.dim;
    let (np, no) = (rows(m.person, d), rows(m.others, d));
    if np < 2 || m.held_out.is_empty() || no == 0 {
        return Err(Error::shape(
            "fine-tuning pictures",
            "two or more training pictures of the person, one or more held out, and pictures of other people",
            format!("{np} training, {} held out, {no} others", rows(m.held_out, d)),
        ));
    }
    // One matrix: the person's pictures, then the others', then the LFW pairs' rows.
    let mut all = Vec::with_capacity(m.person.len() + m.others.len() + m.pairs_rows.len());
    all.extend_from_slice(m.person);
    all.extend_from_slice(m.others);
    all.extend_from_slice(m.pairs_rows);
    let mut pairs = Vec::new();
    for i in 0..np {
        for j in i + 1..np {
            pairs.push(Pair { a: i, b: j, same: true });
        }
    }
    let genuine = pairs.len();
    // As many impostor pairs of the person as genuine ones, spread over the others.
    for k in 0..genuine.max(no) {
        pairs.push(Pair { a: k % np, b: np + (k * 7919) % no, same: false });
    }
    pairs.extend(m.pairs.iter().map(|p| Pair { a: np + no + p.a, b: np + no + p.b, same: p.same }));
    let (mut a, mut b) = (start.0.to_vec(), start.1);
    let mut history = Vec::with_capacity(epochs);
    let mut threshold = old_threshold;
    let t0 = Instant::now();
    for epoch in 1..=epochs {
        (a, b) = head::fit(&all, d, &pairs, (&a, b), Fit { steps, ..Fit::default() });
        let mut conf = Confusion::default();
        let mut loss = 0.0;
        for p in &pairs {
            let s = score(&a, b, &all[p.a * d..][..d], &all[p.b * d..][..d]);
            let y = if p.same { 1.0 } else { 0.0 };
            loss -= y * s.max(1e-12).ln() + (1.0 - y) * (1.0 - s).max(1e-12).ln();
            conf.add(&[(s - 0.5) as f32], &[y as f32]);
        }
        threshold = matched_threshold(old, old_threshold, &impostor_scores(m, &|u, v| score(&a, b, u, v)));
        let c = check(m, &a, b, threshold);
        history.push(EpochRecord {
            epoch,
            loss: loss / pairs.len() as f64,
            precision: conf.precision(),
            recall: conf.recall(),
            accuracy: conf.accuracy(),
            val_oneshot: c.tar,
            train_seconds: t0.elapsed().as_secs_f64(),
            pairs: (pairs.len() * steps * epoch) as u64,
            images: rows(&all, d) as u64,
        });
    }
    Ok(((a, b), threshold, history))
}

/// Every impostor pair of the training material (the person's training pictures against the
/// other people's, and the LFW pairs of different people), scored by `score`.
pub fn impostor_scores(m: &Material, score: &dyn Fn(&[f32], &[f32]) -> f64) -> Vec<f64> {
    let d = m.dim;
    let mut out = Vec::new();
    for p in m.person.chunks(d) {
        out.extend(m.others.chunks(d).map(|q| score(p, q)));
    }
    let row = |i: usize| &m.pairs_rows[i * d..(i + 1) * d];
    out.extend(m.pairs.iter().filter(|p| !p.same).map(|p| score(row(p.a), row(p.b))));
    out
}

/// The new head's threshold that accepts as many of the same strangers as the old head did at
/// `old_threshold`: a fine-tuned head has its own score scale, so the card's threshold cannot be
/// carried over as a number. When the old head accepted none of them, the new threshold is just
/// above the highest stranger's new score.
pub fn matched_threshold(old: &[f64], old_threshold: f64, new: &[f64]) -> f64 {
    let accepted = old.iter().filter(|&&s| s >= old_threshold).count();
    let mut sorted = new.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    match sorted.get(accepted) {
        // Accept exactly `accepted` of them: just above the first one to refuse.
        Some(&s) => next_up(s).min(1.0),
        None => old_threshold,
    }
}

fn next_up(x: f64) -> f64 {
    x + (x.abs() * 1e-9).max(1e-12)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matched_threshold_accepts_as_many_strangers_as_before() {
        let old = [0.1, 0.95, 0.99, 0.3];
        let new = [0.2, 0.6, 0.8, 0.4];
        // The old head accepted one stranger (0.99) at 0.98: the new threshold accepts only 0.8.
        let t = matched_threshold(&old, 0.98, &new);
        assert_eq!(new.iter().filter(|&&s| s >= t).count(), 1);
        assert!(t > 0.6 && t <= 0.8 + 1e-6, "{t}");
        // None accepted: just above the highest.
        let t0 = matched_threshold(&old, 0.999, &new);
        assert!(t0 > 0.8 && t0 < 0.81, "{t0}");
        // Everything accepted: the old threshold stands.
        assert_eq!(matched_threshold(&old, 0.0, &new), 0.0);
    }
}
