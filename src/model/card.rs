//! The model card (`card.json` beside a model's weights): the model's name and the numbers a
//! deployed model is used with, each fitted on held-out people when the model was made. The
//! card's other fields (how each number was fitted, evaluations) are for people: they are kept
//! as written and written back unchanged, so a tool that changes one number leaves the rest.
//!
//! Every reader and writer of a card goes through `Card`: `read`/`parse` refuse numbers outside
//! [0, 1] and an empty name, naming the file and field; `write` checks the same before it
//! writes and refuses a card without a name.
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The card's file name in a model directory.
pub const FILE: &str = "card.json";

/// A card as written. The thresholds keep the precision they were written with (`f64`): a
/// tool that reads a card and writes it back changes no digit it did not mean to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Card {
    /// What people call the model (the service's model name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Lowest score that names someone, and the per-image score at which an enrolment image
    /// accepts a face in verification.
    #[serde(default = "half")]
    pub threshold: f64,
    /// Fraction of a claimed person's enrolment images that must accept the face.
    #[serde(default = "half")]
    pub verification: f64,
    /// Lowest score that names someone in `identify`, when it differs from `threshold`: naming
    /// one of G enrolled people risks G false accepts where verifying a claim risks one, so
    /// it is calibrated at a lower false-accept rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identify_threshold: Option<f64>,
    /// How tracks in a video are named (`service::stream`), fitted on held-out people's
    /// degraded sequences by `eval video`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<VideoRule>,
    /// Everything else on the card (sources, evaluations), for people; kept as written.
    #[serde(flatten)]
    pub notes: Map<String, Value>,
}

/// When evidence names a track in a video (scores are the model's, from 0 to 1): the card's
/// `video` section. The tracker (`face::track`) is named by it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct VideoRule {
    /// Lowest score of the pooled embedding that names someone.
    pub name_at: f32,
    /// Quality weight the pool needs before it names anyone.
    pub min_weight: f32,
    /// Quality weight after which a track nobody matches is `unknown`.
    pub unknown_weight: f32,
    /// Score under which a new embedding is someone else than its track's pool (the boxes of
    /// two faces swapped): the track is split.
    pub split_at: f32,
}

fn half() -> f64 {
    0.5
}

impl Default for Card {
    /// What a model directory without a card is used with: the original app's one half.
    fn default() -> Card {
        Card { name: None, threshold: 0.5, verification: 0.5, identify_threshold: None, video: None, notes: Map::new() }
    }
}

impl Card {
    /// The card of the model at `model` (a directory, or a `.safetensors` file, which has no
    /// card); the default card when there is none. A card that is not JSON, holds numbers
    /// outside [0, 1] or an empty name is refused, naming the file and field.
    pub fn read(model: &Path) -> Result<Card> {
        let path = model.join(FILE);
        if !model.is_dir() || !path.exists() {
            return Ok(Card::default());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        Card::parse(&text, &path)
    }

    /// A card's text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Card> {
        let card: Card = serde_json::from_str(text).map_err(|e| Error::data(path, Some(e.line()), e.to_string()))?;
        card.check().map_err(|e| Error::data(path, None, e.to_string()))?;
        Ok(card)
    }

    /// Writes the card as `card.json` in the model directory `dir`, keys in order, after the
    /// checks `read` makes and one more: a written card names its model.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(FILE);
        self.check().map_err(|e| Error::data(&path, None, e.to_string()))?;
        if self.name.is_none() {
            return Err(Error::data(&path, None, "name: a written card names its model"));
        }
        // Through a `Value`, whose map keeps its keys sorted: the file reads the same whichever
        // tool wrote it.
        let v = serde_json::to_value(self).map_err(|e| Error::Internal(format!("card: {e}")))?;
        let text = serde_json::to_string_pretty(&v).map_err(|e| Error::Internal(format!("card: {e}")))? + "\n";
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
    }

    fn check(&self) -> Result<()> {
        if self.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(Error::input("name", "expected the model's name, found an empty text"));
        }
        let v = self.video.unwrap_or(VideoRule { name_at: 0.5, min_weight: 1.0, unknown_weight: 1.0, split_at: 0.5 });
        for (field, x) in [
            ("threshold", self.threshold),
            ("verification", self.verification),
            ("identify_threshold", self.identify_threshold.unwrap_or(0.5)),
            ("video.name_at", v.name_at as f64),
            ("video.split_at", v.split_at as f64),
        ] {
            check_unit(field, x)?;
        }
        if !(v.min_weight.is_finite() && v.unknown_weight.is_finite() && v.min_weight > 0.0 && v.unknown_weight >= v.min_weight) {
            return Err(Error::input("video", "min_weight must be positive and unknown_weight at least min_weight"));
        }
        Ok(())
    }

    /// The score at or above which two faces are the same person (verification, compare).
    pub fn same_at(&self) -> f32 {
        self.threshold as f32
    }

    /// The score that names someone in `identify`.
    pub fn naming(&self) -> f32 {
        self.identify_threshold.unwrap_or(self.threshold) as f32
    }

    /// The fraction of a claimed person's enrolment images that must accept the face.
    pub fn fraction(&self) -> f32 {
        self.verification as f32
    }

    /// Replaces the thresholds with one the user chose, for verification and identification
    /// alike.
    pub fn set_threshold(&mut self, t: f32) -> Result<()> {
        self.threshold = check_unit("threshold", t)? as f64;
        self.identify_threshold = None;
        Ok(())
    }
}

/// A threshold or fraction: a finite number from 0 to 1.
pub fn check_unit<T: Into<f64> + Copy + std::fmt::Display>(field: &str, v: T) -> Result<T> {
    let x: f64 = v.into();
    if x.is_finite() && (0.0..=1.0).contains(&x) {
        Ok(v)
    } else {
        Err(Error::input(field, format!("expected a number from 0 to 1, found {v}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("siamface-card-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn card_written_and_read_back_keeps_every_field_and_digit() {
        let text = r#"{"name": "m", "threshold": 0.9825203360305644, "verification": 0.5, "evaluation": {"auc": 0.99}, "threshold_source": "fold 9"}"#;
        let card = Card::parse(text, Path::new("card.json")).unwrap();
        let dir = tmp("roundtrip");
        card.write(&dir).unwrap();
        let back = Card::read(&dir).unwrap();
        assert_eq!(back, card);
        assert_eq!(back.threshold, 0.9825203360305644);
        let written: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(FILE)).unwrap()).unwrap();
        assert_eq!(written["evaluation"]["auc"].as_f64(), Some(0.99));
        assert_eq!(written["threshold_source"].as_str(), Some("fold 9"));
        assert!(written.get("identify_threshold").is_none() && written.get("video").is_none(), "{written}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn card_with_a_number_outside_the_unit_interval_or_an_empty_name_is_refused() {
        for bad in [r#"{"threshold": 1.5}"#, r#"{"verification": -0.1}"#, r#"{"identify_threshold": 2}"#, r#"{"name": " "}"#, r#"{"name": 3}"#] {
            let e = Card::parse(bad, Path::new("m/card.json")).expect_err(bad).to_string();
            assert!(e.contains("m/card.json"), "{e}");
        }
        let bad = Card { threshold: f64::NAN, name: Some("m".into()), ..Card::default() };
        let dir = tmp("refused");
        assert!(bad.write(&dir).is_err());
        assert!(Card::default().write(&dir).is_err(), "a written card names its model");
        assert!(!dir.join(FILE).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
