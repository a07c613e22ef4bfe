//! siamface: one-shot face verification with Koch et al.'s Siamese network, computed on the CPU
//! by a small engine of its own (see `engine`) so that training and inference run at the speed of
//! the mainstream frameworks without their weight.
pub mod bench;
pub mod cli;
pub mod config;
pub mod data;
pub mod engine;
pub mod eval;
pub mod face;
pub mod gallery;
pub mod error;
pub mod model;
pub mod plot;
pub mod rng;
pub mod server;
pub mod service;
pub mod train;

pub use config::{ModelConfig, OptimizerConfig};
pub use error::{Error, Result};
