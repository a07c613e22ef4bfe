//! The twin network: one tower applied to both images, and the weighted-L1 head.
//!
//! A batch is a set of images plus a list of pairs among them. Each image goes through the tower
//! once however many pairs it is in, so the classic batch (`left ++ right`, pairs `(i, n + i)`)
//! and the all-pairs batch share one code path. Images are spread over the threads, one image per
//! thread at a time with single-threaded GEMMs; a batch smaller than the thread count runs its
//! GEMMs multi-threaded instead.
use rayon::prelude::*;

use super::int8::Calibration;
use super::net::Net;
use super::packed::{Matrix, Packed};
use super::params::Params;
use super::work::{conv_shape, ImageTrace, ThreadWork};
use crate::config::{Head, LayerShape, ModelConfig};
use crate::engine::gemm::{Precision, Weights};
use crate::engine::{act, conv, head, linear, loss, pool, Par};
use crate::error::{Error, Result};

/// Images per forward chunk when embedding many: bounds the trace memory of inference.
const EMBED_CHUNK: usize = 64;

pub struct Siamese {
    config: ModelConfig,
    /// The tower when the config describes it layer by layer (the face ResNet); Koch's tower
    /// runs on the fused kernels below instead.
    net: Option<Net>,
    params: Params,
    /// The weight matrices packed for the bf16 kernel: built at the first product after the
    /// parameters or the precision change, so inference packs once per model and training once
    /// per step. Empty in `f32`.
    packed: std::sync::OnceLock<Packed>,
    /// The activation ranges that int8 products quantise with, checked against these weights.
    int8: Option<std::sync::Arc<Calibration>>,
    /// Gradients of the last `forward_backward`, laid out like `params.data`.
    pub grads: Vec<f32>,
    layers: Vec<LayerShape>,
    flat_len: usize,
    threads: usize,
    /// The operands' arithmetic in every convolution and dense product, forward and backward;
    /// parameters, gradients and sums stay `f32` whatever it is.
    precision: Precision,
    pool: rayon::ThreadPool,
    works: Vec<ThreadWork>,
    traces: Vec<ImageTrace>,
    flat: Vec<f32>,
    emb: Vec<f32>,
    demb: Vec<f32>,
    dflat: Vec<f32>,
    logits: Vec<f32>,
    dlogits: Vec<f32>,
    /// The dense layer's per-thread blocks.
    scratch: Vec<f32>,
}

/// One thread's buffers for inference on a shared model (see `Siamese::embed_with`).
pub struct Scratch {
    /// The layer tower's im2col buffer.
    col: Vec<f32>,
    trace: ImageTrace,
    work: ThreadWork,
    dense: Vec<f32>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepOutput {
    /// Mean binary cross-entropy over the batch's pairs.
    pub loss: f64,
}

impl Siamese {
    /// `threads = 0` means every core.
    pub fn new(config: ModelConfig, params: Params, threads: usize) -> Result<Self> {
        let net = if config.is_layered() { Some(Net::compile(&config)?.0) } else { None };
        let layers = if net.is_some() { Vec::new() } else { config.layers()? };
        let want = Params::layout(&config)?;
        if want != params.specs || params.data.len() != want.last().map(|s| s.offset + s.len()).unwrap_or(0) {
            return Err(Error::shape("parameters", "the layout of the config", "another layout"));
        }
        let threads = if threads == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) } else { threads };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::config("threads", e.to_string()))?;
        let works = (0..threads).map(|t| ThreadWork::new(&layers, if t == 0 { threads } else { 1 })).collect();
        let flat_len = if net.is_some() { 0 } else { config.flat_len()? };
        Ok(Siamese {
            config,
            net,
            params,
            packed: std::sync::OnceLock::new(),
            int8: None,
            grads: Vec::new(),
            layers,
            flat_len,
            threads,
            precision: Precision::F32,
            pool,
            works,
            traces: Vec::new(),
            flat: Vec::new(),
            emb: Vec::new(),
            demb: Vec::new(),
            dflat: Vec::new(),
            logits: Vec::new(),
            dlogits: Vec::new(),
            scratch: Vec::new(),
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

    /// The weight matrices that products take as right operands, and whether the transposed
    /// matrix is one too (in `training`, whose input gradients multiply by it).
    fn matrices(&self, training: bool) -> Vec<(Matrix, bool)> {
            let matrices: Vec<(Matrix, bool)> = match &self.net {
                Some(net) => net.matrices().into_iter().map(|m| (m, false)).collect(),
                None => {
                    // The convolutions also multiply by their transposed weights in training
                    // (input gradients); the dense layer's input gradient takes W as the left
                    // operand, so it needs no transposed panels.
                    let mut m: Vec<(Matrix, bool)> = self
                        .layers
                        .iter()
                        .enumerate()
                        .map(|(l, s)| (Matrix { offset: self.params.specs[2 * l].offset, k: s.patch(), n: s.filters }, training))
                        .collect();
                    let dense = &self.params.specs[2 * self.layers.len()];
                    m.push((Matrix { offset: dense.offset, k: self.flat_len, n: self.config.embedding }, false));
                    m
                }
            };
            matrices
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

    fn ensure_batch(&mut self, n: usize) {
        while self.traces.len() < n {
            self.traces.push(ImageTrace::new(&self.layers));
        }
        let (f, d) = (self.flat_len, self.config.embedding);
        for (buf, len) in [(&mut self.flat, n * f), (&mut self.emb, n * d)] {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
        }
    }

    /// Embeddings of `images` (NHWC, values in [0, 1]) into `out` (`n x embedding`).
    pub fn embed(&mut self, images: &[f32], out: &mut [f32]) -> Result<()> {
        let n = self.check_images(images)?;
        let (il, d) = (self.config.input_len(), self.config.embedding);
        if out.len() != n * d {
            return Err(Error::shape("embedding output", n * d, out.len()));
        }
        self.pack_now(false);
        if let Some(net) = &self.net {
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
            o.copy_from_slice(&self.emb[..m * d]);
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
        Scratch { col: Vec::new(), trace: ImageTrace::new(&self.layers), work: ThreadWork::new(&self.layers, 1), dense: Vec::new() }
    }

    /// The embedding of one image (values in [0, 1]) on the calling thread alone, with the
    /// caller's buffers. Takes `&self`: the server runs requests side by side on one copy of
    /// the weights, each thread with its own `Scratch`.
    pub fn embed_with(&self, image: &[f32], s: &mut Scratch) -> Result<Vec<f32>> {
        if self.check_images(image)? != 1 {
            return Err(Error::shape("image", self.config.input_len(), image.len()));
        }
        if let Some(net) = &self.net {
            let mut e = vec![0f32; self.config.embedding];
            net.forward(&self.params.data, self.packed(), image, 1, &mut e, &mut s.col, Par::One);
            return Ok(e);
        }
        let packed = self.packed();
        tower_forward(image, &self.layers, &self.params, packed, &mut s.trace, &mut s.work, Par::One);
        let (li, d) = (2 * self.layers.len(), self.config.embedding);
        let flat = s.trace.acts.last().expect("at least one layer");
        let mut e = vec![0f32; d];
        linear::forward(flat, dense_weights(&self.params, packed, li), self.params.at(li + 1), 1, self.flat_len, d, &mut e, &mut s.dense, Par::One);
        act::sigmoid(&mut e);
        Ok(e)
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
        if self.net.is_some() {
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
        head::forward(&self.emb[..n * d], d, pairs, a, b, &mut self.logits);
        let out = StepOutput { loss: loss::bce_logits(&self.logits, labels) };
        loss::bce_logits_backward(&self.logits, labels, &mut self.dlogits);
        self.backward(images, n, pairs);
        Ok(out)
    }

    /// Splits the batch over the threads; returns how many thread workspaces took part.
    fn per_image<F>(&mut self, n: usize, f: F) -> usize
    where
        F: Fn(usize, &mut ImageTrace, &mut ThreadWork, Par) + Sync,
    {
        let (threads, traces, works) = (self.threads, &mut self.traces[..n], &mut self.works);
        if n >= threads && threads > 1 {
            let per = n.div_ceil(threads);
            self.pool.install(|| {
                traces.par_chunks_mut(per).zip(works.par_iter_mut()).enumerate().for_each(|(c, (tr, w))| {
                    for (j, t) in tr.iter_mut().enumerate() {
                        f(c * per + j, t, w, Par::One);
                    }
                })
            });
            n.div_ceil(per)
        } else {
            self.pool.install(|| {
                for (i, t) in traces.iter_mut().enumerate() {
                    f(i, t, &mut works[0], Par::threads(threads));
                }
            });
            1
        }
    }

    fn forward(&mut self, images: &[f32], n: usize) {
        self.ensure_batch(n);
        let il = self.config.input_len();
        self.pack_now(false);
        let (layers, params, packed) = (std::mem::take(&mut self.layers), std::mem::take(&mut self.params), std::mem::take(&mut self.packed));
        let pk = packed.get().expect("packed just above");
        self.per_image(n, |i, t, w, par| tower_forward(&images[i * il..(i + 1) * il], &layers, &params, pk, t, w, par));
        let (f, d, li) = (self.flat_len, self.config.embedding, 2 * layers.len());
        for (dst, t) in self.flat.chunks_exact_mut(f).zip(&self.traces[..n]) {
            dst.copy_from_slice(t.acts.last().expect("at least one layer"));
        }
        let (flat, emb, scratch, par) = (&self.flat[..n * f], &mut self.emb[..n * d], &mut self.scratch, Par::threads(self.threads));
        self.pool.install(|| linear::forward(flat, dense_weights(&params, pk, li), params.at(li + 1), n, f, d, emb, scratch, par));
        act::sigmoid(emb);
        (self.layers, self.params, self.packed) = (layers, params, packed);
    }

    fn backward(&mut self, images: &[f32], n: usize, pairs: &[(u32, u32)]) {
        let (f, d, il) = (self.flat_len, self.config.embedding, self.config.input_len());
        let specs = &self.params.specs;
        let nl = self.layers.len();
        if self.grads.len() != self.params.data.len() {
            self.grads = vec![0.0; self.params.data.len()];
        }
        let conv_len = self.params.conv_len();
        for w in &mut self.works {
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
        let emb = &self.emb[..n * d];
        let a = &self.params.data[head_w.range()];
        head::backward(emb, d, pairs, a, &self.dlogits, da, &mut db[0], &mut self.demb);
        act::sigmoid_backward(emb, &mut self.demb);
        let (flat, demb, dflat, scratch, par) = (&self.flat[..n * f], &self.demb[..], &mut self.dflat[..], &mut self.scratch, Par::threads(self.threads));
        let wd = Weights::with(&self.params.data[dense_w.range()], self.precision);
        self.pool.install(|| linear::backward(flat, wd, demb, n, f, d, dwd, &mut dbd[..d], Some(dflat), scratch, par));

        self.pack_now(true);
        let (layers, params, dflat, packed) = (std::mem::take(&mut self.layers), std::mem::take(&mut self.params), std::mem::take(&mut self.dflat), std::mem::take(&mut self.packed));
        let pk = packed.get().expect("packed just above");
        let used = self.per_image(n, |i, t, w, par| {
            tower_backward(&images[i * il..(i + 1) * il], &dflat[i * f..(i + 1) * f], &layers, &params, pk, t, w, par)
        });
        (self.layers, self.params, self.dflat, self.packed) = (layers, params, dflat, packed);
        let (first, rest) = self.works.split_at(1);
        let g = &mut self.grads[..conv_len];
        g.copy_from_slice(&first[0].grads);
        for w in &rest[..used - 1] {
            for (a, b) in g.iter_mut().zip(&w.grads) {
                *a += b;
            }
        }
    }
}

/// The dense layer's weights (parameter `li`) with their packed panels.
fn dense_weights<'a>(params: &'a Params, packed: &'a Packed, li: usize) -> Weights<'a> {
    let s = &params.specs[li];
    packed.weights(&params.data, s.offset, s.len())
}

fn tower_forward(x: &[f32], layers: &[LayerShape], params: &Params, packed: &Packed, t: &mut ImageTrace, w: &mut ThreadWork, par: Par) {
    for (l, s) in layers.iter().enumerate() {
        let (ws, bias) = (&params.specs[2 * l], params.at(2 * l + 1));
        let weight = packed.weights(&params.data, ws.offset, ws.len());
        let (before, after) = t.acts.split_at_mut(l);
        let input = if l == 0 { x } else { &before[l - 1] };
        let out = &mut after[0];
        if s.pool {
            let c = &mut w.conv[..s.conv_len()];
            conv::forward(input, weight, &conv_shape(s), c, &mut w.col, par);
            pool::bias_relu_max_forward(c, bias, s.conv_h(), s.conv_w(), out, &mut t.args[l]);
        } else {
            conv::forward(input, weight, &conv_shape(s), out, &mut w.col, par);
            act::bias_relu(out, bias);
        }
    }
}

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
