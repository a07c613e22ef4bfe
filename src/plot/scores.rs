//! Genuine and impostor score histograms with the decision threshold drawn: the picture that
//! explains a calibrated threshold, since the false accepts are the impostor bars right of the
//! line and the false rejects the genuine bars left of it. Each class is drawn as its share of its
//! own pairs, so a test set with many more impostors than genuine pairs still shows both.
use crate::error::Result;

use super::roc::rates_at;
use super::source::Scored;
use super::{percent, Axis, Bars, Corner, Entry, Figure, Key, Panel, GREEN, GREY, RED};

/// Per-class shares of the scores in `bins` equal bins over `lo..hi` (the last bin includes `hi`).
pub fn histogram(scores: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<(f64, f64, f64)> {
    let w = (hi - lo) / bins as f64;
    let mut counts = vec![0usize; bins];
    for s in scores {
        let i = (((s - lo) / w).floor().max(0.0) as usize).min(bins - 1);
        counts[i] += 1;
    }
    let n = scores.len().max(1) as f64;
    counts.iter().enumerate().map(|(i, c)| (lo + i as f64 * w, lo + (i + 1) as f64 * w, *c as f64 / n)).collect()
}

pub fn figure(m: &Scored, bins: usize) -> Result<Figure> {
    m.check()?;
    let bins = bins.clamp(2, 1000);
    let lo = m.scores.iter().copied().fold(0.0, f64::min);
    let hi = m.scores.iter().copied().fold(1.0, f64::max);
    let pick = |genuine: bool| m.scores.iter().zip(&m.same).filter(|(_, s)| **s == genuine).map(|(v, _)| *v).collect::<Vec<f64>>();
    let (genuine, impostor) = (pick(true), pick(false));
    let (g, i) = (histogram(&genuine, lo, hi, bins), histogram(&impostor, lo, hi, bins));
    let top = g.iter().chain(&i).map(|b| b.2).fold(0.0, f64::max);
    let mut p = Panel::new("", "score (probability of the same person)", "share of the class's pairs per bin", Axis::Linear(lo, hi), (0.0, top * 1.08));
    p.corners = [Corner::UpperLeft, Corner::UpperRight, Corner::LowerLeft, Corner::LowerRight];
    p.bars.push(Bars { bins: i, color: RED });
    p.bars.push(Bars { bins: g, color: GREEN });
    p.legend.push(Entry { label: format!("genuine pairs ({})", genuine.len()), color: GREEN, key: Key::Bar });
    p.legend.push(Entry { label: format!("impostor pairs ({})", impostor.len()), color: RED, key: Key::Bar });
    if let Some(t) = m.threshold {
        let (far, tar) = rates_at(m, t);
        p.vlines.push((t, GREY));
        p.legend.push(Entry { label: format!("threshold {t:.3}: FAR {}, FRR {}", percent(far), percent(1.0 - tar)), color: GREY, key: Key::Dashed });
    }
    let caption = format!("Scores of {} on {} pairs", m.name, m.scores.len());
    Ok(Figure { caption, panels: vec![p], size: (900, 560) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_shares_sum_to_one_and_the_top_score_lands_in_the_last_bin() {
        let h = histogram(&[0.0, 0.1, 0.5, 1.0], 0.0, 1.0, 4);
        assert_eq!(h.iter().map(|b| b.2).collect::<Vec<_>>(), vec![0.5, 0.0, 0.25, 0.25]);
        assert_eq!((h[3].0, h[3].1), (0.75, 1.0));
    }
}
