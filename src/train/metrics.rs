//! Running counts of a training epoch's predictions.
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    pub fn_: u64,
}

impl Confusion {
    /// Counts each pair as predicted "same" when its logit is positive (probability > 0.5).
    pub fn add(&mut self, logits: &[f32], labels: &[f32]) {
        for (z, y) in logits.iter().zip(labels) {
            match (*z > 0.0, *y > 0.5) {
                (true, true) => self.tp += 1,
                (true, false) => self.fp += 1,
                (false, false) => self.tn += 1,
                (false, true) => self.fn_ += 1,
            }
        }
    }

    fn ratio(a: u64, b: u64) -> f64 {
        if b == 0 { 0.0 } else { a as f64 / b as f64 }
    }

    pub fn precision(&self) -> f64 {
        Self::ratio(self.tp, self.tp + self.fp)
    }

    pub fn recall(&self) -> f64 {
        Self::ratio(self.tp, self.tp + self.fn_)
    }

    pub fn accuracy(&self) -> f64 {
        Self::ratio(self.tp + self.tn, self.tp + self.tn + self.fp + self.fn_)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_logits() {
        let mut c = Confusion::default();
        c.add(&[2.0, -1.0, 0.5, -3.0, 0.0], &[1.0, 1.0, 0.0, 0.0, 1.0]);
        assert_eq!(c, Confusion { tp: 1, fp: 1, tn: 1, fn_: 2 });
        assert_eq!((c.precision(), c.recall(), c.accuracy()), (0.5, 1.0 / 3.0, 0.4));
    }
}
