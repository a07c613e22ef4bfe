//! Integration tests, built as one binary.
mod browser;
mod common;
mod data;
mod face_inputs;
mod faces;
mod gallery;
mod gemm_kernels;
mod model_files;
mod shipped_model;
mod server;
mod parity;
mod train_eval;
mod training;
