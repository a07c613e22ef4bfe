//! Integration tests, built as one binary.
mod data;
mod faces;
mod model_files;
mod parity;
mod train_eval;
mod training;
