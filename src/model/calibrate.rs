//! The model's arithmetic: its precision, and the calibration int8 inference needs. To
//! calibrate, the model runs in `f32` over sample images twice, its weight matrices recording
//! the activations they multiply (first their range, then a histogram over it), and each matrix
//! gets the range that rounds those activations with the least error.
use super::*;
use crate::engine::int8::Stats;
use crate::model::packed::Matrix;
use crate::model::int8::Input;

impl Siamese {
    /// The model computing in `precision` (`F32` is what `new` gives). int8 needs the
    /// model's calibration first (`with_int8`).
    pub fn with_precision(mut self, precision: Precision) -> Result<Self> {
        self.set_precision(precision)?;
        Ok(self)
    }

    pub fn set_precision(&mut self, precision: Precision) -> Result<()> {
        if precision == Precision::Int8 && self.int8.is_none() {
            return Err(Error::Input {
                field: "precision".into(),
                reason: "int8 needs the model's activation ranges (int8.json beside its weights): run `siamface calibrate --model DIR --images DIR` first".into(),
            });
        }
        self.precision = precision;
        self.packed = OnceLock::new();
        Ok(())
    }

    /// The model with the int8 calibration `c` (checked against its weights), for `Int8`.
    pub fn with_int8(mut self, c: Calibration) -> Result<Self> {
        let matrices: Vec<Matrix> = self.tower.matrices(&self.params, false).into_iter().map(|(m, _)| m).collect();
        c.check(&self.params.fingerprint(), &matrices)?;
        self.int8 = Some(Arc::new(c));
        self.packed = OnceLock::new();
        Ok(self)
    }

    /// The model as a checkpoint describes it, in `precision` (int8 with the checkpoint's
    /// calibration).
    pub fn load(ck: crate::model::io::Checkpoint, threads: usize, precision: Precision) -> Result<Self> {
        let mut net = Siamese::new(ck.config, ck.params, threads)?;
        // Only int8 reads the calibration: a stale one must not stop the model in f32 or bf16.
        if let (Precision::Int8, Some(c)) = (precision, ck.int8) {
            net = net.with_int8(c?)?;
        }
        net.with_precision(precision)
    }

    /// After the weights change: the packed panels go, and so does an int8 calibration made
    /// for the old weights (int8 falls back to bf16 until a new one is attached).
    pub(super) fn forget_packing(&mut self) {
        self.packed = OnceLock::new();
        if self.int8.take().is_some() && self.precision == Precision::Int8 {
            self.precision = Precision::Bf16;
        }
    }

    /// The int8 calibration of this model measured on `images` (NHWC, as `embed` takes them);
    /// `source` says where they came from. The model's own precision is left as it was: switch
    /// with `with_int8` and `set_precision`.
    pub fn calibrate(&mut self, images: &[f32], source: &str) -> Result<Calibration> {
        let n = self.check_images(images)?;
        if n == 0 {
            return Err(Error::Input { field: "calibration images".into(), reason: "none given: int8 ranges need sample images".into() });
        }
        let matrices = self.tower.matrices(&self.params, false);
        let precision = std::mem::replace(&mut self.precision, Precision::F32);
        let mut stats = vec![Stats::new(); matrices.len()];
        let mut out = vec![0f32; n * self.config.embedding];
        for pass in 0..2 {
            let start: Vec<Stats> = if pass == 0 { stats.clone() } else { stats.iter().map(Stats::histogram).collect() };
            self.packed = OnceLock::from(Packed::observing(&self.params.data, &matrices, start));
            let done = self.embed(images, &mut out);
            stats = self.packed.take().map(|p| p.observed(&matrices)).unwrap_or_default();
            if let Err(e) = done {
                self.precision = precision;
                return Err(e);
            }
        }
        self.precision = precision;
        if let Some((i, _)) = stats.iter().enumerate().find(|(_, s)| s.count == 0) {
            return Err(Error::Internal(format!("calibration: weight matrix {i} multiplied nothing")));
        }
        if let Some((i, s)) = stats.iter().enumerate().find(|(_, s)| !(s.min.is_finite() && s.max.is_finite()) || s.range().1 <= s.range().0) {
            return Err(Error::Input {
                field: "calibration images".into(),
                reason: format!("weight matrix {i} saw no usable range (min {}, max {}): calibrate on photos like those the model will see", s.min, s.max),
            });
        }
        let inputs = matrices
            .iter()
            .zip(&stats)
            .map(|((m, _), s)| {
                let (lo, hi) = s.range();
                Input { offset: m.offset, k: m.k, n: m.n, lo, hi, seen_min: s.min, seen_max: s.max }
            })
            .collect();
        Ok(Calibration { fingerprint: self.params.fingerprint(), images: n, source: source.to_string(), inputs })
    }
}
