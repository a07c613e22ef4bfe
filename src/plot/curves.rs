//! The training curves, the picture a training run leaves behind: loss; precision and recall;
//! training-pair accuracy and validation one-shot accuracy, per epoch, with the best validation
//! epoch (the one saved as `best/`) marked on all three and the pairs seen in the caption.
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::eval::history::EpochRecord;

use super::source::read_runs;
use super::{Axis, Corner, Entry, Figure, Key, Line, Mark, Panel, Shape, BLUE, GREEN, GREY, ORANGE};

/// The epoch the trainer keeps as best: the first with the highest validation accuracy.
pub fn best_epoch(history: &[EpochRecord]) -> Option<&EpochRecord> {
    history.iter().fold(None, |best: Option<&EpochRecord>, r| match best {
        Some(b) if b.val_oneshot >= r.val_oneshot => Some(b),
        _ => Some(r),
    })
}

fn thousands(n: u64) -> String {
    match n {
        n if n >= 10_000_000 => format!("{:.1}M", n as f64 / 1e6),
        n if n >= 10_000 => format!("{}k", (n as f64 / 1e3).round()),
        n => n.to_string(),
    }
}

/// The curves of the runs at `paths` (run folders or history files): one run's three panels, or
/// several runs side by side. `names` names the runs in order, or none of them.
pub fn of_files(paths: &[PathBuf], names: &[String]) -> Result<Figure> {
    if !names.is_empty() && names.len() != paths.len() {
        return Err(Error::input("--name", format!("given {} times for {} runs: give one per run or none", names.len(), paths.len())));
    }
    match &read_runs(paths, names)?[..] {
        [(name, history)] => figure(history, name),
        runs => compare(runs),
    }
}

/// The three panels of a run's history; `name` heads the caption.
pub fn figure(history: &[EpochRecord], name: &str) -> Result<Figure> {
    let best = best_epoch(history).ok_or_else(|| Error::config("history", format!("{name}: no epochs to draw")))?;
    let first = history.iter().map(|r| r.epoch).min().unwrap_or(1) as f64;
    let last = history.iter().map(|r| r.epoch).max().unwrap_or(1) as f64;
    let x = if last > first { Axis::Linear(first, last) } else { Axis::Linear(first - 0.5, last + 0.5) };
    let pairs = history.iter().map(|r| r.pairs).max().unwrap_or(0);
    let caption = format!(
        "{name}: {} epochs, {} training pairs seen; best validation at epoch {} ({:.1}%, {} pairs)",
        history.len(),
        thousands(pairs),
        best.epoch,
        100.0 * best.val_oneshot,
        thousands(best.pairs)
    );
    // A diverged epoch (NaN loss) is left out of its line rather than stopping the picture.
    let series = |color, f: &dyn Fn(&EpochRecord) -> f64| Line { points: history.iter().map(|r| (r.epoch as f64, f(r))).filter(|p| p.1.is_finite()).collect(), color, dashed: false };
    let best_x = best.epoch as f64;
    let best_entry = Entry { label: format!("best epoch {}", best.epoch), color: GREY, key: Key::Dashed };

    let loss_max = history.iter().map(|r| r.loss).filter(|l| l.is_finite()).fold(0.0, f64::max);
    let mut loss = Panel::new("Loss", "epoch", "binary cross-entropy", x, (0.0, (loss_max * 1.1).max(1e-3)));
    loss.lines.push(series(BLUE, &|r| r.loss));
    loss.legend.push(Entry { label: "training loss".into(), color: BLUE, key: Key::Line });

    let mut pr = Panel::new("Precision and recall", "epoch", "rate on training pairs", x, (0.0, 1.0));
    pr.lines.extend([series(BLUE, &|r| r.precision), series(ORANGE, &|r| r.recall)]);
    pr.legend.extend([Entry { label: "precision".into(), color: BLUE, key: Key::Line }, Entry { label: "recall".into(), color: ORANGE, key: Key::Line }]);
    pr.corners = [Corner::LowerRight, Corner::UpperRight, Corner::LowerLeft, Corner::UpperLeft];

    let mut acc = Panel::new("Accuracy", "epoch", "accuracy", x, (0.0, 1.0));
    acc.lines.extend([series(BLUE, &|r| r.accuracy), series(GREEN, &|r| r.val_oneshot)]);
    acc.marks.push(Mark { at: (best_x, best.val_oneshot), color: GREEN, shape: Shape::Circle });
    acc.legend.extend([
        Entry { label: "training pairs".into(), color: BLUE, key: Key::Line },
        Entry { label: "validation one-shot".into(), color: GREEN, key: Key::Line },
    ]);
    acc.corners = [Corner::LowerRight, Corner::UpperRight, Corner::LowerLeft, Corner::UpperLeft];

    let mut panels = [loss, pr, acc];
    for p in &mut panels {
        p.x_integer = true;
        p.vlines.push((best_x, GREY));
        p.legend.push(best_entry.clone());
    }
    Ok(Figure { caption, panels: panels.into(), size: (1500, 480) })
}

/// Several runs side by side (the same recipe in f32 and bf16, say): training loss and
/// validation one-shot accuracy per epoch, one colour per run, each run's training time in its
/// label so that speed and learning read off one picture.
pub fn compare(runs: &[(String, Vec<EpochRecord>)]) -> Result<Figure> {
    if runs.len() < 2 || runs.len() > super::PALETTE.len() {
        return Err(Error::config("runs", format!("2 to {} runs to compare, not {}", super::PALETTE.len(), runs.len())));
    }
    if let Some((name, _)) = runs.iter().find(|(_, h)| h.is_empty()) {
        return Err(Error::config("history", format!("{name}: no epochs to draw")));
    }
    let epochs = runs.iter().flat_map(|(_, h)| h.iter().map(|r| r.epoch)).collect::<Vec<_>>();
    let (first, last) = (*epochs.iter().min().expect("non-empty") as f64, *epochs.iter().max().expect("non-empty") as f64);
    let x = if last > first { Axis::Linear(first, last) } else { Axis::Linear(first - 0.5, last + 0.5) };
    let loss_max = runs.iter().flat_map(|(_, h)| h.iter().map(|r| r.loss)).filter(|l| l.is_finite()).fold(0.0, f64::max);
    let mut loss = Panel::new("Training loss", "epoch", "binary cross-entropy", x, (0.0, (loss_max * 1.1).max(1e-3)));
    let mut val = Panel::new("Validation one-shot accuracy", "epoch", "accuracy", x, (0.0, 1.0));
    let mut parts = Vec::new();
    for ((name, h), color) in runs.iter().zip(super::PALETTE) {
        let series = |f: &dyn Fn(&EpochRecord) -> f64| Line { points: h.iter().map(|r| (r.epoch as f64, f(r))).filter(|p| p.1.is_finite()).collect(), color, dashed: false };
        let secs = h.iter().map(|r| r.train_seconds).fold(0.0, f64::max);
        let best = best_epoch(h).expect("non-empty");
        let label = format!("{name} ({secs:.0} s)");
        loss.lines.push(series(&|r| r.loss));
        loss.legend.push(Entry { label: label.clone(), color, key: Key::Line });
        val.lines.push(series(&|r| r.val_oneshot));
        val.marks.push(Mark { at: (best.epoch as f64, best.val_oneshot), color, shape: Shape::Circle });
        val.legend.push(Entry { label, color, key: Key::Line });
        parts.push(format!("{name} best {:.1}% at epoch {}", 100.0 * best.val_oneshot, best.epoch));
    }
    val.corners = [Corner::LowerRight, Corner::UpperRight, Corner::LowerLeft, Corner::UpperLeft];
    let mut panels = [loss, val];
    for p in &mut panels {
        p.x_integer = true;
    }
    Ok(Figure { caption: parts.join("; "), panels: panels.into(), size: (1100, 480) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(epoch: usize, val: f64) -> EpochRecord {
        EpochRecord { epoch, loss: 0.5, precision: 0.5, recall: 0.5, accuracy: 0.5, val_oneshot: val, train_seconds: 1.0, pairs: 100 * epoch as u64, images: 0 }
    }

    #[test]
    fn compare_draws_one_line_per_run_and_refuses_a_single_or_empty_run() {
        let a = vec![rec(1, 0.2), rec(2, 0.4)];
        let b = vec![rec(1, 0.3), rec(2, 0.5), rec(3, 0.45)];
        let fig = compare(&[("f32".into(), a.clone()), ("bf16".into(), b)]).unwrap();
        assert_eq!(fig.panels.len(), 2);
        assert_eq!(fig.panels[1].lines.iter().map(|l| l.points.len()).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(fig.panels[1].marks[1].at, (2.0, 0.5));
        assert!(fig.caption.contains("bf16 best 50.0% at epoch 2"), "{}", fig.caption);
        assert!(compare(&[("f32".into(), a.clone())]).is_err());
        assert!(compare(&[("f32".into(), a), ("bf16".into(), Vec::new())]).unwrap_err().to_string().contains("bf16"));
    }

    #[test]
    fn best_epoch_is_the_first_with_the_highest_validation() {
        let h = [rec(1, 0.2), rec(2, 0.6), rec(3, 0.6), rec(4, 0.5)];
        assert_eq!(best_epoch(&h).map(|r| r.epoch), Some(2));
        assert!(best_epoch(&[]).is_none());
    }

    #[test]
    fn an_empty_history_is_refused_and_a_diverged_epoch_left_out_of_its_line() {
        assert!(figure(&[], "run").unwrap_err().to_string().contains("history"));
        let mut r = rec(2, 0.5);
        r.loss = f64::NAN;
        let fig = figure(&[rec(1, 0.4), r], "run").unwrap();
        assert_eq!(fig.panels[0].lines[0].points, vec![(1.0, 0.5)]);
        assert_eq!(fig.panels[2].lines[1].points.len(), 2);
    }
}
