//! The record of one training epoch: what the trainer measured (loss, precision, recall,
//! one-shot validation accuracy) and how far it had come. The trainer writes it
//! (`train::trainer::write_history`) and `plot` draws it; it lives here, below both, so the
//! two do not import each other.
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub loss: f64,
    pub precision: f64,
    pub recall: f64,
    pub accuracy: f64,
    pub val_oneshot: f64,
    /// Cumulative training seconds (validation excluded) and pairs scored so far.
    pub train_seconds: f64,
    pub pairs: u64,
    pub images: u64,
}
