//! The model card (`card.json` beside a model's weights): the two numbers a deployed model is
//! used with, each fitted on held-out people when the model was made. Only these are read; the
//! card's other fields (results, sources) are for people.
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The card's file name in a model directory.
pub const FILE: &str = "card.json";

/// What a model directory without a card is used with: the original app's one half.
pub const DEFAULT: Card = Card { threshold: 0.5, verification: 0.5, identify_threshold: None, video: None };

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
    /// How tracks in a video are named (`service::stream`), fitted on held-out people's
    /// degraded sequences by `eval video`.
    #[serde(default)]
    pub video: Option<VideoRule>,
}

/// The card's `video` section: the track rule.
pub use crate::face::track::Rule as VideoRule;

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
        let v = card.video.unwrap_or(VideoRule { name_at: 0.5, min_weight: 1.0, unknown_weight: 1.0, split_at: 0.5 });
        for (field, v) in [
            ("threshold", card.threshold),
            ("verification", card.verification),
            ("identify_threshold", card.identify_threshold.unwrap_or(0.5)),
            ("video.name_at", v.name_at),
            ("video.split_at", v.split_at),
        ] {
            check_unit(field, v).map_err(|e| Error::data(path, None, e.to_string()))?;
        }
        if !(v.min_weight.is_finite() && v.unknown_weight.is_finite() && v.min_weight > 0.0 && v.unknown_weight >= v.min_weight) {
            return Err(Error::data(path, None, "video: min_weight must be positive and unknown_weight at least min_weight"));
        }
        Ok(card)
    }

    /// The score that names someone in `identify`.
    pub fn naming(&self) -> f32 {
        self.identify_threshold.unwrap_or(self.threshold)
    }
}

/// A score or threshold printed with enough digits to tell it from its neighbours near 1:
/// 0.9866 is not "0.99", and 0.99905 is not "0.999". At least three decimals, and enough to
/// give three significant digits of `1 - v`.
pub fn show(v: f32) -> String {
    format!("{v:.*}", digits(v))
}

/// `v` with as many decimals as `show` gives `like`, so a score and its threshold line up.
pub fn show_like(v: f32, like: f32) -> String {
    format!("{v:.*}", digits(like).max(digits(v).min(7)))
}

/// The decimals `show` uses for `v`.
pub fn digits(v: f32) -> usize {
    let gap = 1.0 - v as f64;
    if !(gap > 0.0) {
        return 3;
    }
    ((-gap.log10()).ceil() as usize + 2).clamp(3, 7)
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
    fn shown_thresholds_near_one_keep_the_digits_that_tell_them_apart() {
        assert_eq!(show(0.5), "0.500");
        assert_eq!(show(0.9866183), "0.9866");
        assert_eq!(show(0.99904665), "0.999047");
        assert_eq!(show(0.998), "0.99800");
        assert_ne!(show(0.988), show(0.9866183));
        assert_eq!(show(1.0), "1.000");
    }

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
