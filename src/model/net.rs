//! A tower described layer by layer (`ModelConfig::tower`): the pretrained face ResNet runs
//! here, under the same Siamese head as Koch's tower. The config is compiled once into nodes
//! that know their shapes and where their parameters sit in the flat parameter vector, so the
//! forward pass is a walk over the nodes with no lookups by name.
//!
//! # Shapes
//! Input `n x height x width x channels` (NHWC floats, already normalised by `config.input`),
//! output `n x embedding`.
use super::params::ParamSpec;
use crate::config::{Layer, ModelConfig};
use crate::engine::residual::{self, Dims};
use super::packed::{Matrix, Packed};
use crate::engine::{affine, conv2d, pool2d, Par};
use crate::error::{Error, Result};

#[derive(Clone, Debug)]
enum Node {
    Conv { s: conv2d::Shape, w: usize, b: Option<usize> },
    Affine { c: usize, gamma: usize, beta: usize },
    Relu,
    MaxPool(pool2d::Shape),
    AvgPool(pool2d::Shape),
    Residual { body: Vec<Node>, shortcut: Vec<Node>, body_out: Dims, short_out: Dims, input: Dims },
    GlobalAvg { pixels: usize, c: usize },
    Dense { input: usize, out: usize, w: usize, b: Option<usize> },
}

/// A compiled layer tower: nodes, their parameter layout and the shape they end at.
#[derive(Clone, Debug)]
pub struct Net {
    nodes: Vec<Node>,
    input: Dims,
    out_len: usize,
    flops: f64,
}

struct Compiler {
    specs: Vec<ParamSpec>,
    offset: usize,
    index: usize,
    flops: f64,
}

impl Compiler {
    fn param(&mut self, name: &str, shape: Vec<usize>) -> usize {
        let at = self.offset;
        let len: usize = shape.iter().product();
        let group = self.index;
        self.specs.push(ParamSpec { name: format!("tower.{}.{name}", self.index), shape, offset: at, group });
        self.offset += len;
        at
    }

    fn layers(&mut self, layers: &[Layer], mut d: Dims, path: &str) -> Result<(Vec<Node>, Dims)> {
        let mut nodes = Vec::with_capacity(layers.len());
        for (i, l) in layers.iter().enumerate() {
            let field = format!("{path}[{i}]");
            let (h, w, c) = d;
            let node = match *l {
                Layer::Conv { filters, kernel, stride, pad, bias } => {
                    let s = conv2d::Shape { h, w, c, k: kernel, f: filters, stride, pad };
                    if filters == 0 || kernel == 0 || stride == 0 {
                        return Err(Error::config(&field, "filters, kernel and stride must be positive"));
                    }
                    if s.out(h).is_none() || s.out(w).is_none() {
                        return Err(Error::config(&field, format!("kernel {kernel} (pad {pad}) does not fit its {h}x{w} input")));
                    }
                    let wo = self.param("weight", vec![kernel, kernel, c, filters]);
                    let bo = bias.then(|| self.param("bias", vec![filters]));
                    self.index += 1;
                    self.flops += 2.0 * (s.oh() * s.ow() * s.patch() * filters) as f64;
                    d = (s.oh(), s.ow(), filters);
                    Node::Conv { s, w: wo, b: bo }
                }
                Layer::Affine => {
                    let gamma = self.param("gamma", vec![c]);
                    let beta = self.param("beta", vec![c]);
                    self.index += 1;
                    Node::Affine { c, gamma, beta }
                }
                Layer::Relu => Node::Relu,
                Layer::MaxPool { size, stride } | Layer::AvgPool { size, stride } => {
                    let s = pool2d::Shape { h, w, c, size, stride };
                    if s.out(h).is_none() || s.out(w).is_none() {
                        return Err(Error::config(&field, format!("a {size}x{size} window (stride {stride}) does not fit its {h}x{w} input")));
                    }
                    d = (s.oh(), s.ow(), c);
                    if matches!(l, Layer::MaxPool { .. }) { Node::MaxPool(s) } else { Node::AvgPool(s) }
                }
                Layer::Residual { ref body, ref shortcut } => {
                    let (body, body_out) = self.layers(body, d, &format!("{field}.body"))?;
                    let (shortcut, short_out) = self.layers(shortcut, d, &format!("{field}.shortcut"))?;
                    let input = d;
                    d = residual::out_dims(body_out, short_out);
                    Node::Residual { body, shortcut, body_out, short_out, input }
                }
                Layer::GlobalAvgPool => {
                    d = (1, 1, c);
                    Node::GlobalAvg { pixels: h * w, c }
                }
                Layer::Dense { out, bias } => {
                    if out == 0 {
                        return Err(Error::config(&field, "out must be positive"));
                    }
                    let input = h * w * c;
                    let wo = self.param("weight", vec![input, out]);
                    let bo = bias.then(|| self.param("bias", vec![out]));
                    self.index += 1;
                    self.flops += 2.0 * (input * out) as f64;
                    d = (1, 1, out);
                    Node::Dense { input, out, w: wo, b: bo }
                }
            };
            nodes.push(node);
        }
        Ok((nodes, d))
    }
}

impl Net {
    /// Compiles `cfg.tower` and returns the net with the tower's parameter specs (the head's
    /// follow them in `Params::layout`).
    pub fn compile(cfg: &ModelConfig) -> Result<(Net, Vec<ParamSpec>)> {
        if cfg.height == 0 || cfg.width == 0 || !(1..=3).contains(&cfg.channels) {
            return Err(Error::config("height/width/channels", "need a positive size and 1 to 3 channels"));
        }
        let input = (cfg.height, cfg.width, cfg.channels);
        let mut c = Compiler { specs: Vec::new(), offset: 0, index: 0, flops: 0.0 };
        let (nodes, out) = c.layers(&cfg.tower, input, "tower")?;
        let out_len = out.0 * out.1 * out.2;
        if out_len != cfg.embedding {
            return Err(Error::config("embedding", format!("the tower ends at {}x{}x{} = {out_len} values, not {}", out.0, out.1, out.2, cfg.embedding)));
        }
        Ok((Net { nodes, input, out_len, flops: c.flops }, c.specs))
    }

    /// Multiply-adds times two of one image's forward pass.
    pub fn flops(&self) -> f64 {
        self.flops
    }

    pub fn input_len(&self) -> usize {
        self.input.0 * self.input.1 * self.input.2
    }

    /// Embeddings of `n` images `x` (NHWC, normalised) into `out` (`n x embedding`).
    /// The weight matrices of the convolutions and dense layers, for `Packed`.
    pub fn matrices(&self) -> Vec<Matrix> {
        fn walk(nodes: &[Node], out: &mut Vec<Matrix>) {
            for node in nodes {
                match node {
                    Node::Conv { s, w, .. } => out.push(Matrix { offset: *w, k: s.patch(), n: s.f }),
                    Node::Dense { input, out: o, w, .. } => out.push(Matrix { offset: *w, k: *input, n: *o }),
                    Node::Residual { body, shortcut, .. } => {
                        walk(body, out);
                        walk(shortcut, out);
                    }
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.nodes, &mut out);
        out
    }

    /// Embeddings of `n` images `x` (NHWC, normalised) into `out` (`n x embedding`), with the
    /// products in `packed`'s precision.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(&self, params: &[f32], packed: &Packed, x: &[f32], n: usize, out: &mut [f32], col: &mut Vec<f32>, par: Par) {
        let y = run(&self.nodes, params, packed, x[..n * self.input_len()].to_vec(), self.input, n, col, par);
        out[..n * self.out_len].copy_from_slice(&y[..n * self.out_len]);
    }
}

fn relu(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = v.max(0.0));
}

/// The nodes over a batch of `n` maps of dims `d`; returns the output batch.
#[allow(clippy::too_many_arguments)]
fn run(nodes: &[Node], p: &[f32], packed: &Packed, mut x: Vec<f32>, mut d: Dims, n: usize, col: &mut Vec<f32>, par: Par) -> Vec<f32> {
    for node in nodes {
        let in_len = d.0 * d.1 * d.2;
        match node {
            Node::Conv { s, w, b } => {
                let weights = packed.weights(p, *w, s.patch() * s.f);
                // Packed weights take the patches one row at a time; the f32 product, all of them.
                let need = if weights.packed.is_some() { s.patch() } else { n * s.col_len() };
                if col.len() < need {
                    col.resize(need, 0.0);
                }
                let mut y = vec![0.0; n * s.out_len()];
                let bias = b.map(|b| &p[b..b + s.f]).unwrap_or(&[]);
                conv2d::forward(&x, weights, bias, s, n, &mut y, col, par);
                x = y;
                d = (s.oh(), s.ow(), s.f);
            }
            Node::Affine { c, gamma, beta } => affine::forward(&mut x, &p[*gamma..*gamma + c], &p[*beta..*beta + c]),
            Node::Relu => relu(&mut x),
            Node::MaxPool(s) => {
                let mut y = vec![0.0; n * s.out_len()];
                let mut arg = vec![0u32; s.out_len()];
                for i in 0..n {
                    pool2d::max_forward(&x[i * in_len..][..in_len], s, &mut y[i * s.out_len()..][..s.out_len()], &mut arg);
                }
                x = y;
                d = (s.oh(), s.ow(), s.c);
            }
            Node::AvgPool(s) => {
                let mut y = vec![0.0; n * s.out_len()];
                for i in 0..n {
                    pool2d::avg_forward(&x[i * in_len..][..in_len], s, &mut y[i * s.out_len()..][..s.out_len()]);
                }
                x = y;
                d = (s.oh(), s.ow(), s.c);
            }
            Node::Residual { body, shortcut, body_out, short_out, input } => {
                let a = run(body, p, packed, x.clone(), *input, n, col, par);
                let b = if shortcut.is_empty() { x } else { run(shortcut, p, packed, x, *input, n, col, par) };
                let od = residual::out_dims(*body_out, *short_out);
                let (al, bl, ol) = (len(*body_out), len(*short_out), len(od));
                let mut y = vec![0.0; n * ol];
                for i in 0..n {
                    residual::add_forward(&a[i * al..][..al], *body_out, &b[i * bl..][..bl], *short_out, &mut y[i * ol..][..ol]);
                }
                x = y;
                d = od;
            }
            Node::GlobalAvg { pixels, c } => {
                let mut y = vec![0.0; n * c];
                for i in 0..n {
                    pool2d::global_avg_forward(&x[i * in_len..][..in_len], *pixels, *c, &mut y[i * c..][..*c]);
                }
                x = y;
                d = (1, 1, *c);
            }
            Node::Dense { input, out, w, b } => {
                let mut y = vec![0.0; n * out];
                packed.weights(p, *w, input * out).right_of(crate::engine::gemm::Op::n(&x[..n * input]), &mut y, *out, n, *out, *input, false, par);
                if let Some(b) = b {
                    for row in y.chunks_mut(*out) {
                        row.iter_mut().zip(&p[*b..*b + out]).for_each(|(v, b)| *v += b);
                    }
                }
                x = y;
                d = (1, 1, *out);
            }
        }
    }
    x
}

fn len(d: Dims) -> usize {
    d.0 * d.1 * d.2
}
