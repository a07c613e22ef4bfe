//! Buffers for the passes through Koch's tower, sized from the config and reused from call to
//! call: what one thread needs for one image (`ThreadWork`, `ImageTrace`), what a batch needs
//! (`BatchWork`), and what one caller of a shared model needs (`Scratch`). None of them hold
//! weights, so a model borrowed by `&self` can run with any of them.
use crate::config::LayerShape;
use crate::engine::conv;

/// Floats of im2col scratch per thread: big enough for GEMMs that run near peak, small enough
/// that a chunk is still in L2 when it is multiplied.
pub const COL_SCRATCH: usize = 1 << 20;

/// What one thread needs to push one image through a tower and back.
pub struct ThreadWork {
    pub col: Vec<f32>,
    /// A layer's convolution output on the way forward, its gradient on the way back.
    pub conv: Vec<f32>,
    pub d: Vec<f32>,
    pub dnext: Vec<f32>,
    /// This thread's share of the convolution gradients (the parameter prefix); empty until the
    /// first training step, so inference never pays for it.
    pub grads: Vec<f32>,
}

impl ThreadWork {
    /// `share` threads split this workspace's im2col scratch when a single image runs on all
    /// cores.
    pub fn new(layers: &[LayerShape], share: usize) -> Self {
        let max_patch = layers.iter().map(|l| l.patch()).max().unwrap_or(1);
        let conv_len = layers.iter().map(|l| l.conv_len()).max().unwrap_or(0);
        let act_len = layers.iter().map(|l| l.in_len().max(l.out_len())).max().unwrap_or(0);
        ThreadWork {
            col: vec![0.0; COL_SCRATCH.max(max_patch) * share.max(1)],
            conv: vec![0.0; conv_len],
            d: vec![0.0; act_len],
            dnext: vec![0.0; act_len],
            grads: Vec::new(),
        }
    }
}

/// What the backward pass needs to remember of one image: each layer's output (the next
/// layer's input) and, for pooled layers, which input won each window.
pub struct ImageTrace {
    pub acts: Vec<Vec<f32>>,
    pub args: Vec<Vec<u8>>,
}

impl ImageTrace {
    pub fn new(layers: &[LayerShape]) -> Self {
        ImageTrace {
            acts: layers.iter().map(|l| vec![0.0; l.out_len()]).collect(),
            args: layers.iter().map(|l| vec![0; if l.pool { l.out_len() } else { 0 }]).collect(),
        }
    }
}

/// A batch's forward pass through Koch's tower on `threads` threads: one workspace per thread
/// (the first one's im2col scratch big enough for all threads, for a batch smaller than the
/// thread count), one trace per image, the tower's flattened outputs and the embeddings. Kept
/// apart from the model so that inference (`Siamese::embed`) and training (`TrainState`) each
/// bring their own while the weights stay shared.
pub struct BatchWork {
    layers: Vec<LayerShape>,
    pub works: Vec<ThreadWork>,
    pub traces: Vec<ImageTrace>,
    /// `n x flat_len`: the last layer's output of each image.
    pub flat: Vec<f32>,
    /// `n x embedding`: the dense layer's output, after the sigmoid.
    pub emb: Vec<f32>,
    /// The dense layer's per-thread blocks.
    pub scratch: Vec<f32>,
}

impl BatchWork {
    pub fn new(layers: &[LayerShape], threads: usize) -> Self {
        let works = (0..threads.max(1)).map(|t| ThreadWork::new(layers, if t == 0 { threads } else { 1 })).collect();
        BatchWork { layers: layers.to_vec(), works, traces: Vec::new(), flat: Vec::new(), emb: Vec::new(), scratch: Vec::new() }
    }

    /// Whether these buffers were made for `layers` on `threads` threads.
    pub fn fits(&self, layers: &[LayerShape], threads: usize) -> bool {
        self.layers == layers && self.works.len() == threads
    }

    /// The thread count the batch is split over.
    pub fn threads(&self) -> usize {
        self.works.len()
    }

    /// Room for `n` images whose tower ends at `flat_len` values and `embedding` outputs.
    pub fn reserve(&mut self, n: usize, flat_len: usize, embedding: usize) {
        while self.traces.len() < n {
            self.traces.push(ImageTrace::new(&self.layers));
        }
        for (buf, len) in [(&mut self.flat, n * flat_len), (&mut self.emb, n * embedding)] {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
        }
    }
}

/// One thread's buffers for inference on a shared model (see `Siamese::embed_with`).
pub struct Scratch {
    /// The layer tower's im2col buffer.
    pub(super) col: Vec<f32>,
    pub(super) trace: ImageTrace,
    pub(super) work: ThreadWork,
    pub(super) dense: Vec<f32>,
}

impl Scratch {
    /// Buffers for `layers` (none for a layered tower, which sizes its own `col`).
    pub(super) fn new(layers: &[LayerShape]) -> Self {
        Scratch { col: Vec::new(), trace: ImageTrace::new(layers), work: ThreadWork::new(layers, 1), dense: Vec::new() }
    }
}

pub fn conv_shape(l: &LayerShape) -> conv::Shape {
    conv::Shape { h: l.in_h, w: l.in_w, c: l.in_c, kh: l.kernel, kw: l.kernel, k: l.filters }
}
