//! Integration tests, built as one binary.
mod data;
mod face_inputs;
mod faces;
mod gallery;
mod model_files;
mod server;
mod parity;
mod train_eval;
mod training;
