//! Buffers for the batched passes, sized once from the config and reused every step.
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

pub fn conv_shape(l: &LayerShape) -> conv::Shape {
    conv::Shape { h: l.in_h, w: l.in_w, c: l.in_c, kh: l.kernel, kw: l.kernel, k: l.filters }
}
