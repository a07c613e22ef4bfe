//! Faces in photos and video frames: detection with landmarks, and the one canonical crop that
//! training, the command line and the live app all feed the network.
pub mod align;
pub mod detect;

pub use align::{canonical, to_input, CANONICAL_SIZE};
pub use detect::{Detector, Face};
