//! Evaluation: verification metrics over scored pairs, and N-way one-shot accuracy.
pub mod oneshot;
pub mod verification;
