//! What the pictures are drawn from, read back from the files the tools save: a run's
//! `history.json`, and the pair scores in the JSON of `siamface eval verify --json` (`scores`,
//! `same`) or `siamface eval lfw --json` (the same per fold; the reported fold's pairs, or every
//! fold's when none was chosen).
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::eval::history::EpochRecord;
use crate::eval::verification::PairScores;

/// Scored pairs of one model: the material of a ROC curve and a score histogram.
#[derive(Clone, Debug)]
pub struct Scored {
    pub name: String,
    pub scores: Vec<f64>,
    pub same: Vec<bool>,
    /// The operating threshold to mark, if any.
    pub threshold: Option<f64>,
}

impl Scored {
    /// Both classes present, one label per score, every score a number.
    pub fn check(&self) -> Result<()> {
        if self.scores.len() != self.same.len() {
            return Err(Error::shape(&format!("{}: scores and labels", self.name), format!("{} labels", self.scores.len()), self.same.len()));
        }
        if !self.same.contains(&true) || !self.same.contains(&false) {
            return Err(Error::config("same", format!("{}: a ROC needs genuine and impostor pairs", self.name)));
        }
        if self.scores.iter().any(|s| !s.is_finite()) || self.threshold.is_some_and(|t| !t.is_finite()) {
            return Err(Error::config("scores", format!("{}: a score or the threshold is not a finite number", self.name)));
        }
        Ok(())
    }
}

impl Scored {
    /// `name` and `threshold` where given, in place of the file's.
    pub fn with(self, name: Option<String>, threshold: Option<f64>) -> Scored {
        Scored { name: name.unwrap_or(self.name), threshold: threshold.or(self.threshold), ..self }
    }
}

/// The pairs `siamface eval verify` scored, its threshold marked.
impl From<&PairScores> for Scored {
    fn from(p: &PairScores) -> Scored {
        Scored { name: p.model.clone(), scores: p.scores.clone(), same: p.same.clone(), threshold: Some(p.report.threshold) }
    }
}

/// Each run folder or history file with its name: `names[i]` where given, else the run folder's.
pub fn read_runs(paths: &[PathBuf], names: &[String]) -> Result<Vec<(String, Vec<EpochRecord>)>> {
    let mut runs = Vec::new();
    for (i, run) in paths.iter().enumerate() {
        let history = read_history(run)?;
        let dir = if run.is_dir() { run.clone() } else { run.parent().map(PathBuf::from).unwrap_or_default() };
        let name = names.get(i).cloned().unwrap_or_else(|| dir.file_name().map_or_else(|| run.display().to_string(), |n| n.to_string_lossy().into_owned()));
        runs.push((name, history));
    }
    Ok(runs)
}

/// A run folder (its `history.json`) or a `history.json` file.
pub fn read_history(path: &Path) -> Result<Vec<EpochRecord>> {
    let file: PathBuf = if path.is_dir() { path.join("history.json") } else { path.to_path_buf() };
    let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
    serde_json::from_str(&text).map_err(|e| Error::data(&file, Some(e.line()), format!("not a training history: {e}")))
}

fn numbers(path: &Path, field: &str, v: &Value) -> Result<Vec<f64>> {
    let bad = || Error::data(path, None, format!("`{field}` must be an array of numbers"));
    v.as_array().ok_or_else(bad)?.iter().map(|x| x.as_f64().ok_or_else(bad)).collect()
}

fn flags(path: &Path, field: &str, v: &Value) -> Result<Vec<bool>> {
    let bad = || Error::data(path, None, format!("`{field}` must be an array of true/false"));
    v.as_array().ok_or_else(bad)?.iter().map(|x| x.as_bool().ok_or_else(bad)).collect()
}

/// The scored pairs in a saved evaluation; named after its `model` field, else the file.
pub fn read_eval(path: &Path) -> Result<Scored> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| Error::data(path, Some(e.line()), format!("not JSON: {e}")))?;
    let (Some(scores), Some(same)) = (v.get("scores"), v.get("same")) else {
        return Err(Error::data(path, None, "no `scores` and `same`: not the JSON of `siamface eval verify --json` or `eval lfw --json` (files written before they kept the scores need the evaluation run again)"));
    };
    let (scores, same) = match scores.as_array().and_then(|a| a.first()).map(Value::is_array) {
        Some(true) => {
            let folds = scores.as_array().map_or(0, Vec::len);
            let same_folds = same.as_array().map_or(0, Vec::len);
            if folds != same_folds {
                return Err(Error::data(path, None, format!("`scores` has {folds} folds but `same` has {same_folds}")));
            }
            let chosen = match v.get("fold").and_then(Value::as_u64) {
                Some(f) if f == 0 || f as usize > folds => return Err(Error::data(path, None, format!("`fold` {f} is not one of the {folds} folds"))),
                Some(f) => vec![f as usize - 1],
                None => (0..folds).collect(),
            };
            let (mut s, mut y) = (Vec::new(), Vec::new());
            for f in chosen {
                s.extend(numbers(path, &format!("scores[{f}]"), &scores[f])?);
                y.extend(flags(path, &format!("same[{f}]"), &same[f])?);
            }
            (s, y)
        }
        _ => (numbers(path, "scores", scores)?, flags(path, "same", same)?),
    };
    if scores.len() != same.len() {
        return Err(Error::data(path, None, format!("{} scores but {} `same` labels", scores.len(), same.len())));
    }
    let name = v.get("model").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| path.file_stem().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned()));
    let threshold = v.get("threshold").and_then(Value::as_f64);
    Ok(Scored { name, scores, same, threshold })
}
