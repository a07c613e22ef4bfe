//! Evaluation: verification metrics over scored pairs, and N-way one-shot accuracy.
pub mod calibrate;
pub mod face_protocol;
pub mod faces;
pub mod history;
pub mod lfw_folds;
pub mod oneshot;
pub mod rule;
pub mod verification;
pub mod video;
pub mod video_fit;
