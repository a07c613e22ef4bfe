//! The model card (`card.json` beside a model's weights): the two numbers a deployed model is
//! used with, each fitted on held-out people when the model was made. Only these are read; the
//! card's other fields (results, sources) are for people.
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The card's file name in a model directory.
pub const FILE: &str = "card.json";

/// What a model directory without a card is used with: the original app's one half.
pub const DEFAULT: Card = Card { threshold: 0.5, verification: 0.5, identify_threshold: None };

#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
pub struct Card {
    /// Lowest score that names someone, and the per-image score at which an enrolment image
    /// accepts a face in verification.
    #[serde(default = "half")]
    pub threshold: f32,
    /// Fraction of a claimed person's enrolment images that must accept the face.
    #[serde(default = "half")]
    pub verification: f32,
    /// Lowest score that names someone in `identify`, when it differs from `threshold`: naming
    /// one of G enrolled people risks G false accepts where verifying a claim risks one, so
    /// it is calibrated at a lower false-accept rate.
    #[serde(default)]
    pub identify_threshold: Option<f32>,
}

/// The `name` a card's text gives its model, if any.
pub fn name(card_text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(card_text).ok()?;
    v["name"].as_str().map(str::to_string)
}

fn half() -> f32 {
    0.5
}

impl Card {
    /// The card of the model at `model` (a directory, or a `.safetensors` file, which has no
    /// card); `DEFAULT` when there is none. A card that is not JSON or holds numbers outside
    /// [0, 1] is refused, naming the file and field.
    pub fn read(model: &Path) -> Result<Card> {
        let path = model.join(FILE);
        if !model.is_dir() || !path.exists() {
            return Ok(DEFAULT);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        Card::parse(&text, &path)
    }

    /// A card's text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Card> {
        let card: Card = serde_json::from_str(text).map_err(|e| Error::data(path, Some(e.line()), e.to_string()))?;
        for (field, v) in [("threshold", card.threshold), ("verification", card.verification), ("identify_threshold", card.identify_threshold.unwrap_or(0.5))] {
            check_unit(field, v).map_err(|e| Error::data(path, None, e.to_string()))?;
        }
        Ok(card)
    }

    /// The score that names someone in `identify`.
    pub fn naming(&self) -> f32 {
        self.identify_threshold.unwrap_or(self.threshold)
    }
}

/// A threshold or fraction: a finite number from 0 to 1.
pub fn check_unit(field: &str, v: f32) -> Result<f32> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(Error::input(field, format!("expected a number from 0 to 1, found {v}")))
    }
}

/// Parses a threshold or fraction typed by a person (form field or command line).
pub fn parse_unit(field: &str, text: &str) -> Result<f32> {
    let v: f32 = text.trim().parse().map_err(|_| Error::input(field, format!("expected a number from 0 to 1, found {text:?}")))?;
    check_unit(field, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_outside_the_unit_interval_or_not_numbers_are_refused() {
        for bad in ["abc", "NaN", "nan", "-5", "1.01", "inf", "-inf", "", "0.5x"] {
            let e = parse_unit("threshold", bad).expect_err(bad).to_string();
            assert!(e.starts_with("threshold: "), "{e}");
        }
        for (text, v) in [("0", 0.0), ("1", 1.0), (" 0.25 ", 0.25)] {
            assert_eq!(parse_unit("threshold", text).unwrap(), v);
        }
    }
}
