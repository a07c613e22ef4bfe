//! The one way from a picture to embeddings: detect (YuNet), pick the face a photo is about,
//! align it into the model's crop, weigh its quality, embed it. The face service, every
//! evaluation, `train-head` and the benches go through here, so a number measured on LFW is the
//! number a user's photo gets.
//!
//! The network is shared read-only: each embedding borrows inference buffers from a small pool,
//! which keeps at most `KEPT_SCRATCH` of them so that a burst of calls gives its memory back.
use std::path::Path;
use std::sync::Mutex;

use image::RgbImage;

use super::quality::Quality;
use super::{align, Detector, Face, Found, MIN_FACE_PX};
use crate::config::ModelConfig;
use crate::error::{Error, Result};
use crate::model::{Scratch, Siamese};

/// Inference buffers kept between calls.
pub const KEPT_SCRATCH: usize = 4;

/// Which face of a photo it is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// The largest: a user's photo of someone.
    Largest,
    /// The one nearest the centre: how LFW labels its photos (the person named is the one in
    /// the middle, whoever else is larger).
    Centre,
}

/// Which detector network looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detection {
    /// The larger network at 640x640: photos, where faces may be small.
    Photo,
    /// The small network at 320x320: live frames, about 6x cheaper.
    Live,
}

/// A face of a frame, aligned and weighed, ready to embed.
pub struct Sighting {
    pub face: Face,
    pub quality: Quality,
    /// Network input bytes (`height x width x channels`).
    pub input: Vec<u8>,
}

pub struct Pipeline {
    net: Siamese,
    det: Detector,
    pool: Mutex<Vec<Scratch>>,
}

/// The face `pick` chooses among `faces` of an image `w` x `h`.
pub fn pick(faces: &[Face], w: u32, h: u32, pick: Pick) -> Option<Face> {
    match pick {
        Pick::Largest => faces.iter().copied().max_by(|a, b| a.area().total_cmp(&b.area())),
        Pick::Centre => {
            let d = |f: &Face| (f.rect[0] + f.rect[2] / 2.0 - w as f32 / 2.0).powi(2) + (f.rect[1] + f.rect[3] / 2.0 - h as f32 / 2.0).powi(2);
            faces.iter().copied().min_by(|a, b| d(a).total_cmp(&d(b)))
        }
    }
}

impl Pipeline {
    pub fn new(net: Siamese) -> Result<Pipeline> {
        Ok(Pipeline { net, det: Detector::new()?, pool: Mutex::new(Vec::new()) })
    }

    pub fn net(&self) -> &Siamese {
        &self.net
    }

    pub fn config(&self) -> &ModelConfig {
        self.net.config()
    }

    pub fn detector(&self) -> &Detector {
        &self.det
    }

    /// The embedding of one network input, on the calling thread, with a pooled buffer.
    pub fn embed(&self, input: &[u8]) -> Result<Vec<f32>> {
        let taken = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut s = taken.unwrap_or_else(|| self.net.scratch());
        let e = self.net.embed_bytes_with(input, &mut s);
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < KEPT_SCRATCH {
            pool.push(s);
        }
        e
    }

    /// Every face of `img`, largest first.
    pub fn detect(&self, img: &RgbImage, d: Detection) -> Result<Vec<Face>> {
        match d {
            Detection::Photo => self.det.detect(img),
            Detection::Live => self.det.detect_fast(img),
        }
    }

    /// Every face of `img` at least `MIN_FACE_PX` wide, largest first, aligned and weighed.
    pub fn sightings(&self, img: &RgbImage, d: Detection) -> Result<Vec<Sighting>> {
        Ok(self.detect(img, d)?.into_iter().filter(|f| f.rect[2] >= MIN_FACE_PX).map(|face| self.sighting(img, face)).collect())
    }

    /// One detected face aligned and weighed.
    pub fn sighting(&self, img: &RgbImage, face: Face) -> Sighting {
        let (input, chip) = align::input_and_chip(img, &face, self.config());
        Sighting { face, quality: align::quality(&face, &chip), input }
    }

    /// The face a photo is about (`pick`), ready for the network; `what` names the photo in
    /// errors (no face, or one too small to judge).
    pub fn one_face(&self, img: &RgbImage, pick: Pick, what: &Path) -> Result<Found> {
        let faces = self.detect(img, Detection::Photo)?;
        chosen(img, &faces, pick, self.config(), what)
    }

    /// `one_face` and its embedding.
    pub fn embed_photo(&self, img: &RgbImage, pick: Pick, what: &Path) -> Result<(Found, Vec<f32>)> {
        let found = self.one_face(img, pick, what)?;
        let e = self.embed(&found.input)?;
        Ok((found, e))
    }
}

/// The picked face of `faces` (found in `img`), refused when there is none or it is too small.
pub fn chosen(img: &RgbImage, faces: &[Face], how: Pick, cfg: &ModelConfig, what: &Path) -> Result<Found> {
    let Some(face) = pick(faces, img.width(), img.height(), how) else {
        return Err(Error::data(what, None, "no face found"));
    };
    if face.rect[2] < MIN_FACE_PX {
        return Err(Error::data(what, None, format!("the face is {:.0} px wide; at least {MIN_FACE_PX:.0} px are needed", face.rect[2])));
    }
    Ok(Found { face, input: align::input_from_photo(img, &face, cfg), faces_in_photo: faces.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, w: f32) -> Face {
        Face { rect: [x, 40.0, w, w], score: 0.9, landmarks: [[0.0; 2]; 5], points: None }
    }

    #[test]
    fn the_centre_pick_takes_the_middle_face_not_the_largest() {
        // A 250x250 photo: a large face at the left edge, a smaller one in the middle.
        let faces = [face(0.0, 120.0), face(95.0, 60.0)];
        assert_eq!(pick(&faces, 250, 250, Pick::Largest).unwrap().rect[0], 0.0);
        assert_eq!(pick(&faces, 250, 250, Pick::Centre).unwrap().rect[0], 95.0);
        assert!(pick(&[], 250, 250, Pick::Centre).is_none());
    }
}
