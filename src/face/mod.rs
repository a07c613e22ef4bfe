//! Faces in photos and video frames: detection with landmarks, and the one canonical crop that
//! training, the command line and the live app all feed the network.
pub mod align;
pub mod detect;
pub mod pipeline;
pub mod quality;
pub mod shape;
pub mod track;

pub use align::{canonical, input_from_photo, to_input, CANONICAL_SIZE};
pub use detect::{Detector, Face};
pub use pipeline::{Detection, Pick, Pipeline, Sighting};

use std::path::Path;

use image::RgbImage;

use crate::config::ModelConfig;
use crate::data::photo;
use crate::error::Result;

/// Narrowest face accepted, in pixels: below this the crop is mostly interpolation.
pub const MIN_FACE_PX: f32 = 24.0;

/// The face a photo is about, ready for the network.
pub struct Found {
    pub face: Face,
    /// Network input bytes (`height x width x channels`).
    pub input: Vec<u8>,
    /// How many faces the photo holds; with several, the largest is used.
    pub faces_in_photo: usize,
}

/// Finds the largest face of `img` and crops it for `cfg`. `what` names the photo in errors.
pub fn locate(det: &Detector, img: &RgbImage, cfg: &ModelConfig, what: &Path) -> Result<Found> {
    pipeline::chosen(img, &det.detect(img)?, Pick::Largest, cfg, what)
}

/// `photo::open` (EXIF orientation, size limit, any supported format, gray or colour) then
/// `locate`.
pub fn from_file(det: &Detector, path: &Path, cfg: &ModelConfig) -> Result<Found> {
    let img = photo::open(path)?.to_rgb8();
    locate(det, &img, cfg, path)
}
