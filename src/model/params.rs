//! All weights of a network in one flat vector, with a named, shaped view of each tensor.
//!
//! One vector makes the optimiser a single pass and a checkpoint a single write; the order is
//! conv1..convN (weight, bias), dense, head, so the convolution part is a prefix that each
//! thread can accumulate its own gradients for.
use serde::{Deserialize, Serialize};

use crate::config::{Head, ModelConfig};
use crate::error::{Error, Result};
use crate::rng::Rng;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
    /// Which layer the tensor belongs to (conv layers, then dense, then head): the paper's SGD
    /// sets learning rate, momentum and L2 per layer.
    pub group: usize,
}

impl ParamSpec {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params {
    pub data: Vec<f32>,
    pub specs: Vec<ParamSpec>,
}

impl Params {
    pub fn layout(cfg: &ModelConfig) -> Result<Vec<ParamSpec>> {
        if cfg.is_layered() {
            let (_, mut specs) = super::net::Net::compile(cfg)?;
            let (offset, group) = specs.last().map(|s| (s.offset + s.len(), s.group + 1)).unwrap_or((0, 0));
            let hw = cfg.head.weights(cfg.embedding);
            specs.push(ParamSpec { name: "head.weight".into(), shape: vec![hw], offset, group });
            specs.push(ParamSpec { name: "head.bias".into(), shape: vec![1], offset: offset + hw, group });
            return Ok(specs);
        }
        let layers = cfg.layers()?;
        let mut specs = Vec::new();
        let mut offset = 0;
        let mut push = |name: String, shape: Vec<usize>, group: usize| {
            let len: usize = shape.iter().product();
            specs.push(ParamSpec { name, shape, offset, group });
            offset += len;
        };
        for (i, l) in layers.iter().enumerate() {
            push(format!("conv{}.weight", i + 1), vec![l.kernel, l.kernel, l.in_c, l.filters], i);
            push(format!("conv{}.bias", i + 1), vec![l.filters], i);
        }
        let n = layers.len();
        push("dense.weight".into(), vec![cfg.flat_len()?, cfg.embedding], n);
        push("dense.bias".into(), vec![cfg.embedding], n);
        push("head.weight".into(), vec![cfg.embedding], n + 1);
        push("head.bias".into(), vec![1], n + 1);
        Ok(specs)
    }

    pub fn zeros(cfg: &ModelConfig) -> Result<Self> {
        let specs = Self::layout(cfg)?;
        let len = specs.last().map(|s| s.offset + s.len()).unwrap_or(0);
        Ok(Params { data: vec![0.0; len], specs })
    }

    /// The paper's initialisation: conv weights N(0, 0.01), every bias N(0.5, 0.01), dense and
    /// head weights N(0, 0.2).
    pub fn init(cfg: &ModelConfig, rng: &mut Rng) -> Result<Self> {
        let mut p = Self::zeros(cfg)?;
        for s in p.specs.clone() {
            let (mean, sd) = if s.name.ends_with(".bias") {
                (0.5, 0.01)
            } else if s.name.starts_with("conv") {
                (0.0, 0.01)
            } else {
                (0.0, 0.2)
            };
            rng.fill_normal(&mut p.data[s.range()], mean, sd);
        }
        Ok(p)
    }

    /// Keras's defaults, which the original face app trained with: Glorot-uniform weights
    /// (`U(-l, l)`, `l = sqrt(6 / (fan_in + fan_out))`) and zero biases.
    pub fn init_keras(cfg: &ModelConfig, rng: &mut Rng) -> Result<Self> {
        let mut p = Self::zeros(cfg)?;
        for s in p.specs.clone() {
            if s.name.ends_with(".bias") {
                continue;
            }
            let (fan_in, fan_out) = match s.shape[..] {
                [kh, kw, ci, co] => (kh * kw * ci, kh * kw * co),
                [i, o] => (i, o),
                [i] => (i, 1),
                _ => (1, 1),
            };
            let l = (6.0 / (fan_in + fan_out) as f64).sqrt();
            for v in &mut p.data[s.range()] {
                *v = (l * (2.0 * rng.uniform() - 1.0)) as f32;
            }
        }
        Ok(p)
    }

    pub fn groups(&self) -> usize {
        self.specs.iter().map(|s| s.group + 1).max().unwrap_or(0)
    }

    /// The tensor at position `i` of the layout.
    pub fn at(&self, i: usize) -> &[f32] {
        &self.data[self.specs[i].range()]
    }

    pub fn get(&self, name: &str) -> Option<&[f32]> {
        self.specs.iter().find(|s| s.name == name).map(|s| &self.data[s.range()])
    }

    /// These weights under another head: `cfg` (the config they were made with) with `head`,
    /// every tensor but the head's copied, and the head's weights and bias set to `weight`
    /// (one per embedding dimension for Koch's weighted L1, one for the Euclidean head) and
    /// `bias`. The tower is untouched, so embeddings stay the same and only scores change.
    pub fn with_head(&self, cfg: &ModelConfig, head: Head, weight: &[f32], bias: f32) -> Result<(ModelConfig, Params)> {
        let mut cfg = cfg.clone();
        cfg.head = head;
        let mut params = Params::zeros(&cfg)?;
        let n = params.specs.len();
        for spec in &params.specs[..n - 2] {
            let src = self.get(&spec.name).ok_or_else(|| Error::shape(&format!("tensor {}", spec.name), "in the weights the head is swapped on", "missing"))?;
            if src.len() != spec.len() {
                return Err(Error::shape(&format!("tensor {}", spec.name), format!("{} values", spec.len()), src.len()));
            }
            params.data[spec.range()].copy_from_slice(src);
        }
        let (wr, br) = (params.specs[n - 2].range(), params.specs[n - 1].range());
        if weight.len() != wr.len() {
            return Err(Error::shape("head.weight", format!("{} values for a {head:?} head", wr.len()), weight.len()));
        }
        params.data[wr].copy_from_slice(weight);
        params.data[br][0] = bias;
        Ok((cfg, params))
    }

    /// A short fingerprint of the weights (FNV-1a over their bits): the model's identity, kept
    /// with every embedding the gallery stores, since embeddings are only valid for the model
    /// that computed them.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.data)
    }

    /// Length of the convolution prefix (everything before `dense.weight`).
    pub fn conv_len(&self) -> usize {
        self.specs.iter().find(|s| s.name == "dense.weight").map(|s| s.offset).unwrap_or(0)
    }
}

/// Multiply-adds times two of one tower's forward pass for one image under `cfg`.
pub fn forward_flops(cfg: &ModelConfig) -> Result<f64> {
    if cfg.is_layered() {
        return Ok(super::net::Net::compile(cfg)?.0.flops());
    }
    let layers = cfg.layers()?;
    let conv: f64 = layers.iter().map(|l| 2.0 * (l.conv_h() * l.conv_w() * l.patch() * l.filters) as f64).sum();
    Ok(conv + 2.0 * (cfg.flat_len()? * cfg.embedding) as f64)
}

/// `Params::fingerprint` of a flat weight vector.
pub fn fingerprint(params: &[f32]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in params {
        h ^= v.to_bits() as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn koch105_forward_is_1_82_gflop() {
        // 2 * (96^2*100*64 + 42^2*3136*128 + 18^2*2048*128 + 6^2*2048*256 + 9216*4096)
        let f = forward_flops(&ModelConfig::koch105()).unwrap();
        assert!((f - 1.817_247_744e9).abs() < 1.0, "{f}");
    }

    #[test]
    fn fingerprint_changes_with_any_weight() {
        let a = fingerprint(&[0.1, 0.2, 0.3]);
        assert_eq!(a, fingerprint(&[0.1, 0.2, 0.3]));
        assert_ne!(a, fingerprint(&[0.1, 0.2, 0.30001]));
    }
}
