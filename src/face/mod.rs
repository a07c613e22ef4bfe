//! Faces in photos and video frames: detection with landmarks, and the one canonical crop that
//! training, the command line and the live app all feed the network.
pub mod align;
pub mod detect;
pub mod shape;

pub use align::{canonical, input_from_photo, to_input, CANONICAL_SIZE};
pub use detect::{Detector, Face};

use std::path::Path;

use image::RgbImage;

use crate::config::ModelConfig;
use crate::data::photo;
use crate::error::{Error, Result};

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
    let faces = det.detect(img)?;
    let Some(face) = faces.first().copied() else {
        return Err(Error::data(what, None, "no face found"));
    };
    if face.rect[2] < MIN_FACE_PX {
        return Err(Error::data(
            what,
            None,
            format!("the face is {:.0} px wide; at least {MIN_FACE_PX:.0} px are needed", face.rect[2]),
        ));
    }
    Ok(Found { face, input: align::input_from_photo(img, &face, cfg), faces_in_photo: faces.len() })
}

/// `photo::open` (EXIF orientation, size limit, any supported format, gray or colour) then
/// `locate`.
pub fn from_file(det: &Detector, path: &Path, cfg: &ModelConfig) -> Result<Found> {
    let img = photo::open(path)?.to_rgb8();
    locate(det, &img, cfg, path)
}
