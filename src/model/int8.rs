//! A model's int8 calibration (`int8.json` beside its weights): for each weight matrix, the
//! range of the activations it multiplies, measured on sample images by `Siamese::calibrate`.
//! int8 inference rounds those activations to 256 levels over that range, so the range is a
//! property of the model's weights (it names their fingerprint) and of the images it expects,
//! not of the image at hand.
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::packed::Matrix;
use crate::engine::int8::Quant;
use crate::error::{Error, Result};

pub const FILE: &str = "int8.json";

/// The activation range of one weight matrix's left operand.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// Where the matrix sits in the flat parameters, its depth and width (to check that the
    /// calibration fits the model).
    pub offset: usize,
    pub k: usize,
    pub n: usize,
    /// The range rounded to 256 levels; values outside are clipped.
    pub lo: f32,
    pub hi: f32,
    /// The range observed on the calibration images, for the record.
    pub seen_min: f32,
    pub seen_max: f32,
}

impl Input {
    pub fn quant(&self) -> Quant {
        Quant::covering(self.lo, self.hi)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// `Params::fingerprint` of the weights calibrated.
    pub fingerprint: String,
    /// How many images, and where they came from.
    pub images: usize,
    pub source: String,
    pub inputs: Vec<Input>,
}

impl Calibration {
    /// Reads `int8.json` from the model directory `dir`; `None` when there is none.
    pub fn read(dir: &Path) -> Result<Option<Calibration>> {
        let path = dir.join(FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Calibration::parse(&text, &path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    pub fn parse(text: &str, path: &Path) -> Result<Calibration> {
        let c: Calibration = serde_json::from_str(text).map_err(|e| Error::ModelFile { path: path.to_path_buf(), reason: format!("int8 calibration: {e}") })?;
        if let Some(i) = c.inputs.iter().find(|i| !(i.lo.is_finite() && i.hi.is_finite() && i.lo <= 0.0 && i.hi >= 0.0 && i.hi > i.lo)) {
            return Err(Error::ModelFile { path: path.to_path_buf(), reason: format!("int8 calibration: matrix at {}: range [{}, {}] must be finite, hold 0 and not be empty", i.offset, i.lo, i.hi) });
        }
        Ok(c)
    }

    /// Writes `int8.json` into the model directory `dir` (through a temporary file, so a crash
    /// leaves the previous one).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(FILE);
        let tmp = dir.join(format!("{FILE}.tmp"));
        let text = serde_json::to_string_pretty(self).expect("calibration serialises");
        std::fs::write(&tmp, text + "\n").map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
    }

    /// `Err` unless this calibration was made for weights with `fingerprint` laid out as
    /// `matrices`.
    pub fn check(&self, fingerprint: &str, matrices: &[Matrix]) -> Result<()> {
        let stale = |reason: String| Error::Input { field: "int8 calibration".into(), reason };
        if self.fingerprint != fingerprint {
            return Err(stale(format!("made for weights {}, not these ({fingerprint}): run `siamface calibrate` again", self.fingerprint)));
        }
        let fits = self.inputs.len() == matrices.len() && self.inputs.iter().zip(matrices).all(|(i, m)| (i.offset, i.k, i.n) == (m.offset, m.k, m.n));
        if !fits {
            return Err(stale(format!("{} matrices calibrated, the model has {} laid out otherwise", self.inputs.len(), matrices.len())));
        }
        Ok(())
    }

    /// The quantisation of the matrix at `offset`.
    pub fn quant(&self, offset: usize) -> Option<Quant> {
        self.inputs.iter().find(|i| i.offset == offset).map(Input::quant)
    }
}
