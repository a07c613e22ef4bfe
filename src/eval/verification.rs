//! Verification metrics from scores of labelled pairs: accuracy at a threshold and at the best
//! threshold, precision, recall, ROC AUC, equal error rate, and TAR at fixed FARs.
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub pairs: usize,
    pub positives: usize,
    /// The threshold the accuracy, precision and recall below are taken at.
    pub threshold: f64,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    /// The threshold with the best accuracy on these pairs, and that accuracy.
    pub best_threshold: f64,
    pub best_accuracy: f64,
    pub auc: f64,
    pub eer: f64,
    pub tar_at_far_1e2: f64,
    pub tar_at_far_1e3: f64,
}

/// One point of the ROC curve: accepting every score >= `threshold`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RocPoint {
    pub threshold: f64,
    pub far: f64,
    pub tar: f64,
}

/// The ROC curve from the strictest threshold to the loosest, one point per distinct score,
/// starting at (0, 0).
pub fn roc(scores: &[f64], same: &[bool]) -> Vec<RocPoint> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let pos = same.iter().filter(|s| **s).count().max(1) as f64;
    let neg = same.iter().filter(|s| !**s).count().max(1) as f64;
    let mut out = vec![RocPoint { threshold: f64::INFINITY, far: 0.0, tar: 0.0 }];
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut k = 0;
    while k < idx.len() {
        let t = scores[idx[k]];
        while k < idx.len() && scores[idx[k]] == t {
            if same[idx[k]] { tp += 1.0 } else { fp += 1.0 }
            k += 1;
        }
        out.push(RocPoint { threshold: t, far: fp / neg, tar: tp / pos });
    }
    out
}

/// Area under the ROC curve (trapezoids, so ties count one half).
pub fn auc(curve: &[RocPoint]) -> f64 {
    curve.windows(2).map(|w| (w[1].far - w[0].far) * (w[1].tar + w[0].tar) / 2.0).sum()
}

/// The rate where false accepts equal false rejects, interpolated between ROC points.
pub fn eer(curve: &[RocPoint]) -> f64 {
    for w in curve.windows(2) {
        let (a, b) = (w[0], w[1]);
        let (fa, fb) = (a.far - (1.0 - a.tar), b.far - (1.0 - b.tar));
        if fa <= 0.0 && fb >= 0.0 {
            let t = if fb - fa > 0.0 { -fa / (fb - fa) } else { 0.0 };
            return a.far + t * (b.far - a.far);
        }
    }
    1.0
}

/// Highest TAR among thresholds whose FAR does not exceed `far`.
pub fn tar_at_far(curve: &[RocPoint], far: f64) -> f64 {
    curve.iter().filter(|p| p.far <= far).map(|p| p.tar).fold(0.0, f64::max)
}

/// (accuracy, precision, recall) when accepting scores >= `threshold`.
pub fn at_threshold(scores: &[f64], same: &[bool], threshold: f64) -> (f64, f64, f64) {
    let (mut tp, mut fp, mut tn, mut fn_) = (0usize, 0usize, 0usize, 0usize);
    for (s, y) in scores.iter().zip(same) {
        match (*s >= threshold, *y) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, false) => tn += 1,
            (false, true) => fn_ += 1,
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    (ratio(tp + tn, scores.len()), ratio(tp, tp + fp), ratio(tp, tp + fn_))
}

/// The threshold with the highest accuracy: midway between neighbouring distinct scores.
pub fn best_threshold(scores: &[f64], same: &[bool]) -> (f64, f64) {
    let mut sorted: Vec<f64> = scores.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    sorted.dedup();
    let mut candidates = vec![sorted.first().copied().unwrap_or(0.5) - 1e-9];
    candidates.extend(sorted.windows(2).map(|w| (w[0] + w[1]) / 2.0));
    candidates.push(sorted.last().copied().unwrap_or(0.5) + 1e-9);
    candidates
        .into_iter()
        .map(|t| (t, at_threshold(scores, same, t).0))
        .fold((0.5, -1.0), |best, c| if c.1 > best.1 { c } else { best })
}

pub fn report(scores: &[f64], same: &[bool], threshold: f64) -> Report {
    let curve = roc(scores, same);
    let (accuracy, precision, recall) = at_threshold(scores, same, threshold);
    let (best_threshold, best_accuracy) = best_threshold(scores, same);
    Report {
        pairs: scores.len(),
        positives: same.iter().filter(|s| **s).count(),
        threshold,
        accuracy,
        precision,
        recall,
        best_threshold,
        best_accuracy,
        auc: auc(&curve),
        eer: eer(&curve),
        tar_at_far_1e2: tar_at_far(&curve, 1e-2),
        tar_at_far_1e3: tar_at_far(&curve, 1e-3),
    }
}

/// A report with every pair's score and label, which `siamface plot` reads back
/// (`plot::source::read_eval`); the scores are saved as f32.
#[derive(Serialize)]
pub struct PairScores {
    #[serde(flatten)]
    pub report: Report,
    pub model: String,
    #[serde(serialize_with = "as_f32")]
    pub scores: Vec<f64>,
    pub same: Vec<bool>,
}

fn as_f32<S: serde::Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|x| *x as f32))
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(
            f,
            "{} pairs: accuracy {:.1}% at {:.2} (best {:.1}% at {:.3}), precision {:.3}, recall {:.3}, AUC {:.4}, EER {:.1}%, TAR@FAR=1e-2 {:.3}, TAR@FAR=1e-3 {:.3}",
            self.pairs,
            100.0 * self.accuracy,
            self.threshold,
            100.0 * self.best_accuracy,
            self.best_threshold,
            self.precision,
            self.recall,
            self.auc,
            100.0 * self.eer,
            self.tar_at_far_1e2,
            self.tar_at_far_1e3
        )
    }
}

impl std::fmt::Display for PairScores {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        self.report.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Positives scored 0.9, 0.8, 0.4; negatives 0.7, 0.3, 0.2. Of the 9 positive/negative
    // orderings, 8 rank the positive higher (only 0.4 < 0.7), so AUC = 8/9.
    const SCORES: [f64; 6] = [0.9, 0.8, 0.4, 0.7, 0.3, 0.2];
    const SAME: [bool; 6] = [true, true, true, false, false, false];

    #[test]
    fn auc_of_a_known_score_set() {
        assert!((auc(&roc(&SCORES, &SAME)) - 8.0 / 9.0).abs() < 1e-12);
    }

    #[test]
    fn eer_of_a_known_score_set() {
        // At threshold 0.7: FAR 1/3, FRR 1/3 - the curves cross there.
        assert!((eer(&roc(&SCORES, &SAME)) - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn accuracy_precision_recall_at_threshold() {
        // >= 0.5 accepts 0.9, 0.8, 0.7: tp 2, fp 1, tn 2, fn 1.
        let (a, p, r) = at_threshold(&SCORES, &SAME, 0.5);
        assert_eq!((a, p, r), (4.0 / 6.0, 2.0 / 3.0, 2.0 / 3.0));
    }

    #[test]
    fn best_threshold_separates_when_possible() {
        let (t, acc) = best_threshold(&[0.1, 0.2, 0.6, 0.9], &[false, false, true, true]);
        assert_eq!(acc, 1.0);
        assert!(t > 0.2 && t < 0.6);
    }

    #[test]
    fn ties_count_half_in_auc_and_tar_at_far() {
        let curve = roc(&[0.5, 0.5], &[true, false]);
        assert!((auc(&curve) - 0.5).abs() < 1e-12);
        assert_eq!(tar_at_far(&curve, 1e-2), 0.0);
        let perfect = roc(&[0.9, 0.1], &[true, false]);
        assert_eq!((tar_at_far(&perfect, 1e-3), auc(&perfect), eer(&perfect)), (1.0, 1.0, 0.0));
    }
}
