//! Integration tests, built as one binary.
mod browser;
mod common;
mod data;
mod degenerate;
mod face_inputs;
mod faces;
mod finetune;
mod gallery;
mod model_files;
mod shipped_model;
mod server;
mod parity;
mod resnet;
mod train_eval;
mod training;
