//! The model and optimiser configurations. A `ModelConfig` is the only way to build a network and
//! is stored inside every model file, so a file always says what network it holds.
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    /// The convolution layers of one tower, in order; every layer but the last is followed by a
    /// 2x2 max-pool in Koch's network (`pool`).
    pub conv: Vec<ConvLayer>,
    /// Width of the sigmoid embedding that the head compares.
    pub embedding: usize,
    /// A tower described layer by layer (a pretrained face ResNet); empty for Koch's tower,
    /// which `conv` describes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tower: Vec<Layer>,
    /// How input bytes become the tower's floats.
    #[serde(default, skip_serializing_if = "Input::is_koch")]
    pub input: Input,
    /// The face crop the tower was trained on.
    #[serde(default, skip_serializing_if = "Crop::is_lfw")]
    pub crop: Crop,
    /// How the head compares two embeddings.
    #[serde(default, skip_serializing_if = "Head::is_weighted_l1")]
    pub head: Head,
}

/// The Siamese head: a probability that two embeddings show one person.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Head {
    /// Koch's `sigmoid(b + sum_j a_j |h1_j - h2_j|)`, one learned weight per dimension.
    #[default]
    WeightedL1,
    /// `sigmoid(b + a * ||h1 - h2||)`: the Euclidean distance a metric-trained tower (dlib's
    /// ResNet) was made for, calibrated into a probability by two learned numbers.
    Euclidean,
}

impl Head {
    pub fn is_weighted_l1(&self) -> bool {
        *self == Head::WeightedL1
    }

    /// Length of `head.weight` for embeddings `dim` wide.
    pub fn weights(&self, dim: usize) -> usize {
        match self {
            Head::WeightedL1 => dim,
            Head::Euclidean => 1,
        }
    }
}

/// `x = (byte - mean[c]) * scale`: Koch's towers read bytes / 255; dlib's ResNet subtracts its
/// training set's mean colour and divides by 256.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Input {
    pub mean: [f32; 3],
    pub scale: f32,
}

impl Default for Input {
    fn default() -> Self {
        Input { mean: [0.0; 3], scale: 1.0 / 255.0 }
    }
}

impl Input {
    pub fn is_koch(&self) -> bool {
        *self == Input::default()
    }

    /// The tower's input floats for an image of bytes (`... x channels`).
    pub fn floats(&self, bytes: &[u8], channels: usize) -> Vec<f32> {
        let c = channels.clamp(1, 3);
        bytes.iter().enumerate().map(|(i, v)| (*v as f32 - self.mean[i % c]) * self.scale).collect()
    }
}

/// Where in a photo the network looks: the crop its training images were cut like.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Crop {
    /// The central half of LFW's deep-funneled 250x250 frame (`lfw::FACE_CROP`).
    #[default]
    Lfw,
    /// dlib's face chip: the five-point similarity onto dlib's mean face, 25% padding.
    DlibChip,
}

impl Crop {
    pub fn is_lfw(&self) -> bool {
        *self == Crop::Lfw
    }
}

/// One layer of a tower described layer by layer (NHWC activations). Residual blocks nest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Layer {
    /// Cross-correlation with zero padding `pad` on every side; weights HWIO.
    Conv { filters: usize, kernel: usize, stride: usize, pad: usize, bias: bool },
    /// Per-channel `gamma * x + beta`: a batch norm folded for inference.
    Affine,
    Relu,
    MaxPool { size: usize, stride: usize },
    AvgPool { size: usize, stride: usize },
    /// `body(x) + shortcut(x)`, the shortcut being the identity when empty. Where the two differ
    /// in size the sum takes the larger of each dimension and reads what is missing as zeros
    /// (dlib's `add_prev`, which widens channels without a projection).
    Residual { body: Vec<Layer>, shortcut: Vec<Layer> },
    GlobalAvgPool,
    /// `[in, out]` weights.
    Dense { out: usize, bias: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvLayer {
    pub filters: usize,
    pub kernel: usize,
    pub pool: bool,
}

/// Spatial shape of one convolution layer's input and output, derived from a config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerShape {
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub kernel: usize,
    pub filters: usize,
    pub pool: bool,
}

impl LayerShape {
    pub fn conv_h(&self) -> usize {
        self.in_h + 1 - self.kernel
    }
    pub fn conv_w(&self) -> usize {
        self.in_w + 1 - self.kernel
    }
    /// Height after the layer's pool, 'same' (ceil) padding as in Keras.
    pub fn out_h(&self) -> usize {
        if self.pool { self.conv_h().div_ceil(2) } else { self.conv_h() }
    }
    pub fn out_w(&self) -> usize {
        if self.pool { self.conv_w().div_ceil(2) } else { self.conv_w() }
    }
    pub fn in_len(&self) -> usize {
        self.in_h * self.in_w * self.in_c
    }
    pub fn conv_len(&self) -> usize {
        self.conv_h() * self.conv_w() * self.filters
    }
    pub fn out_len(&self) -> usize {
        self.out_h() * self.out_w() * self.filters
    }
    pub fn patch(&self) -> usize {
        self.kernel * self.kernel * self.in_c
    }
}

const KOCH_CONV: [ConvLayer; 4] = [
    ConvLayer { filters: 64, kernel: 10, pool: true },
    ConvLayer { filters: 128, kernel: 7, pool: true },
    ConvLayer { filters: 128, kernel: 4, pool: true },
    ConvLayer { filters: 256, kernel: 4, pool: false },
];

impl ModelConfig {
    /// A Koch-style tower: `conv` layers, then the dense sigmoid embedding.
    pub fn koch(height: usize, width: usize, channels: usize, conv: Vec<ConvLayer>, embedding: usize) -> Self {
        ModelConfig { height, width, channels, conv, embedding, tower: Vec::new(), input: Input::default(), crop: Crop::Lfw, head: Head::WeightedL1 }
    }

    /// The paper's network: 105x105 grayscale Omniglot characters.
    pub fn koch105() -> Self {
        ModelConfig::koch(105, 105, 1, KOCH_CONV.to_vec(), 4096)
    }

    /// The original face app's network: 100x100 RGB face crops.
    pub fn face100() -> Self {
        ModelConfig::koch(100, 100, 3, KOCH_CONV.to_vec(), 4096)
    }

    /// A reduced Koch network on Omniglot shrunk 3x (35x35): the same architecture at about 1/60
    /// of the work, for quick experiments and the tests.
    pub fn small35() -> Self {
        ModelConfig::koch(
            35,
            35,
            1,
            vec![
                ConvLayer { filters: 16, kernel: 5, pool: true },
                ConvLayer { filters: 32, kernel: 3, pool: true },
                ConvLayer { filters: 32, kernel: 3, pool: true },
                ConvLayer { filters: 64, kernel: 2, pool: false },
            ],
            128,
        )
    }

    /// Koch's four conv layers and sigmoid embedding, narrowed for faces at 64x64 RGB with a
    /// 128-wide embedding: about 1/16 of `face100`'s work per image, 2 MB of weights, and a
    /// gallery row of 512 bytes, so a CPU trains it on many more pairs per hour and identifies
    /// against a million people within the latency budget.
    pub fn face64() -> Self {
        ModelConfig::koch(
            64,
            64,
            3,
            vec![
                ConvLayer { filters: 32, kernel: 7, pool: true },
                ConvLayer { filters: 64, kernel: 5, pool: true },
                ConvLayer { filters: 96, kernel: 3, pool: true },
                ConvLayer { filters: 128, kernel: 3, pool: false },
            ],
            128,
        )
    }

    /// dlib's face ResNet (29 convolutions, 150x150 RGB chips, a 128-wide descriptor), the
    /// architecture of `dlib_face_recognition_resnet_model_v1.dat`: a 7x7/2 stem and max pool,
    /// then residual blocks of 32 (x3), 64 (down + 3), 128 (down + 2), 256 (down + 2) and 256
    /// (down) filters, a global average and a 256 -> 128 dense layer without bias. A down block
    /// strides its first convolution and average-pools its shortcut.
    pub fn resnet150() -> Self {
        fn block(filters: usize, down: bool) -> [Layer; 2] {
            let stride = if down { 2 } else { 1 };
            let body = vec![
                Layer::Conv { filters, kernel: 3, stride, pad: if down { 0 } else { 1 }, bias: true },
                Layer::Affine,
                Layer::Relu,
                Layer::Conv { filters, kernel: 3, stride: 1, pad: 1, bias: true },
                Layer::Affine,
            ];
            let shortcut = if down { vec![Layer::AvgPool { size: 2, stride: 2 }] } else { Vec::new() };
            [Layer::Residual { body, shortcut }, Layer::Relu]
        }
        let mut tower = vec![
            Layer::Conv { filters: 32, kernel: 7, stride: 2, pad: 0, bias: true },
            Layer::Affine,
            Layer::Relu,
            Layer::MaxPool { size: 3, stride: 2 },
        ];
        for (filters, down, n) in [(32, false, 3), (64, true, 4), (128, true, 3), (256, true, 3), (256, true, 1)] {
            for i in 0..n {
                tower.extend(block(filters, down && i == 0));
            }
        }
        tower.push(Layer::GlobalAvgPool);
        tower.push(Layer::Dense { out: 128, bias: false });
        ModelConfig {
            height: 150,
            width: 150,
            channels: 3,
            conv: Vec::new(),
            embedding: 128,
            tower,
            input: Input { mean: [122.782, 117.001, 104.298], scale: 1.0 / 256.0 },
            crop: Crop::DlibChip,
            head: Head::WeightedL1,
        }
    }

    pub fn preset(name: &str) -> Result<Self> {
        match name {
            "koch105" => Ok(Self::koch105()),
            "face100" => Ok(Self::face100()),
            "small35" => Ok(Self::small35()),
            "face64" => Ok(Self::face64()),
            "resnet150" => Ok(Self::resnet150()),
            other => Err(Error::config("config", format!("unknown preset `{other}` (known: koch105, face100, face64, small35, resnet150)"))),
        }
    }

    /// Checks every size and returns the per-layer shapes; an input too small for the kernels is
    /// reported with the layer where it runs out.
    pub fn layers(&self) -> Result<Vec<LayerShape>> {
        for (field, v) in [("height", self.height), ("width", self.width), ("channels", self.channels), ("embedding", self.embedding)] {
            if v == 0 {
                return Err(Error::config(field, "must be positive"));
            }
        }
        if self.conv.is_empty() {
            return Err(Error::config("conv", "needs at least one layer"));
        }
        let (mut h, mut w, mut c) = (self.height, self.width, self.channels);
        let mut out = Vec::with_capacity(self.conv.len());
        for (i, l) in self.conv.iter().enumerate() {
            if l.filters == 0 || l.kernel == 0 {
                return Err(Error::config(&format!("conv[{i}]"), "filters and kernel must be positive"));
            }
            if l.kernel > h || l.kernel > w {
                return Err(Error::config(
                    &format!("conv[{i}].kernel"),
                    format!("kernel {} does not fit its {h}x{w} input", l.kernel),
                ));
            }
            let s = LayerShape { in_h: h, in_w: w, in_c: c, kernel: l.kernel, filters: l.filters, pool: l.pool };
            (h, w, c) = (s.out_h(), s.out_w(), s.filters);
            out.push(s);
        }
        Ok(out)
    }

    pub fn validate(&self) -> Result<()> {
        if self.head == Head::Euclidean && !self.is_layered() {
            return Err(Error::config("head", "Koch's tower trains its weighted-L1 head end to end; `euclidean` is for a pretrained layer tower"));
        }
        if self.is_layered() {
            // A layer-by-layer tower is checked where it is compiled (`model::Params::layout`):
            // the configuration knows nothing of the network built from it.
            return Ok(());
        }
        self.layers().map(|_| ())
    }

    /// Whether the tower is described layer by layer (`tower`) rather than Koch's `conv` list.
    pub fn is_layered(&self) -> bool {
        !self.tower.is_empty()
    }

    /// Tower, input and embedding width, as `--version` and `/api/config` name a model:
    /// "ResNet tower, 150x150 input, 128-wide embedding".
    pub fn shape(&self) -> String {
        let tower = if self.is_layered() { "ResNet tower" } else { "Koch tower" };
        format!("{tower}, {}x{} input, {}-wide embedding", self.width, self.height, self.embedding)
    }

    pub fn input_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// Length of the flattened last feature map, the dense layer's input.
    pub fn flat_len(&self) -> Result<usize> {
        Ok(self.layers()?.last().map(|l| l.out_len()).unwrap_or(0))
    }
}

/// How the weights are updated. Adam is the original face app's choice; `Sgd` is the paper's
/// recipe: per-layer learning rate, momentum and L2, a 1% learning-rate decay per epoch and a
/// momentum that starts at 0.5 and rises linearly to each layer's final value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerConfig {
    Adam { lr: f32, beta1: f32, beta2: f32, epsilon: f32 },
    Sgd { layers: Vec<SgdLayer>, lr_decay: f32, momentum_start: f32, momentum_ramp_epochs: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SgdLayer {
    pub lr: f32,
    pub momentum: f32,
    pub l2: f32,
}

impl OptimizerConfig {
    /// Adam with the original app's learning rate and Keras's defaults for the rest.
    pub fn adam() -> Self {
        OptimizerConfig::Adam { lr: 1e-4, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }
    }

    /// The paper's SGD for a network with `groups` parameter groups (each conv layer, the dense
    /// layer, the head). The paper tuned these per layer by Bayesian optimisation within
    /// lr in [1e-4, 1e-1], momentum in [0, 1], L2 in [0, 0.1]; these defaults sit inside it. The
    /// learning rate is the range's top: on `small35`, 0.01 left the loss at ln 2 for 3 minutes
    /// while 0.1 reached 48% 20-way validation accuracy (results/small35-sgd-*).
    pub fn sgd(groups: usize) -> Self {
        OptimizerConfig::Sgd {
            layers: vec![SgdLayer { lr: 0.1, momentum: 0.9, l2: 2e-4 }; groups],
            lr_decay: 0.99,
            momentum_start: 0.5,
            momentum_ramp_epochs: 50,
        }
    }

    /// Every learning rate set to `lr`: Adam's, or every SGD layer's.
    pub fn with_lr(mut self, lr: f32) -> Self {
        match &mut self {
            OptimizerConfig::Adam { lr: l, .. } => *l = lr,
            OptimizerConfig::Sgd { layers, .. } => layers.iter_mut().for_each(|layer| layer.lr = lr),
        }
        self
    }

    pub fn validate(&self, groups: usize) -> Result<()> {
        match self {
            OptimizerConfig::Adam { lr, beta1, beta2, epsilon } => {
                positive("optimizer.lr", *lr)?;
                positive("optimizer.epsilon", *epsilon)?;
                unit("optimizer.beta1", *beta1)?;
                unit("optimizer.beta2", *beta2)
            }
            OptimizerConfig::Sgd { layers, lr_decay, momentum_start, .. } => {
                if layers.len() != groups {
                    return Err(Error::config(
                        "optimizer.layers",
                        format!("expected {groups} entries (one per layer), found {}", layers.len()),
                    ));
                }
                for (i, l) in layers.iter().enumerate() {
                    positive(&format!("optimizer.layers[{i}].lr"), l.lr)?;
                    unit(&format!("optimizer.layers[{i}].momentum"), l.momentum)?;
                    if !(l.l2 >= 0.0) {
                        return Err(Error::config(&format!("optimizer.layers[{i}].l2"), "must be >= 0"));
                    }
                }
                positive("optimizer.lr_decay", *lr_decay)?;
                unit("optimizer.momentum_start", *momentum_start)
            }
        }
    }
}

fn positive(field: &str, v: f32) -> Result<()> {
    if v > 0.0 && v.is_finite() { Ok(()) } else { Err(Error::config(field, format!("must be positive, found {v}"))) }
}

fn unit(field: &str, v: f32) -> Result<()> {
    if (0.0..1.0).contains(&v) { Ok(()) } else { Err(Error::config(field, format!("must be in [0, 1), found {v}"))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_end_at_6x6x256_like_the_paper_and_the_app() {
        for cfg in [ModelConfig::koch105(), ModelConfig::face100()] {
            let l = cfg.layers().unwrap();
            let last = l.last().unwrap();
            assert_eq!((last.out_h(), last.out_w(), last.filters), (6, 6, 256));
            assert_eq!(cfg.flat_len().unwrap(), 9216);
        }
    }

    #[test]
    fn too_small_input_names_the_layer() {
        let mut cfg = ModelConfig::koch105();
        cfg.height = 30;
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("conv[2].kernel") || err.contains("conv[3].kernel"), "{err}");
    }

    #[test]
    fn sgd_with_wrong_layer_count_is_rejected() {
        let err = OptimizerConfig::sgd(3).validate(6).unwrap_err().to_string();
        assert!(err.contains("optimizer.layers"), "{err}");
    }
}
