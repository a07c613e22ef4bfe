//! ROC curves on a logarithmic false-accept axis (1e-5 to 1), where the rates a deployment runs
//! at (1e-4 to 1e-2) get as much room as the rest; each model's equal error rate and operating
//! threshold are marked and their values given in the legend. Several models share one picture.
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::eval::verification;

use super::source::{read_eval, Scored};
use super::{percent, Axis, Corner, Entry, Figure, Key, Line, Mark, Panel, Shape, PALETTE};

pub const FAR_MIN: f64 = 1e-5;

/// False-accept and true-accept rates when accepting scores >= `threshold`.
pub fn rates_at(m: &Scored, threshold: f64) -> (f64, f64) {
    let (mut fa, mut ta, mut neg, mut pos) = (0usize, 0usize, 0usize, 0usize);
    for (s, same) in m.scores.iter().zip(&m.same) {
        let accepted = *s >= threshold;
        if *same {
            pos += 1;
            ta += accepted as usize;
        } else {
            neg += 1;
            fa += accepted as usize;
        }
    }
    (fa as f64 / neg.max(1) as f64, ta as f64 / pos.max(1) as f64)
}

/// The drawn curve: ROC points with a measured false-accept rate. Below one impostor pair in
/// `negatives` nothing is measured, so the curve starts at 1/negatives with the true-accept rate
/// reachable with no false accept at all.
pub fn drawn_points(curve: &[verification::RocPoint], negatives: usize) -> Vec<(f64, f64)> {
    let floor = 1.0 / negatives.max(1) as f64;
    let zero_tar = curve.iter().filter(|p| p.far == 0.0).map(|p| p.tar).fold(0.0, f64::max);
    let mut out = vec![(floor.max(FAR_MIN), zero_tar)];
    out.extend(curve.iter().filter(|p| p.far > 0.0).map(|p| (p.far.max(FAR_MIN), p.tar)));
    out
}

/// The saved evaluations at `paths` on one picture, named by `labels` in order (else each by its
/// file's `model`), each marked at `threshold` (else at its file's).
pub fn of_files(paths: &[PathBuf], labels: &[String], threshold: Option<f64>) -> Result<Figure> {
    if !labels.is_empty() && labels.len() != paths.len() {
        return Err(Error::input("--label", format!("given {} times for {} files: give one per file or none", labels.len(), paths.len())));
    }
    let models = paths.iter().enumerate().map(|(k, path)| Ok(read_eval(path)?.with(labels.get(k).cloned(), threshold))).collect::<Result<Vec<_>>>()?;
    figure(&models)
}

pub fn figure(models: &[Scored]) -> Result<Figure> {
    if models.is_empty() {
        return Err(Error::config("models", "no evaluation to draw"));
    }
    let mut p = Panel::new("", "false accept rate (impostor pairs accepted, log scale)", "true accept rate (genuine pairs accepted)", Axis::Log(FAR_MIN, 1.0), (0.0, 1.0));
    p.corners = [Corner::LowerRight, Corner::UpperLeft, Corner::LowerLeft, Corner::UpperRight];
    let mut least_negatives = usize::MAX;
    for (k, m) in models.iter().enumerate() {
        m.check()?;
        let color = PALETTE[k % PALETTE.len()];
        let curve = verification::roc(&m.scores, &m.same);
        let negatives = m.same.iter().filter(|s| !**s).count();
        least_negatives = least_negatives.min(negatives);
        let (auc, eer) = (verification::auc(&curve), verification::eer(&curve));
        p.lines.push(Line { points: drawn_points(&curve, negatives), color, dashed: false });
        p.legend.push(Entry { label: format!("{}: AUC {:.3}", m.name, auc), color, key: Key::Line });
        p.marks.push(Mark { at: (eer.max(FAR_MIN), 1.0 - eer), color, shape: Shape::Circle });
        p.legend.push(Entry { label: format!("equal error rate {}", percent(eer)), color, key: Key::Marker(Shape::Circle) });
        if let Some(t) = m.threshold {
            let (far, tar) = rates_at(m, t);
            p.marks.push(Mark { at: (far.max(FAR_MIN), tar), color, shape: Shape::Square });
            p.legend.push(Entry { label: format!("threshold {t:.3}: FAR {}, TAR {}", percent(far), percent(tar)), color, key: Key::Marker(Shape::Square) });
        }
    }
    let caption = match models {
        [m] => format!("ROC of {} on {} pairs ({} impostor)", m.name, m.scores.len(), least_negatives),
        _ => format!("ROC of {} models (fewest impostor pairs: {})", models.len(), least_negatives),
    };
    Ok(Figure { caption, panels: vec![p], size: (900, 640) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored() -> Scored {
        // Genuine 0.9, 0.8, 0.4; impostor 0.7, 0.3, 0.2.
        Scored { name: "m".into(), scores: vec![0.9, 0.8, 0.4, 0.7, 0.3, 0.2], same: vec![true, true, true, false, false, false], threshold: Some(0.5) }
    }

    #[test]
    fn rates_at_a_threshold_count_accepted_pairs_per_class() {
        // At 0.5: impostor 0.7 accepted (1 of 3), genuine 0.9 and 0.8 accepted (2 of 3).
        assert_eq!(rates_at(&scored(), 0.5), (1.0 / 3.0, 2.0 / 3.0));
    }

    #[test]
    fn drawn_curve_starts_at_one_impostor_with_the_zero_false_accept_rate() {
        let m = scored();
        let pts = drawn_points(&verification::roc(&m.scores, &m.same), 3);
        // With no false accept, 0.9 and 0.8 pass: TAR 2/3 at FAR 1/3.
        assert_eq!(pts[0], (1.0 / 3.0, 2.0 / 3.0));
        assert!(pts.iter().all(|&(far, _)| far >= FAR_MIN));
        assert_eq!(*pts.last().unwrap(), (1.0, 1.0));
    }
}
