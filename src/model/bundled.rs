//! The face model built into the binary, so an installed `siamface` works from any directory
//! with no files beside it; `--model` still chooses another. The detector networks are built in
//! the same way (`face::detect`).
use std::path::Path;

use super::card::Card;
use super::io::{self, Checkpoint};
use crate::error::Result;

/// `models/face/model.safetensors` at build time.
pub const FACE_MODEL: &[u8] = include_bytes!("../../models/face/model.safetensors");
/// `models/face/card.json` at build time: thresholds and how they were calibrated.
pub const FACE_CARD: &str = include_str!("../../models/face/card.json");

/// `models/face/int8.json` at build time: the activation ranges for `--precision int8`.
pub const FACE_INT8: &str = include_str!("../../models/face/int8.json");

/// How errors and `--version` name the built-in model.
pub const FACE_MODEL_NAME: &str = "built-in face model (models/face)";

pub fn face() -> Result<Checkpoint> {
    let mut ck = io::parse(FACE_MODEL, Path::new(FACE_MODEL_NAME))?;
    ck.int8 = Some(super::int8::Calibration::parse(FACE_INT8, Path::new("built-in face model's int8.json")));
    Ok(ck)
}

/// The built-in model's card.
pub fn face_card() -> Result<Card> {
    Card::parse(FACE_CARD, Path::new(FACE_MODEL_NAME))
}

/// One line naming the built-in model: its name, tower, embedding width and the fingerprint the
/// gallery records with every embedding (so a user can tell which model made one).
pub fn describe() -> Result<String> {
    let ck = face()?;
    let name = face_card()?.name.unwrap_or_else(|| "face model".to_string());
    Ok(format!("{name} ({}), fingerprint {}", ck.config.shape(), ck.params.fingerprint()))
}
