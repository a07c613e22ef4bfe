//! Integration tests, built as one binary.
mod browser;
mod common;
mod data;
mod face_inputs;
mod faces;
mod gallery;
mod model_files;
mod shipped_model;
mod server;
mod parity;
mod plots;
mod train_eval;
mod training;
