//! The twin network: one tower applied to both images, and the weighted-L1 head.
//!
//! A batch is a set of images plus a list of pairs among them. Each image goes through the tower
//! once however many pairs it is in, so the classic batch (`left ++ right`, pairs `(i, n + i)`)
//! and the all-pairs batch share one code path (`tower`).
use rayon::prelude::*;

use super::int8::Calibration;
use super::packed::{Matrix, Packed};
use super::params::Params;
use super::tower::{per_image, Tower};
use super::work::{conv_shape, BatchWork, ImageTrace, Scratch, ThreadWork};
use crate::config::{Head, LayerShape, ModelConfig};
use crate::engine::gemm::{Precision, Weights};
use crate::engine::{act, conv, head, linear, loss, pool, Par};
use crate::error::{Error, Result};

/// Images per forward chunk when embedding many: bounds the trace memory of inference.
const EMBED_CHUNK: usize = 64;

pub struct Siamese {
    config: ModelConfig,
    tower: Tower,
    params: Params,
    /// The weight matrices packed for the bf16 kernel: built at the first product after the
    /// parameters or the precision change, so inference packs once per model and training once
    /// per step. Empty in `f32`.
    packed: std::sync::OnceLock<Packed>,
    /// The activation ranges that int8 products quantise with, checked against these weights.
    int8: Option<std::sync::Arc<Calibration>>,
    /// Gradients of the last `forward_backward`, laid out like `params.data`.
    pub grads: Vec<f32>,
    threads: usize,
    /// The operands' arithmetic in every convolution and dense product, forward and backward;
    /// parameters, gradients and sums stay `f32` whatever it is.
    precision: Precision,
    pool: rayon::ThreadPool,
    /// Koch's tower's batch buffers (empty for a layered tower).
    work: BatchWork,
    demb: Vec<f32>,
    dflat: Vec<f32>,
    logits: Vec<f32>,
    dlogits: Vec<f32>,
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
        let work = match &tower {
            Tower::Koch(k) => BatchWork::new(&k.layers, threads),
            Tower::Layered(_) => BatchWork::new(&[], 0),
        };
        Ok(Siamese {
            config,
            tower,
            params,
            packed: std::sync::OnceLock::new(),
            int8: None,
            grads: Vec::new(),
            threads,
            precision: Precision::F32,
            pool,
            work,
            demb: Vec::new(),
            dflat: Vec::new(),
            logits: Vec::new(),
            dlogits: Vec::new(),
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

    /// The packed weights of the current parameters, built on first use, on the calling thread
    /// alone: callers may be tasks of a thread pool, and a task that waited for other tasks
    /// inside the initialisation could be handed this same initialisation and wait on itself.
    fn packed(&self) -> &Packed {
        self.packed.get_or_init(|| Packed::new(&self.params.data, &self.matrices(false), self.precision, self.int8.as_deref(), false))
    }

    /// `packed`, built on every thread of this model's pool when it is missing (or, for
    /// `training`, lacks the transposed panels): for the calls that own the model (`&mut self`),
    /// where no other task can be waiting on it.
    fn pack_now(&mut self, training: bool) {
        if self.packed.get().is_none_or(|p| training && !p.has_transposed()) {
            self.packed = std::sync::OnceLock::new();
            let matrices = self.matrices(training);
            let (params, prec, int8) = (&self.params.data, self.precision, self.int8.as_deref());
            let p = self.pool.install(|| Packed::new(params, &matrices, prec, int8, true));
            let _ = self.packed.set(p);
        }
    }

    fn matrices(&self, training: bool) -> Vec<(Matrix, bool)> {
        self.tower.matrices(&self.params, training)
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    pub fn embedding_len(&self) -> usize {
        self.config.embedding
    }

    /// One optimiser update from the last `forward_backward`'s gradients, on this model's
    /// threads (so `--threads` bounds the whole step).
    pub fn apply(&mut self, opt: &mut super::Optimizer) {
        let (params, grads) = (&mut self.params, &self.grads);
        self.pool.install(|| opt.update(params, grads));
        self.forget_packing();
    }

    fn check_images(&self, images: &[f32]) -> Result<usize> {
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

    /// Embeddings of `images` (NHWC, values in [0, 1]) into `out` (`n x embedding`).
    pub fn embed(&mut self, images: &[f32], out: &mut [f32]) -> Result<()> {
        let n = self.check_images(images)?;
        let (il, d) = (self.config.input_len(), self.config.embedding);
        if out.len() != n * d {
            return Err(Error::shape("embedding output", n * d, out.len()));
        }
        self.pack_now(false);
        if let Tower::Layered(net) = &self.tower {
            // One image per thread at a time, each with its own buffers: the deep layers' maps
            // are a few pixels, too small to split one image over threads.
            let threads = self.threads;
            let per = n.div_ceil(threads).clamp(1, 8);
            let (params, packed) = (&self.params.data, self.packed());
            self.pool.install(|| {
                images.par_chunks(per * il).zip(out.par_chunks_mut(per * d)).for_each(|(x, o)| {
                    let m = x.len() / il;
                    let par = if n == 1 { Par::threads(threads) } else { Par::One };
                    net.forward(params, packed, x, m, o, &mut Vec::new(), par);
                })
            });
            return Ok(());
        }
        for (imgs, o) in images.chunks(EMBED_CHUNK * il).zip(out.chunks_mut(EMBED_CHUNK * d)) {
            let m = imgs.len() / il;
            self.forward(imgs, m);
            o.copy_from_slice(&self.work.emb[..m * d]);
        }
        Ok(())
    }

    /// The embedding of one image given as bytes (`height x width x channels`, 0-255), the form
    /// face crops and decoded photos come in.
    pub fn embed_bytes(&mut self, image: &[u8]) -> Result<Vec<f32>> {
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
    /// caller's buffers. Takes `&self`: the server runs requests side by side on one copy of
    /// the weights, each thread with its own `Scratch`.
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

    fn head(&self) -> (&[f32], f32) {
        let n = self.params.specs.len();
        (self.params.at(n - 2), self.params.at(n - 1)[0])
    }

    /// Logits of the last `forward_backward`, one per pair.
    pub fn last_logits(&self) -> &[f32] {
        &self.logits
    }

    /// Forward and backward over `images` (`n` images) and `pairs` among them with `labels`
    /// (1 = same); leaves the gradient of the mean BCE in `self.grads`.
    pub fn forward_backward(&mut self, images: &[f32], pairs: &[(u32, u32)], labels: &[f32]) -> Result<StepOutput> {
        let n = self.check_images(images)?;
        if matches!(self.tower, Tower::Layered(_)) {
            return Err(Error::config("tower", "a pretrained layer tower is not trained end to end here; train its head on frozen embeddings (`siamface train-head`)"));
        }
        if labels.len() != pairs.len() {
            return Err(Error::shape("labels", pairs.len(), labels.len()));
        }
        if let Some(&(i, j)) = pairs.iter().find(|&&(i, j)| i as usize >= n || j as usize >= n) {
            return Err(Error::shape("pair", format!("indices below {n}"), format!("({i}, {j})")));
        }
        // Pack for training (with the transposed panels) before the forward pass would pack
        // for inference only.
        self.pack_now(true);
        self.forward(images, n);
        let d = self.config.embedding;
        self.logits.resize(pairs.len(), 0.0);
        self.dlogits.resize(pairs.len(), 0.0);
        let nspec = self.params.specs.len();
        let (a, b) = (&self.params.data[self.params.specs[nspec - 2].range()], self.params.at(nspec - 1)[0]);
        head::forward(&self.work.emb[..n * d], d, pairs, a, b, &mut self.logits);
        let out = StepOutput { loss: loss::bce_logits(&self.logits, labels) };
        loss::bce_logits_backward(&self.logits, labels, &mut self.dlogits);
        self.backward(images, n, pairs);
        Ok(out)
    }

    fn forward(&mut self, images: &[f32], n: usize) {
        self.pack_now(false);
        let Tower::Koch(k) = &self.tower else { unreachable!("Koch's passes on a layered tower") };
        let pk = self.packed.get().expect("packed just above");
        k.forward(&self.params, pk, &self.pool, images, n, &mut self.work);
    }

    fn backward(&mut self, images: &[f32], n: usize, pairs: &[(u32, u32)]) {
        self.pack_now(true);
        let Tower::Koch(k) = &self.tower else { unreachable!("Koch's passes on a layered tower") };
        let (params, pool, packed) = (&self.params, &self.pool, self.packed.get().expect("packed just above"));
        let (f, d, il) = (k.flat_len, k.embedding, k.input_len);
        let specs = &params.specs;
        let nl = k.layers.len();
        if self.grads.len() != params.data.len() {
            self.grads = vec![0.0; params.data.len()];
        }
        let conv_len = params.conv_len();
        let BatchWork { works, traces, flat, emb, scratch, .. } = &mut self.work;
        for w in works.iter_mut() {
            w.grads.resize(conv_len, 0.0);
            w.grads.fill(0.0);
        }
        self.demb.resize(n * d, 0.0);
        self.dflat.resize(n * f, 0.0);
        self.demb.fill(0.0);

        let (dense_w, dense_b, head_w) = (&specs[2 * nl], &specs[2 * nl + 1], &specs[2 * nl + 2]);
        let (dense_g, head_g) = self.grads[dense_w.offset..].split_at_mut(head_w.offset - dense_w.offset);
        let (dwd, dbd) = dense_g.split_at_mut(dense_b.offset - dense_w.offset);
        let (da, db) = head_g.split_at_mut(d);
        let emb = &emb[..n * d];
        let a = &params.data[head_w.range()];
        head::backward(emb, d, pairs, a, &self.dlogits, da, &mut db[0], &mut self.demb);
        act::sigmoid_backward(emb, &mut self.demb);
        let (flat, demb, dflat, par) = (&flat[..n * f], &self.demb[..], &mut self.dflat[..], Par::threads(self.threads));
        let wd = Weights::with(&params.data[dense_w.range()], self.precision);
        pool.install(|| linear::backward(flat, wd, demb, n, f, d, dwd, &mut dbd[..d], Some(dflat), scratch, par));

        let dflat = &self.dflat;
        let used = per_image(pool, &mut traces[..n], works, |i, t, w, par| {
            tower_backward(&images[i * il..(i + 1) * il], &dflat[i * f..(i + 1) * f], &k.layers, params, packed, t, w, par)
        });
        let (first, rest) = works.split_at(1);
        let g = &mut self.grads[..conv_len];
        g.copy_from_slice(&first[0].grads);
        for w in &rest[..used - 1] {
            for (a, b) in g.iter_mut().zip(&w.grads) {
                *a += b;
            }
        }
    }
}

/// One image's way back through Koch's convolutions from `dflat`, the gradient at the tower's
/// output, adding to `w.grads`.
#[allow(clippy::too_many_arguments)]
fn tower_backward(x: &[f32], dflat: &[f32], layers: &[LayerShape], params: &Params, packed: &Packed, t: &ImageTrace, w: &mut ThreadWork, par: Par) {
    let ThreadWork { col, conv: dconv, d, dnext, grads } = w;
    d[..dflat.len()].copy_from_slice(dflat);
    for (l, s) in layers.iter().enumerate().rev() {
        let dc = &mut dconv[..s.conv_len()];
        if s.pool {
            pool::relu_max_backward(&d[..s.out_len()], &t.args[l], s.conv_h(), s.conv_w(), s.filters, dc);
        } else {
            dc.copy_from_slice(&d[..s.out_len()]);
            act::relu_backward(&t.acts[l], dc);
        }
        let input = if l == 0 { x } else { &t.acts[l - 1] };
        let (ws, bs) = (&params.specs[2 * l], &params.specs[2 * l + 1]);
        let (gw, gb) = grads[ws.offset..bs.offset + bs.len()].split_at_mut(ws.len());
        let dx = if l > 0 { Some(&mut dnext[..s.in_len()]) } else { None };
        conv::backward(input, packed.weights(&params.data, ws.offset, ws.len()), dc, &conv_shape(s), gw, gb, dx, col, par);
        std::mem::swap(d, dnext);
    }
}

#[path = "calibrate.rs"]
mod calibrate;

#[cfg(test)]
#[path = "siamese_tests.rs"]
mod tests;
