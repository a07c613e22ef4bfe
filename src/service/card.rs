//! How the model card's numbers meet people: thresholds shown with the digits that tell them
//! apart, and thresholds typed by a person checked. The card itself (reading, checking,
//! writing) is `model::card`'s.
use crate::error::{Error, Result};

pub use crate::model::card::{Card, VideoRule, FILE};

/// A score or threshold printed with enough digits to tell it from its neighbours near 1:
/// 0.9866 is not "0.99", and 0.99905 is not "0.999". At least three decimals, and enough to
/// give three significant digits of `1 - v`.
pub fn show<T: Into<f64> + Copy + std::fmt::Display>(v: T) -> String {
    format!("{v:.*}", digits(v.into()))
}

/// `v` with as many decimals as `show` gives `like`, so a score and its threshold line up.
pub fn show_like(v: f32, like: f32) -> String {
    format!("{v:.*}", digits(like as f64).max(digits(v as f64).min(7)))
}

/// The decimals `show` uses for `v`.
pub fn digits(v: f64) -> usize {
    let gap = 1.0 - v;
    if !(gap > 0.0) {
        return 3;
    }
    ((-gap.log10()).ceil() as usize + 2).clamp(3, 7)
}

pub use crate::model::card::check_unit;

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
