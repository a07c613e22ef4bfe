//! The twin network: one tower applied to both images, and the weighted-L1 (or Euclidean) head.
//!
//! `Siamese` is the model as a value: its config, its parameters, the weights packed for the
//! kernels, the int8 calibration and the threads it runs on. Inference borrows it (`&self`), so
//! the server, the stream and the evaluations share one copy of the weights; only changing the
//! weights or the arithmetic takes `&mut self`, and drops what was derived from the old ones.
//! What a training step writes (gradients, traces, the backward buffers) is a `TrainState`,
//! which the trainer owns beside the model.
//!
//! A batch is a set of images plus a list of pairs among them. Each image goes through the tower
//! once however many pairs it is in, so the classic batch (`left ++ right`, pairs `(i, n + i)`)
//! and the all-pairs batch share one code path.
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;

use super::int8::Calibration;
use super::packed::Packed;
use super::params::Params;
use super::tower::{Koch, Tower};
use super::work::{BatchWork, Scratch};
use crate::config::{Head, ModelConfig};
use crate::engine::gemm::Precision;
use crate::engine::{act, head, Par};
use crate::error::{Error, Result};

/// Images per forward chunk when embedding many: bounds the trace memory of inference.
const EMBED_CHUNK: usize = 64;

pub struct Siamese {
    config: ModelConfig,
    tower: Tower,
    params: Params,
    /// The weight matrices packed for the bf16 kernel: built at the first product after the
    /// parameters or the precision change, so inference packs once per model. Empty in `f32`.
    packed: OnceLock<Packed>,
    /// The activation ranges that int8 products quantise with, checked against these weights.
    int8: Option<Arc<Calibration>>,
    threads: usize,
    /// The operands' arithmetic in every convolution and dense product, forward and backward;
    /// parameters, gradients and sums stay `f32` whatever it is.
    precision: Precision,
    /// This model's threads: `threads` bounds every batched pass, the optimiser's update and
    /// scoring a gallery, whoever calls. Only the model's own passes submit work to it, and
    /// none of that work waits on `packed`, which is what makes packing on it safe (`packed`).
    pool: rayon::ThreadPool,
    /// The buffers of Koch's batched `embed`, kept between calls so that a batch does not
    /// allocate (and fault in) its traces and im2col scratch every time; a caller takes them
    /// for the call, and callers at the same time beyond the first make their own.
    spare: Mutex<Option<BatchWork>>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepOutput {
    /// Mean binary cross-entropy over the batch's pairs.
    pub loss: f64,
}

impl Siamese {
    /// `threads = 0` means every core.
    pub fn new(config: ModelConfig, params: Params, threads: usize) -> Result<Self> {
        let tower = Tower::new(&config)?;
        let want = Params::layout(&config)?;
        if want != params.specs || params.data.len() != want.last().map(|s| s.offset + s.len()).unwrap_or(0) {
            return Err(Error::shape("parameters", "the layout of the config", "another layout"));
        }
        let threads = if threads == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) } else { threads };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::config("threads", e.to_string()))?;
        Ok(Siamese {
            config,
            tower,
            params,
            packed: OnceLock::new(),
            int8: None,
            threads,
            precision: Precision::F32,
            pool,
            spare: Mutex::new(None),
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The parameters, to change them; the packed weights are rebuilt at the next product, and
    /// an int8 calibration, made for the old weights, is dropped (int8 falls back to bf16).
    pub fn params_mut(&mut self) -> &mut Params {
        self.forget_packing();
        &mut self.params
    }

    /// One optimiser update from `grads` (a `TrainState`'s, laid out like the parameters), on
    /// this model's threads (so `--threads` bounds the whole step).
    pub fn apply(&mut self, opt: &mut super::Optimizer, grads: &[f32]) -> Result<()> {
        if grads.len() != self.params.data.len() || opt.m.len() != self.params.data.len() {
            return Err(Error::shape(
                "optimiser update",
                format!("gradients and optimiser state of {} parameters", self.params.data.len()),
                format!("{} gradients, state of {}", grads.len(), opt.m.len()),
            ));
        }
        let params = &mut self.params;
        self.pool.install(|| opt.update(params, grads));
        self.forget_packing();
        Ok(())
    }

    /// The packed weights of the current parameters, built on first use. From a thread of no
    /// pool (a caller's own), on this model's threads; from a pool's task, on that thread alone:
    /// a task that waited for other tasks inside the initialisation could be handed another
    /// caller's task that waits on this same initialisation, and so wait on itself.
    pub(super) fn packed(&self) -> &Packed {
        self.packed.get_or_init(|| {
            let matrices = self.tower.matrices(&self.params, false);
            let pack = |parallel| Packed::new(&self.params.data, &matrices, self.precision, self.int8.as_deref(), parallel);
            match rayon::current_thread_index() {
                None => self.pool.install(|| pack(true)),
                Some(_) => pack(false),
            }
        })
    }

    /// The weights packed for a training step, with the transposed panels that the input
    /// gradients multiply by, on this model's threads. Not kept by the model: the step's update
    /// changes the weights they were packed from. The training state hands back the last step's
    /// panels as `reuse`, packed over in place when they fit (a step then maps no fresh pages
    /// for 150 MB of dense-layer panels).
    pub(super) fn pack_for_training(&self, reuse: Option<Packed>) -> Packed {
        let matrices = self.tower.matrices(&self.params, true);
        self.pool.install(|| {
            if let Some(mut p) = reuse.filter(|_| self.int8.is_none()) {
                if p.repack(&self.params.data, &matrices, self.precision) {
                    return p;
                }
            }
            Packed::new(&self.params.data, &matrices, self.precision, self.int8.as_deref(), true)
        })
    }

    /// Koch's tower, the one trained end to end here; an error for a layered tower.
    pub(super) fn koch(&self) -> Result<&Koch> {
        match &self.tower {
            Tower::Koch(k) => Ok(k),
            Tower::Layered(_) => Err(Error::config("tower", "a pretrained layer tower is not trained end to end here; train its head on frozen embeddings (`siamface train-head`)")),
        }
    }

    pub(super) fn pool(&self) -> &rayon::ThreadPool {
        &self.pool
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    pub fn embedding_len(&self) -> usize {
        self.config.embedding
    }

    pub(super) fn check_images(&self, images: &[f32]) -> Result<usize> {
        let il = self.config.input_len();
        if images.len() % il != 0 {
            return Err(Error::shape(
                "image batch",
                format!("a multiple of {} floats ({}x{}x{})", il, self.config.height, self.config.width, self.config.channels),
                images.len(),
            ));
        }
        Ok(images.len() / il)
    }

    /// Embeddings of `images` (NHWC, values in [0, 1]) into `out` (`n x embedding`), on this
    /// model's threads.
    pub fn embed(&self, images: &[f32], out: &mut [f32]) -> Result<()> {
        let n = self.check_images(images)?;
        let (il, d) = (self.config.input_len(), self.config.embedding);
        if out.len() != n * d {
            return Err(Error::shape("embedding output", n * d, out.len()));
        }
        let packed = self.packed();
        let k = match &self.tower {
            Tower::Koch(k) => k,
            Tower::Layered(net) => {
                // One image per thread at a time, each with its own buffers: the deep layers'
                // maps are a few pixels, too small to split one image over threads.
                let threads = self.threads;
                let per = n.div_ceil(threads).clamp(1, 8);
                let params = &self.params.data;
                self.pool.install(|| {
                    images.par_chunks(per * il).zip(out.par_chunks_mut(per * d)).for_each(|(x, o)| {
                        let m = x.len() / il;
                        let par = if n == 1 { Par::threads(threads) } else { Par::One };
                        net.forward(params, packed, x, m, o, &mut Vec::new(), par);
                    })
                });
                return Ok(());
            }
        };
        let taken = self.spare.lock().unwrap_or_else(|p| p.into_inner()).take();
        let mut w = taken.unwrap_or_else(|| BatchWork::new(&k.layers, self.threads));
        for (imgs, o) in images.chunks(EMBED_CHUNK * il).zip(out.chunks_mut(EMBED_CHUNK * d)) {
            let m = imgs.len() / il;
            k.forward(&self.params, packed, &self.pool, imgs, m, &mut w);
            o.copy_from_slice(&w.emb[..m * d]);
        }
        *self.spare.lock().unwrap_or_else(|p| p.into_inner()) = Some(w);
        Ok(())
    }

    /// The embedding of one image given as bytes (`height x width x channels`, 0-255), the form
    /// face crops and decoded photos come in.
    pub fn embed_bytes(&self, image: &[u8]) -> Result<Vec<f32>> {
        let x = self.config.input.floats(image, self.config.channels);
        let mut e = vec![0f32; self.config.embedding];
        self.embed(&x, &mut e)?;
        Ok(e)
    }

    /// Buffers for `embed_with`: one per caller thread, so a model shared by many threads is
    /// read by all of them and written by none.
    pub fn scratch(&self) -> Scratch {
        self.tower.scratch()
    }

    /// The embedding of one image (values in [0, 1]) on the calling thread alone, with the
    /// caller's buffers: the server runs requests side by side on one copy of the weights, each
    /// thread with its own `Scratch`.
    pub fn embed_with(&self, image: &[f32], s: &mut Scratch) -> Result<Vec<f32>> {
        if self.check_images(image)? != 1 {
            return Err(Error::shape("image", self.config.input_len(), image.len()));
        }
        let packed = self.packed();
        match &self.tower {
            Tower::Koch(k) => Ok(k.forward_one(&self.params, packed, image, s)),
            Tower::Layered(net) => {
                let mut e = vec![0f32; self.config.embedding];
                net.forward(&self.params.data, packed, image, 1, &mut e, &mut s.col, Par::One);
                Ok(e)
            }
        }
    }

    /// `embed_with` for a byte image (`height x width x channels`, 0-255).
    pub fn embed_bytes_with(&self, image: &[u8], s: &mut Scratch) -> Result<Vec<f32>> {
        let x = self.config.input.floats(image, self.config.channels);
        self.embed_with(&x, s)
    }

    /// Probability that two embeddings show the same identity.
    pub fn score(&self, e1: &[f32], e2: &[f32]) -> f32 {
        let (a, b) = self.head();
        if e1.len() != e2.len() {
            // Embeddings of another model: nothing to compare.
            return 0.0;
        }
        match self.config.head {
            Head::WeightedL1 => act::sigmoid1(b + head::weighted_l1(e1, e2, a)),
            Head::Euclidean => act::sigmoid1(b + a[0] * head::euclidean(e1, e2)),
        }
    }

    /// Scores `query` against every row of `gallery` (`n x embedding`), on this model's threads.
    pub fn score_many(&self, query: &[f32], gallery: &[f32], out: &mut [f32]) -> Result<()> {
        let d = self.config.embedding;
        if query.len() != d || gallery.len() != out.len() * d {
            return Err(Error::shape("gallery", format!("{} rows of {d}", out.len()), gallery.len()));
        }
        let (a, b) = self.head();
        match self.config.head {
            Head::WeightedL1 => self.pool.install(|| head::score_many(query, gallery, a, b, out)),
            Head::Euclidean => self.pool.install(|| head::score_many_euclidean(query, gallery, a[0], b, out)),
        }
        Ok(())
    }

    /// The head's weights and bias.
    pub(super) fn head(&self) -> (&[f32], f32) {
        let n = self.params.specs.len();
        (self.params.at(n - 2), self.params.at(n - 1)[0])
    }
}

#[path = "calibrate.rs"]
mod calibrate;

#[cfg(test)]
#[path = "siamese_tests.rs"]
mod tests;
