//! Integration tests, built as one binary.
mod browser;
mod common;
mod data;
mod face_inputs;
mod faces;
mod gallery;
mod gallery_faults;
mod model_files;
mod shipped_model;
mod server;
mod service;
mod strict_inputs;
mod parity;
mod train_eval;
mod training;
