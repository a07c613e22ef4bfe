//! Training: batches of pairs from an `ImageSet`, the epoch loop with validation, early stopping,
//! checkpoints and resume, the per-epoch history and its picture (drawn by `plot::curves`).
pub mod batch;
pub mod finetune;
pub mod heldout;
pub mod metrics;
pub mod trainer;
pub mod tune;

pub use trainer::{EpochRecord, Init, Progress, TrainConfig, Trainer};
