//! The face service: the one place where the model, the face detector and the gallery meet.
//! The command line and the HTTP API both parse what they were given, call one method here, and
//! format its answer, so enrolling, identifying, verifying and comparing behave the same way in
//! both. The model is shared read-only: each call borrows inference buffers from a small pool,
//! which keeps at most `KEPT_SCRATCH` of them between calls so that a burst of requests gives its
//! memory back. A gallery whose embeddings came from another model is re-embedded from its
//! stored crops before any embedding is compared with it.
pub mod card;
pub mod files;
pub mod models;
pub mod stream;
pub mod training;
mod text;

pub use text::Log;

use crate::engine::gemm::Precision;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use image::RgbImage;
use serde::Serialize;

pub use card::Card;

use crate::config::ModelConfig;
use crate::data::photo;
use crate::error::{Error, Result};
use crate::face::{self, Detection, Pick, Pipeline};
use crate::gallery::{self, Enrolment, Location, Matrix, Store};
use crate::model::io::Checkpoint;
use crate::model::{bundled, io, Siamese};

/// Most photos one enrolment takes.
pub const MAX_ENROL_PHOTOS: usize = 32;

/// A photo as handed in: the name errors call it by (file name or path) and its bytes.
pub struct Photo {
    pub name: String,
    pub bytes: Vec<u8>,
}

impl Photo {
    pub fn new(name: impl Into<String>, bytes: Vec<u8>) -> Photo {
        Photo { name: name.into(), bytes }
    }

    pub fn read(path: &Path) -> Result<Photo> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Ok(Photo { name: path.display().to_string(), bytes })
    }

    /// Decoded to RGB, refused (naming the photo) if it is not a whole image within the limits.
    fn decode(&self) -> Result<RgbImage> {
        Ok(photo::decode(&self.bytes).map_err(|reason| Error::data(&self.name, None, reason))?.to_rgb8())
    }
}

/// The model a service sees with: network, detector, card and identity.
pub struct Faces {
    pipe: Pipeline,
    card: Card,
    id: String,
    /// The card's `name`, else the model's folder or file name.
    name: String,
}

/// One face found in a photo for `compare`.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    pub file: String,
    /// x, y, width, height in the photo's pixels.
    #[serde(rename = "box")]
    pub rect: [f32; 4],
    /// Faces in the photo; the largest is used.
    pub faces: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub score: f32,
    pub same: bool,
    pub threshold: f32,
    pub a: Side,
    pub b: Side,
}

/// Which face model a service sees with.
#[derive(Clone, Debug, PartialEq)]
pub enum Model {
    /// The model built into the binary (`model::bundled`): works from any directory.
    BuiltIn,
    /// A model directory (weights, config, card) or a `.safetensors` file.
    Path(PathBuf),
}

impl Model {
    /// `--model` as typed: absent means the built-in model.
    pub fn from_arg(path: Option<PathBuf>) -> Model {
        path.map_or(Model::BuiltIn, Model::Path)
    }

    /// The weights and the card (the default card where the model has none).
    pub fn load(&self) -> Result<(Checkpoint, Card)> {
        match self {
            Model::BuiltIn => Ok((bundled::face()?, bundled::face_card()?)),
            Model::Path(p) => Ok((io::load(p)?, Card::read(p)?)),
        }
    }
}

impl Faces {
    /// Loads `model` with its card; `threshold` replaces the card's thresholds (verification's
    /// and identification's alike). The gallery's embeddings serve either `precision`: bf16's
    /// stay within its rounding of f32's (cosine 0.99999 on real faces).
    pub fn load(model: &Model, threads: usize, threshold: Option<f32>, precision: Precision) -> Result<Faces> {
        let (ck, mut card) = model.load()?;
        // A model without a card name is called by its folder's or file's name, not its path,
        // which would tell API clients where the server keeps its files.
        let name = card.name.clone().unwrap_or_else(|| match model {
            Model::BuiltIn => bundled::FACE_MODEL_NAME.to_string(),
            Model::Path(p) => p.file_name().map_or_else(|| "face model".to_string(), |n| n.to_string_lossy().into_owned()),
        });
        let id = ck.params.fingerprint();
        if let Some(t) = threshold {
            card.set_threshold(t)?;
        }
        Ok(Faces { pipe: Pipeline::new(Siamese::load(ck, threads, precision)?)?, card, id, name })
    }

    /// The card in use (its threshold replaced by the one given to `load`, if any).
    pub fn card(&self) -> &Card {
        &self.card
    }

    /// The model's identity: a fingerprint of its weights.
    pub fn model_id(&self) -> &str {
        &self.id
    }

    pub fn config(&self) -> &ModelConfig {
        self.pipe.config()
    }

    /// The photo-to-embedding pipeline this model sees with.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipe
    }

    /// The model's name (from its card, else its folder or file name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Tower, input and embedding width (`ModelConfig::shape`).
    pub fn shape(&self) -> String {
        self.config().shape()
    }

    fn embed(&self, input: &[u8]) -> Result<Vec<f32>> {
        self.pipe.embed(input)
    }

    /// The largest face of a photo, ready for the network.
    fn one_face(&self, p: &Photo) -> Result<(face::Found, RgbImage)> {
        let img = p.decode()?;
        let found = self.pipe.one_face(&img, Pick::Largest, Path::new(&p.name))?;
        Ok((found, img))
    }

    /// Are the largest faces of two photos the same person? At `threshold`, else the card's.
    pub fn compare(&self, a: &Photo, b: &Photo, threshold: Option<f32>) -> Result<Comparison> {
        let threshold = threshold.map(|t| card::check_unit("threshold", t)).transpose()?.unwrap_or(self.card.same_at());
        let mut sides = Vec::new();
        let mut embeddings = Vec::new();
        for p in [a, b] {
            let (found, _) = self.one_face(p)?;
            embeddings.push(self.embed(&found.input)?);
            sides.push(Side { file: p.name.clone(), rect: found.face.rect, faces: found.faces_in_photo });
        }
        let score = self.pipe.net().score(&embeddings[0], &embeddings[1]);
        let b = sides.pop().expect("two sides");
        let a = sides.pop().expect("two sides");
        Ok(Comparison { score, same: score >= threshold, threshold, a, b })
    }

    /// What the gallery keeps of one face: its crop in the canonical frame (so that another
    /// model can embed it again) and this model's embedding of `input`.
    fn enrolment(&self, img: &RgbImage, face: &face::Face, input: &[u8]) -> Result<Enrolment> {
        self.enrolment_of(&face::canonical(img, face), input)
    }

    /// `enrolment` for a face already in the canonical frame.
    fn enrolment_of(&self, canonical: &RgbImage, input: &[u8]) -> Result<Enrolment> {
        let mut png = Vec::new();
        canonical
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| Error::Internal(format!("encoding a crop: {e}")))?;
        Ok(Enrolment { crop_png: png, embedding: self.embed(input)? })
    }

    /// The crops of `g` embedded by this model, when they were embedded by another one; and the
    /// images whose embedding this model cannot have made (another length, a value that is not
    /// finite: a file edited or damaged behind the program's back) embedded again from their
    /// crops, so one such row does not fail every identification. The matrix in memory makes the
    /// check free while nothing changes. Crops are read one at a time and decoded as uploads
    /// are; one the program could not have stored is refused, naming the image and its person.
    fn sync(&self, g: &mut Store) -> Result<()> {
        let dim = self.config().embedding;
        let rows = if g.model()?.is_some_and(|m| m != self.id) {
            g.image_ids()?
        } else {
            match g.matrix() {
                Ok(m) if m.dim == 0 || m.dim == dim => return Ok(()),
                Ok(_) => g.unusable(dim)?,
                Err(e) => match g.unusable(dim)? {
                    bad if bad.is_empty() => return Err(e),
                    bad => bad,
                },
            }
        };
        let mut fresh = Vec::with_capacity(rows.len());
        for row in rows {
            let img = g.crop(row)?;
            fresh.push((row, self.embed(&face::to_input(&img, self.config()))?));
        }
        g.reembed(&fresh, &self.id)?;
        Ok(())
    }
}

/// Where the service finds its parts.
#[derive(Clone, Debug)]
pub struct Options {
    /// The face model; `None` for the calls that need no model (`people`, `forget`, `rename`).
    pub model: Option<Model>,
    /// The gallery: an SQLite file or a PostgreSQL database.
    pub gallery: Location,
    /// Threads of the model's batch work; 0 means every core.
    pub threads: usize,
    /// Replaces the model card's threshold.
    pub threshold: Option<f32>,
    /// The arithmetic of the model's products.
    pub precision: Precision,
}

/// The model (if opened with one) and the gallery, behind every command and API call.
pub struct FaceService {
    faces: Option<Faces>,
    gallery: Mutex<Store>,
}

/// What `enroll` stored.
#[derive(Clone, Debug, Serialize)]
pub struct Enrolled {
    /// The name as stored (NFC; an existing person's spelling when adding).
    #[serde(rename = "enrolled")]
    pub name: String,
    pub images: usize,
    /// Photos with more than one face, and how many: the largest was enrolled.
    #[serde(skip)]
    pub crowded: Vec<(String, usize)>,
}

/// Who is enrolled (`people`).
#[derive(Clone, Debug, Serialize)]
pub struct People {
    pub people: Vec<Person>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Person {
    pub images: usize,
    pub name: String,
}

/// One face `identify` found.
#[derive(Clone, Debug, Serialize)]
pub struct Named {
    /// `None` when nobody scores at or above the threshold.
    pub name: Option<String>,
    /// The best score, whoever it belongs to.
    pub score: f32,
    /// Who scored it (also when not named); `None` with nobody enrolled.
    pub nearest: Option<String>,
    /// The score that names someone.
    pub threshold: f32,
    #[serde(rename = "box")]
    pub rect: [f32; 4],
}

/// `verify`'s answer, with the two thresholds it used.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    pub verified: bool,
    /// The claimed person's name as stored.
    pub name: String,
    /// Fraction of the enrolment images whose score reached `detection`.
    pub fraction: f32,
    pub scores: Vec<f32>,
    pub detection: f32,
    pub verification: f32,
    #[serde(rename = "box")]
    pub rect: [f32; 4],
}

impl FaceService {
    /// Opens the gallery (checking it) and the model, and re-embeds the gallery's crops if they
    /// were embedded by another model.
    pub fn open(o: &Options) -> Result<FaceService> {
        let faces = o.model.as_ref().map(|m| Faces::load(m, o.threads, o.threshold, o.precision)).transpose()?;
        let mut g = Store::open(&o.gallery)?;
        if let Some(f) = &faces {
            f.sync(&mut g)?;
        }
        Ok(FaceService { faces, gallery: Mutex::new(g) })
    }

    /// The model part; an error for a service opened without one.
    pub fn faces(&self) -> Result<&Faces> {
        self.faces.as_ref().ok_or_else(|| Error::Internal("the face service was opened without a model".into()))
    }

    /// A write that panicked left the gallery whole (every write is one transaction), so a
    /// poisoned lock is taken over rather than propagated.
    fn gallery(&self) -> MutexGuard<'_, Store> {
        self.gallery.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached embeddings, made by this model: re-embedded first if another process wrote
    /// embeddings of another model since.
    fn matrix(&self, f: &Faces) -> Result<Arc<Matrix>> {
        let mut g = self.gallery();
        f.sync(&mut g)?;
        g.matrix()
    }

    /// Enrols `name` from `photos` (with `add`, adds them to someone enrolled). Every photo is
    /// checked before anything is written: one bad photo enrols nothing.
    pub fn enroll(&self, name: &str, photos: &[Photo], add: bool) -> Result<Enrolled> {
        let f = self.faces()?;
        let name = gallery::name::canonical(name)?;
        if photos.is_empty() {
            return Err(Error::input("photo", "enrolment needs at least one photo"));
        }
        if photos.len() > MAX_ENROL_PHOTOS {
            return Err(Error::input("photo", format!("{} photos; one enrolment takes at most {MAX_ENROL_PHOTOS}", photos.len())));
        }
        let mut items = Vec::new();
        let mut crowded = Vec::new();
        for p in photos {
            let (found, img) = f.one_face(p)?;
            if found.faces_in_photo > 1 {
                crowded.push((p.name.clone(), found.faces_in_photo));
            }
            items.push(f.enrolment(&img, &found.face, &found.input)?);
        }
        let stored = self.store(f, &name, &items, add)?;
        Ok(Enrolled { name: stored, images: items.len(), crowded })
    }

    /// Writes one enrolment (the gallery re-embedded first if another model wrote it).
    fn store(&self, f: &Faces, name: &str, items: &[Enrolment], add: bool) -> Result<String> {
        let mut g = self.gallery();
        f.sync(&mut g)?;
        g.enroll(name, items, &f.id, add)
    }

    /// Every face of the photo (at least `face::MIN_FACE_PX` wide) with its best match; `fast`
    /// uses the small detector (live frames, where faces are large).
    pub fn identify(&self, photo: &Photo, threshold: Option<f32>, fast: bool) -> Result<Vec<Named>> {
        let f = self.faces()?;
        let threshold = threshold.map(|t| card::check_unit("threshold", t)).transpose()?.unwrap_or(f.card.naming());
        let img = photo.decode()?;
        let found = f.pipe.detect(&img, if fast { Detection::Live } else { Detection::Photo })?;
        let m = self.matrix(f)?;
        let mut scores = Vec::new();
        let mut out = Vec::new();
        for face in found.into_iter().filter(|x| x.rect[2] >= face::MIN_FACE_PX) {
            let e = f.embed(&face::input_from_photo(&img, &face, f.config()))?;
            check_dim(&m, &e)?;
            let hit = gallery::identify(f.pipe.net(), &m, &e, threshold, &mut scores)?;
            out.push(Named { name: hit.name, score: hit.score, nearest: hit.nearest, threshold, rect: face.rect });
        }
        Ok(out)
    }

    /// Is the largest face of the photo `claimed`? An enrolment image accepts it when its score
    /// reaches `detection` (default: the card's threshold); the claim holds when the accepting
    /// fraction reaches `verification` (default: the card's).
    pub fn verify(&self, photo: &Photo, claimed: &str, detection: Option<f32>, verification: Option<f32>) -> Result<Verdict> {
        let f = self.faces()?;
        let detection = detection.map(|t| card::check_unit("detection", t)).transpose()?.unwrap_or(f.card.same_at());
        let verification = verification.map(|t| card::check_unit("verification", t)).transpose()?.unwrap_or(f.card.fraction());
        let not_enrolled = || Error::not_found(format!("name `{claimed}`"), "is not enrolled");
        let m = self.matrix(f)?;
        let key = gallery::name::key(claimed);
        let name = m.names.iter().find(|n| gallery::name::key(n) == key).cloned().ok_or_else(not_enrolled)?;
        let (found, _) = f.one_face(photo)?;
        let e = f.embed(&found.input)?;
        check_dim(&m, &e)?;
        let scores = m.claim_scores(f.pipe.net(), &name, &e).ok_or_else(not_enrolled)?;
        let (verified, fraction) = gallery::verify_rule(&scores, detection, verification);
        Ok(Verdict { verified, name, fraction, scores, detection, verification, rect: found.face.rect })
    }

    /// `Faces::compare`: needs no gallery.
    pub fn compare(&self, a: &Photo, b: &Photo, threshold: Option<f32>) -> Result<Comparison> {
        self.faces()?.compare(a, b, threshold)
    }

    /// Deletes a person and everything stored for them; returns the name as it was stored.
    pub fn forget(&self, name: &str) -> Result<String> {
        self.gallery().forget(name)
    }

    /// Renames a person; returns (old, new) as stored.
    pub fn rename(&self, old: &str, new: &str) -> Result<(String, String)> {
        self.gallery().rename(old, new)
    }

    /// (name, number of enrolment images), by name.
    pub fn people(&self) -> Result<People> {
        Ok(People { people: self.gallery().people()?.into_iter().map(|(name, images)| Person { images, name }).collect() })
    }
}

/// A query embedding of another length than the gallery's would be scored against the wrong
/// numbers; it means the gallery and model disagree, a fault of the program.
fn check_dim(m: &Matrix, e: &[f32]) -> Result<()> {
    if m.dim != 0 && m.dim != e.len() {
        return Err(Error::Internal(format!("gallery embeddings have {} values, the model's {}", m.dim, e.len())));
    }
    Ok(())
}
