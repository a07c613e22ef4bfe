//! Model files the commands write: a model's int8 activation ranges measured on sample photos
//! (`siamface calibrate`) and written beside its weights, so that `--precision int8` can run it;
//! and a pretrained network read from another tool's file (`siamface import`) into a model
//! directory, so that it runs under our engine and head.
use std::fmt::{self, Display, Formatter};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::eval::faces::{sample_inputs, Align};
use crate::face::Detector;
use crate::model::dlib::{self, Metric};
use crate::model::int8::{Calibration, FILE};
use crate::model::{io, Siamese};

/// What `calibrate` wrote, and from how many photos.
pub struct Calibrated {
    /// The `int8.json` written.
    pub file: PathBuf,
    pub calibration: Calibration,
    /// Photos whose face was measured, and photos skipped for having none.
    pub used: usize,
    pub skipped: usize,
}

/// Measures the model in the directory `model` on up to `count` photos of `images` (cropped as
/// `align` says) and writes the ranges into it as `int8.json`.
pub fn calibrate(model: &Path, images: &Path, count: usize, align: Align, threads: usize) -> Result<Calibrated> {
    if !model.is_dir() {
        return Err(Error::input(model.display().to_string(), "--model must be a model directory, where int8.json is written"));
    }
    let ck = io::load(model)?;
    let mut net = Siamese::new(ck.config, ck.params, threads)?;
    let (inputs, used, skipped) = sample_inputs(&net, &Detector::new()?, images, count, align)?;
    if used == 0 {
        return Err(Error::data(images, None, format!("no face found in the {skipped} photos picked")));
    }
    let source = format!("{used} photos of {} ({align:?} crops)", images.display()).to_lowercase();
    let calibration = net.calibrate(&inputs, &source)?;
    calibration.write(model)?;
    Ok(Calibrated { file: model.join(FILE), calibration, used, skipped })
}

/// A line for the file, then one per weight matrix: the range kept of the range seen.
impl Display for Calibrated {
    fn fmt(&self, f: &mut Formatter) -> fmt::Result {
        let (c, used) = (&self.calibration, self.used);
        writeln!(f, "{}: int8 ranges of {} weight matrices from {used} photos ({} without a face skipped)", self.file.display(), c.inputs.len(), self.skipped)?;
        for (i, r) in c.inputs.iter().enumerate() {
            writeln!(f, "  matrix {i:>2} ({}x{}): range [{:.4}, {:.4}] of seen [{:.4}, {:.4}]", r.k, r.n, r.lo, r.hi, r.seen_min, r.seen_max)?;
        }
        Ok(())
    }
}

/// What `import_dlib` converted.
pub struct Imported {
    pub file: PathBuf,
    pub out: PathBuf,
    pub tensors: usize,
    pub parameters: usize,
    /// dlib's metric: its margin, and the distance threshold the written head decides at.
    pub metric: Metric,
}

/// dlib's face ResNet from its `.dat` `file` into the model directory `out`, with a head that
/// decides at dlib's own distance threshold.
pub fn import_dlib(file: &Path, out: &Path) -> Result<Imported> {
    let (cfg, mut params, metric) = dlib::read(file)?;
    dlib::set_distance_head(&mut params, metric.distance_threshold);
    io::save(out, &cfg, &params, None, None)?;
    Ok(Imported { file: file.to_path_buf(), out: out.to_path_buf(), tensors: params.specs.len(), parameters: params.data.len(), metric })
}

impl Display for Imported {
    fn fmt(&self, f: &mut Formatter) -> fmt::Result {
        let m = &self.metric;
        writeln!(
            f,
            "{}: {} tensors, {} parameters; dlib's metric: margin {}, distance threshold {} -> {}",
            self.file.display(),
            self.tensors,
            self.parameters,
            m.margin,
            m.distance_threshold,
            self.out.display()
        )
    }
}
