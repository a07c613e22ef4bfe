//! What a training step writes, apart from the model it reads: the gradients, the per-thread
//! workspaces and per-image traces of the batched passes, and the backward buffers. The trainer
//! owns a `TrainState` beside its `Siamese`; a step borrows the model (`forward_backward`), and
//! the update is the one call that changes it (`Siamese::apply`).
//!
//! It lives in `model`, not `train`, because the backward pass walks Koch's tower layer by
//! layer with the same kernels, packed weights and thread split as the forward pass; `train`
//! only drives it.
use super::packed::Packed;
use super::params::Params;
use super::siamese::{Siamese, StepOutput};
use super::tower::{per_image, Koch};
use super::work::{conv_shape, BatchWork, ImageTrace, ThreadWork};
use crate::config::LayerShape;
use crate::engine::gemm::Weights;
use crate::engine::{act, conv, head, linear, loss, pool, Par};
use crate::error::{Error, Result};

pub struct TrainState {
    /// The forward pass's buffers and traces, split over the model's threads.
    work: BatchWork,
    /// Gradients of the last `forward_backward`, laid out like the parameters.
    grads: Vec<f32>,
    demb: Vec<f32>,
    dflat: Vec<f32>,
    logits: Vec<f32>,
    dlogits: Vec<f32>,
    /// The last step's packed weights, packed over by the next step (`pack_for_training`).
    packed: Option<Packed>,
}

impl TrainState {
    /// Buffers to train `model` (Koch's tower: a layered tower is not trained end to end here).
    pub fn new(model: &Siamese) -> Result<TrainState> {
        let k = model.koch()?;
        Ok(TrainState {
            work: BatchWork::new(&k.layers, model.threads()),
            grads: Vec::new(),
            demb: Vec::new(),
            dflat: Vec::new(),
            logits: Vec::new(),
            dlogits: Vec::new(),
            packed: None,
        })
    }

    /// Gradients of the last `forward_backward` (empty before the first), laid out like the
    /// model's parameters: what `Siamese::apply` takes.
    pub fn grads(&self) -> &[f32] {
        &self.grads
    }

    /// Logits of the last `forward_backward`, one per pair.
    pub fn last_logits(&self) -> &[f32] {
        &self.logits
    }

    /// Forward and backward through `model` over `images` (`n` images) and `pairs` among them
    /// with `labels` (1 = same); leaves the gradient of the mean BCE in `grads`. A model other
    /// than the one this state was made for gets buffers of its own shape.
    pub fn forward_backward(&mut self, model: &Siamese, images: &[f32], pairs: &[(u32, u32)], labels: &[f32]) -> Result<StepOutput> {
        let n = model.check_images(images)?;
        let k = model.koch()?;
        if labels.len() != pairs.len() {
            return Err(Error::shape("labels", pairs.len(), labels.len()));
        }
        if let Some(&(i, j)) = pairs.iter().find(|&&(i, j)| i as usize >= n || j as usize >= n) {
            return Err(Error::shape("pair", format!("indices below {n}"), format!("({i}, {j})")));
        }
        if !self.work.fits(&k.layers, model.threads()) {
            self.work = BatchWork::new(&k.layers, model.threads());
        }
        let packed = model.pack_for_training(self.packed.take());
        k.forward(model.params(), &packed, model.pool(), images, n, &mut self.work);
        let d = k.embedding;
        self.logits.resize(pairs.len(), 0.0);
        self.dlogits.resize(pairs.len(), 0.0);
        let (a, b) = model.head();
        head::forward(&self.work.emb[..n * d], d, pairs, a, b, &mut self.logits);
        let out = StepOutput { loss: loss::bce_logits(&self.logits, labels) };
        loss::bce_logits_backward(&self.logits, labels, &mut self.dlogits);
        self.backward(model, k, &packed, images, n, pairs);
        self.packed = Some(packed);
        Ok(out)
    }

    fn backward(&mut self, model: &Siamese, k: &Koch, packed: &Packed, images: &[f32], n: usize, pairs: &[(u32, u32)]) {
        let (params, pool) = (model.params(), model.pool());
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
        let (flat, demb, dflat, par) = (&flat[..n * f], &self.demb[..], &mut self.dflat[..], Par::threads(model.threads()));
        let wd = Weights::with(&params.data[dense_w.range()], model.precision());
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
