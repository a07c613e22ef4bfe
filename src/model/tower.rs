//! The tower the twin network applies to each image: Koch's convolutions on fused kernels
//! (the only tower trained end to end here), or a layered `Net` (the pretrained face ResNet,
//! forward only). The model holds one or the other as a `Tower`, so each pass matches once on
//! which it is instead of testing an optional net beside fields that only Koch's tower uses.
//!
//! Koch's batched forward spreads the images over the threads, one image per thread at a time
//! with single-threaded GEMMs; a batch smaller than the thread count runs its GEMMs
//! multi-threaded instead. Training's backward pass (`TrainState`) splits the same way.
//!
//! # Shapes
//! Images `n x height x width x channels` (NHWC floats in [0, 1]); the last layer's output
//! `n x flat_len`; embeddings `n x embedding`.
use rayon::prelude::*;

use super::net::Net;
use super::packed::{Matrix, Packed};
use super::params::Params;
use super::work::{conv_shape, BatchWork, ImageTrace, Scratch, ThreadWork};
use crate::config::{LayerShape, ModelConfig};
use crate::engine::gemm::Weights;
use crate::engine::{act, conv, linear, pool, Par};
use crate::error::Result;

pub(super) enum Tower {
    Koch(Koch),
    Layered(Net),
}

impl Tower {
    pub fn new(config: &ModelConfig) -> Result<Tower> {
        if config.is_layered() {
            return Ok(Tower::Layered(Net::compile(config)?.0));
        }
        Ok(Tower::Koch(Koch { layers: config.layers()?, flat_len: config.flat_len()?, embedding: config.embedding, input_len: config.input_len() }))
    }

    /// The weight matrices that products take as right operands, and whether the transposed
    /// matrix is one too (in `training`, whose input gradients multiply by it).
    pub fn matrices(&self, params: &Params, training: bool) -> Vec<(Matrix, bool)> {
        match self {
            Tower::Layered(net) => net.matrices().into_iter().map(|m| (m, false)).collect(),
            Tower::Koch(k) => {
                // The convolutions also multiply by their transposed weights in training (input
                // gradients); the dense layer's input gradient takes W as the left operand, so
                // it needs no transposed panels.
                let mut m: Vec<(Matrix, bool)> = k
                    .layers
                    .iter()
                    .enumerate()
                    .map(|(l, s)| (Matrix { offset: params.specs[2 * l].offset, k: s.patch(), n: s.filters }, training))
                    .collect();
                let dense = &params.specs[2 * k.layers.len()];
                m.push((Matrix { offset: dense.offset, k: k.flat_len, n: k.embedding }, false));
                m
            }
        }
    }

    /// Buffers for `Siamese::embed_with` on this tower.
    pub fn scratch(&self) -> Scratch {
        match self {
            Tower::Koch(k) => Scratch::new(&k.layers),
            Tower::Layered(_) => Scratch::new(&[]),
        }
    }
}

/// Koch's tower: convolutions (each with its ReLU and, where the config says, its max-pool)
/// and the dense layer to the embedding, through its sigmoid.
pub(super) struct Koch {
    pub layers: Vec<LayerShape>,
    /// Values out of the last convolution layer: the dense layer's input.
    pub flat_len: usize,
    pub embedding: usize,
    pub input_len: usize,
}

impl Koch {
    /// Embeddings of the `n` images `images` into `w.emb`, leaving each image's trace in
    /// `w.traces` for a backward pass; on `pool`, split over `w`'s threads.
    pub fn forward(&self, params: &Params, packed: &Packed, pool: &rayon::ThreadPool, images: &[f32], n: usize, w: &mut BatchWork) {
        w.reserve(n, self.flat_len, self.embedding);
        let (il, threads) = (self.input_len, w.threads());
        let BatchWork { works, traces, flat, emb, scratch, .. } = w;
        per_image(pool, &mut traces[..n], works, |i, t, tw, par| tower_forward(&images[i * il..(i + 1) * il], &self.layers, params, packed, t, tw, par));
        let (f, d, li) = (self.flat_len, self.embedding, 2 * self.layers.len());
        for (dst, t) in flat.chunks_exact_mut(f).zip(&traces[..n]) {
            dst.copy_from_slice(t.acts.last().expect("at least one layer"));
        }
        let (flat, emb, par) = (&flat[..n * f], &mut emb[..n * d], Par::threads(threads));
        pool.install(|| linear::forward(flat, dense_weights(params, packed, li), params.at(li + 1), n, f, d, emb, scratch, par));
        act::sigmoid(emb);
    }

    /// The embedding of one image on the calling thread alone, with the caller's buffers.
    pub fn forward_one(&self, params: &Params, packed: &Packed, image: &[f32], s: &mut Scratch) -> Vec<f32> {
        tower_forward(image, &self.layers, params, packed, &mut s.trace, &mut s.work, Par::One);
        let (li, d) = (2 * self.layers.len(), self.embedding);
        let flat = s.trace.acts.last().expect("at least one layer");
        let mut e = vec![0f32; d];
        linear::forward(flat, dense_weights(params, packed, li), params.at(li + 1), 1, self.flat_len, d, &mut e, &mut s.dense, Par::One);
        act::sigmoid(&mut e);
        e
    }
}

/// Runs `f` on each of the `traces.len()` images on `pool`: contiguous runs of images, one run
/// per thread with that thread's workspace and single-threaded GEMMs, or, for fewer images than
/// threads, one image after another on the first workspace with GEMMs on every thread. Returns
/// how many workspaces took part.
pub(super) fn per_image<F>(pool: &rayon::ThreadPool, traces: &mut [ImageTrace], works: &mut [ThreadWork], f: F) -> usize
where
    F: Fn(usize, &mut ImageTrace, &mut ThreadWork, Par) + Sync,
{
    let (n, threads) = (traces.len(), works.len());
    if n >= threads && threads > 1 {
        let per = n.div_ceil(threads);
        pool.install(|| {
            traces.par_chunks_mut(per).zip(works.par_iter_mut()).enumerate().for_each(|(c, (tr, w))| {
                for (j, t) in tr.iter_mut().enumerate() {
                    f(c * per + j, t, w, Par::One);
                }
            })
        });
        n.div_ceil(per)
    } else {
        pool.install(|| {
            for (i, t) in traces.iter_mut().enumerate() {
                f(i, t, &mut works[0], Par::threads(threads));
            }
        });
        1
    }
}

/// The dense layer's weights (parameter `li`) with their packed panels.
pub(super) fn dense_weights<'a>(params: &'a Params, packed: &'a Packed, li: usize) -> Weights<'a> {
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
