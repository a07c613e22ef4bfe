//! LFW's View 2 protocol: for each of the 10 folds, the threshold is chosen on the other nine
//! folds' pairs and the accuracy measured on the fold; the result is the mean over folds with its
//! standard error.
use serde::Serialize;

use super::verification;

#[derive(Clone, Debug, Serialize)]
pub struct Fold {
    /// 1-based, as LFW numbers them.
    pub fold: usize,
    pub pairs: usize,
    pub threshold: f64,
    pub accuracy: f64,
    pub auc: f64,
    pub eer: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Protocol {
    pub folds: Vec<Fold>,
    pub mean_accuracy: f64,
    /// Standard error of the mean over the folds.
    pub standard_error: f64,
}

/// `scores[f]` and `same[f]` hold fold `f`'s pairs.
pub fn run(scores: &[Vec<f64>], same: &[Vec<bool>]) -> Protocol {
    let folds: Vec<Fold> = (0..scores.len())
        .map(|f| {
            let (mut s, mut y) = (Vec::new(), Vec::new());
            for g in (0..scores.len()).filter(|&g| g != f) {
                s.extend_from_slice(&scores[g]);
                y.extend_from_slice(&same[g]);
            }
            let (threshold, _) = verification::best_threshold(&s, &y);
            let (accuracy, _, _) = verification::at_threshold(&scores[f], &same[f], threshold);
            let curve = verification::roc(&scores[f], &same[f]);
            Fold { fold: f + 1, pairs: scores[f].len(), threshold, accuracy, auc: verification::auc(&curve), eer: verification::eer(&curve) }
        })
        .collect();
    let n = folds.len().max(1) as f64;
    let mean = folds.iter().map(|f| f.accuracy).sum::<f64>() / n;
    let var = folds.iter().map(|f| (f.accuracy - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    Protocol { folds, mean_accuracy: mean, standard_error: (var / n).sqrt() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_comes_from_the_other_folds() {
        // Folds 1 and 2 separate at 0.5; fold 3 would separate at 0.85 but must use the others'
        // threshold, so its positive at 0.4 is missed and its negative at 0.8 falsely accepted.
        let scores = vec![vec![0.9, 0.1], vec![0.7, 0.3], vec![0.9, 0.8, 0.4, 0.2]];
        let same = vec![vec![true, false], vec![true, false], vec![true, false, true, false]];
        let p = run(&scores, &same);
        assert_eq!(p.folds[2].accuracy, 0.5);
        assert!(p.folds[2].threshold > 0.3 && p.folds[2].threshold < 0.7);
        assert_eq!(p.folds[0].accuracy, 1.0);
        let mean = (1.0 + p.folds[1].accuracy + 0.5) / 3.0;
        assert!((p.mean_accuracy - mean).abs() < 1e-12);
    }
}
