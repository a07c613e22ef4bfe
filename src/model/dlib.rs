//! Reading dlib's face recognition network (`dlib_face_recognition_resnet_model_v1.dat`) into a
//! `ModelConfig` and `Params`, so the ResNet tower runs on our own engine.
//!
//! dlib writes a network as nested records: the loss layer's record, then each wrapper's version
//! number from the outermost layer inwards (2 for a layer, 1 for a tag or skip, 3 for the layer
//! that holds the input), then the input layer, then each layer's details from the input upward,
//! each followed by three flags and three (empty) work tensors. Integers are one control byte
//! (0x80 = negative, low four bits = byte count) and that many little-endian bytes; a real number
//! is an integer mantissa then an integer exponent; a string is a length then its bytes; a tensor
//! is version 2, four dimensions and raw little-endian f32. The reader consumes every byte, checks
//! every count and dimension against the architecture, and names the byte offset of anything
//! unexpected. The version sequence is compared with the one our `resnet150` layout implies, so
//! the tags and skips (which say where each shortcut starts) are checked too, not assumed.
use std::path::Path;

use super::params::Params;
use crate::config::{Layer, ModelConfig};
use crate::error::{Error, Result};

/// What dlib's loss layer says of its metric: the margin it was trained with and the distance
/// under which two faces are the same person.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metric {
    pub margin: f64,
    pub distance_threshold: f64,
}

/// dlib's serialized stream: the integer, real and string encodings every dlib model file uses
/// (the face shape predictor reads its trees with it too).
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8], path: &'a Path) -> Self {
        Reader { data, pos: 0, path }
    }

    /// Offset of the next byte to read.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// `Error::ModelFile` naming the file and the byte offset `at`.
    pub(crate) fn err(&self, at: usize, reason: impl std::fmt::Display) -> Error {
        Error::ModelFile { path: self.path.to_path_buf(), reason: format!("at byte {at}: {reason}") }
    }

    fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if self.data.len() - self.pos < n {
            return Err(self.err(self.pos, format!("the file ends inside {what} ({n} bytes needed, {} left)", self.data.len() - self.pos)));
        }
        let b = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }

    pub(crate) fn int(&mut self, what: &str) -> Result<i64> {
        let at = self.pos;
        let control = self.bytes(1, what)?[0];
        let n = (control & 0x0f) as usize;
        if n > 8 || control & 0x70 != 0 {
            return Err(self.err(at, format!("{what}: control byte {control:#04x} is not an integer's")));
        }
        let mut v: u64 = 0;
        for (i, b) in self.bytes(n, what)?.iter().enumerate() {
            v |= (*b as u64) << (8 * i);
        }
        if v > i64::MAX as u64 {
            return Err(self.err(at, format!("{what}: integer out of range")));
        }
        Ok(if control & 0x80 != 0 { -(v as i64) } else { v as i64 })
    }

    pub(crate) fn count(&mut self, what: &str) -> Result<usize> {
        let at = self.pos;
        let v = self.int(what)?;
        usize::try_from(v).map_err(|_| self.err(at, format!("{what}: {v} is negative")))
    }

    pub(crate) fn expect(&mut self, what: &str, want: i64) -> Result<()> {
        let at = self.pos;
        let v = self.int(what)?;
        if v != want {
            return Err(self.err(at, format!("{what}: expected {want}, found {v}")));
        }
        Ok(())
    }

    pub(crate) fn real(&mut self, what: &str) -> Result<f64> {
        let at = self.pos;
        let (m, e) = (self.int(what)?, self.int(what)?);
        if !(-1100..=1100).contains(&e) {
            return Err(self.err(at, format!("{what}: exponent {e} out of range")));
        }
        Ok(m as f64 * 2f64.powi(e as i32))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let at = self.pos;
        let n = self.count(what)?;
        if n > 256 {
            return Err(self.err(at, format!("{what}: a {n}-byte name is not a layer's")));
        }
        let b = self.bytes(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| self.err(at, format!("{what}: not text")))
    }

    fn flag(&mut self, what: &str) -> Result<bool> {
        let at = self.pos;
        match self.bytes(1, what)?[0] {
            b'1' => Ok(true),
            b'0' => Ok(false),
            other => Err(self.err(at, format!("{what}: expected '0' or '1', found {other:#04x}"))),
        }
    }

    /// A tensor: version 2, then n, k, nr, nc, then the values.
    fn tensor(&mut self, what: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        self.expect(&format!("{what} version"), 2)?;
        let dims = [self.count(what)?, self.count(what)?, self.count(what)?, self.count(what)?];
        let n = dims.iter().try_fold(1usize, |a, d| a.checked_mul(*d)).filter(|n| *n <= self.data.len() / 4);
        let Some(n) = n else { return Err(self.err(self.pos, format!("{what}: dimensions {dims:?} exceed the file"))) };
        let at = self.pos;
        let raw = self.bytes(n * 4, what)?;
        let v: Vec<f32> = raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(self.err(at + 4 * i, format!("{what}: value {i} is not finite")));
        }
        Ok((dims.to_vec(), v))
    }

    /// An alias tensor's description: version 1, then n, k, nr, nc.
    fn alias(&mut self, what: &str, want: [usize; 4]) -> Result<()> {
        self.expect(&format!("{what} version"), 1)?;
        for (d, w) in ["n", "k", "nr", "nc"].iter().zip(want) {
            self.expect(&format!("{what}.{d}"), w as i64)?;
        }
        Ok(())
    }
}

/// One layer's details as read from the file.
enum Record {
    Conv { filters: usize, kernel: usize, stride: usize, pad: usize, weights: Vec<f32>, bias: Vec<f32> },
    Affine { gamma: Vec<f32>, beta: Vec<f32> },
    Relu,
    MaxPool { size: usize, stride: usize },
    AvgPool { size: usize, stride: usize },
    AddPrev,
    Dense { out: usize, weights: Vec<f32> },
}

/// Reads the file at `path`: the network as a `resnet150` config with its tower's parameters
/// (the head is left at zero for the caller to set), and the loss layer's metric.
pub fn read(path: &Path) -> Result<(ModelConfig, Params, Metric)> {
    let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(&data, path)
}

pub fn parse(data: &[u8], path: &Path) -> Result<(ModelConfig, Params, Metric)> {
    let mut r = Reader::new(data, path);
    r.expect("loss layer version", 1)?;
    let at = r.pos;
    let loss = r.string("loss layer name")?;
    if loss != "loss_metric_2" {
        return Err(r.err(at, format!("expected the loss layer `loss_metric_2`, found `{loss}`: not dlib's face recognition network")));
    }
    let metric = Metric { margin: r.real("loss margin")?, distance_threshold: r.real("loss distance threshold")? };

    // Versions of the wrappers, outermost first, up to the input layer's name.
    let mut versions = Vec::new();
    let name_len = loop {
        let at = r.pos;
        match r.int("layer version")? {
            v @ 1..=3 => versions.push(v as u8),
            v if v > 3 && v < 64 => break (v as usize, at),
            v => return Err(r.err(at, format!("expected a layer version or the input layer, found {v}"))),
        }
    };
    r.pos = name_len.1;
    let at = r.pos;
    let input = r.string("input layer name")?;
    if input != "input_rgb_image_sized" {
        return Err(r.err(at, format!("expected the input layer `input_rgb_image_sized`, found `{input}`")));
    }
    let mean = [r.real("input mean red")? as f32, r.real("input mean green")? as f32, r.real("input mean blue")? as f32];
    let (rows, cols) = (r.count("input rows")?, r.count("input columns")?);

    let mut records = Vec::new();
    let mut channels = 3;
    while r.pos < data.len() {
        let at = r.pos;
        let name = r.string("layer name")?;
        let rec = match name.as_str() {
            "con_4" => {
                let (dims, p) = r.tensor("convolution parameters")?;
                let (f, k) = (r.count("num_filters")?, r.count("nr")?);
                r.expect("nc", k as i64)?;
                let stride = r.count("stride_y")?;
                r.expect("stride_x", stride as i64)?;
                let pad = r.count("padding_y")?;
                r.expect("padding_x", pad as i64)?;
                let wlen = f * channels * k * k;
                if dims != [wlen + f, 1, 1, 1] {
                    return Err(r.err(at, format!("convolution of {channels} -> {f} channels, {k}x{k}: parameters {dims:?}, expected [{}, 1, 1, 1]", wlen + f)));
                }
                r.alias("filters", [f, channels, k, k])?;
                r.alias("biases", [1, f, 1, 1])?;
                for m in ["learning rate", "weight decay", "bias learning rate", "bias weight decay"] {
                    r.real(&format!("{m} multiplier"))?;
                }
                // dlib's filters are [out][in][row][col]; the engine's HWIO is [row][col][in][out].
                let mut weights = vec![0.0; wlen];
                for o in 0..f {
                    for i in 0..channels {
                        for y in 0..k {
                            for x in 0..k {
                                weights[((y * k + x) * channels + i) * f + o] = p[((o * channels + i) * k + y) * k + x];
                            }
                        }
                    }
                }
                channels = f;
                Record::Conv { filters: f, kernel: k, stride, pad, weights, bias: p[wlen..].to_vec() }
            }
            "affine_" => {
                let (dims, p) = r.tensor("affine parameters")?;
                if dims != [2 * channels, 1, 1, 1] {
                    return Err(r.err(at, format!("affine over {channels} channels: parameters {dims:?}")));
                }
                r.alias("gamma", [1, channels, 1, 1])?;
                r.alias("beta", [1, channels, 1, 1])?;
                r.expect("affine mode (0 = per channel)", 0)?;
                Record::Affine { gamma: p[..channels].to_vec(), beta: p[channels..].to_vec() }
            }
            "relu_" => Record::Relu,
            "add_prev_" => Record::AddPrev,
            "max_pool_2" | "avg_pool_2" => {
                let size = r.count("pool rows")?;
                r.expect("pool columns", size as i64)?;
                let stride = r.count("pool stride_y")?;
                r.expect("pool stride_x", stride as i64)?;
                r.expect("pool padding_y", 0)?;
                r.expect("pool padding_x", 0)?;
                if name == "max_pool_2" { Record::MaxPool { size, stride } } else { Record::AvgPool { size, stride } }
            }
            "fc_2" => {
                let (out, input) = (r.count("num_outputs")?, r.count("num_inputs")?);
                let (dims, p) = r.tensor("dense parameters")?;
                if dims != [input, out, 1, 1] {
                    return Err(r.err(at, format!("dense {input} -> {out} without bias: parameters {dims:?}")));
                }
                r.alias("weights", [input, out, 1, 1])?;
                r.alias("biases", [0, 0, 0, 0])?;
                r.expect("bias mode (1 = no bias)", 1)?;
                for m in ["learning rate", "weight decay", "bias learning rate", "bias weight decay"] {
                    r.real(&format!("{m} multiplier"))?;
                }
                Record::Dense { out, weights: p }
            }
            other => return Err(r.err(at, format!("unknown layer `{other}`"))),
        };
        for f in ["setup", "gradient stale", "output disabled"] {
            r.flag(&format!("{name} {f} flag"))?;
        }
        for t in ["input gradient", "cached output", "parameter gradient"] {
            r.tensor(&format!("{name} {t}"))?;
        }
        if records.is_empty() {
            // The layer that holds the input (version 3) also records how many tensor samples
            // one input image makes.
            r.expect("sample expansion factor", 1)?;
        }
        records.push((at, rec));
    }

    let cfg = ModelConfig::resnet150();
    if (rows, cols) != (cfg.height, cfg.width) {
        return Err(r.err(0, format!("input {rows}x{cols}, expected {}x{}", cfg.height, cfg.width)));
    }
    let want_versions = versions_of(&cfg.tower);
    if versions != want_versions {
        return Err(r.err(0, format!("the layer nesting ({} wrappers) is not dlib's face ResNet's ({})", versions.len(), want_versions.len())));
    }
    let mut params = Params::zeros(&cfg)?;
    let mut it = records.into_iter();
    let mut filled = 0;
    fill(&cfg.tower, &mut it, &mut params, &mut filled, path)?;
    if let Some((at, _)) = it.next() {
        return Err(r.err(at, "more layers than dlib's face ResNet has"));
    }
    let mut cfg = cfg;
    cfg.input.mean = mean;
    Ok((cfg, params, metric))
}

/// A head until one is trained (`siamface train-head`): the same weight on every |difference|,
/// with the bias putting the decision where an L1 distance equals the Euclidean `threshold` for
/// differences spread evenly over the 128 dimensions (`L1 = sqrt(128) * L2`).
pub fn set_distance_head(params: &mut Params, threshold: f64) {
    let n = params.specs.len();
    let (w, b) = (params.specs[n - 2].range(), params.specs[n - 1].range());
    let dim = w.len() as f64;
    let k = 10.0 / (dim.sqrt() * threshold);
    params.data[w].fill(-k as f32);
    params.data[b].fill((k * dim.sqrt() * threshold) as f32);
}

/// The version numbers dlib writes for `tower` under its loss layer, outermost first.
fn versions_of(tower: &[Layer]) -> Vec<u8> {
    // Walk from the input upward collecting each wrapper, then reverse.
    fn walk(layers: &[Layer], out: &mut Vec<u8>) {
        for l in layers {
            match l {
                Layer::Residual { body, shortcut } => {
                    out.push(1); // tag1 on the block's input
                    walk(body, out);
                    if !shortcut.is_empty() {
                        out.extend([1, 1]); // tag2 on the body's output, skip1 back to the input
                        walk(shortcut, out);
                    }
                    out.push(2); // add_prev
                }
                _ => out.push(2),
            }
        }
    }
    let mut v = Vec::new();
    walk(tower, &mut v);
    if let Some(first) = v.first_mut() {
        *first = 3; // the layer that holds the input layer
    }
    v.reverse();
    v
}

type Records = std::vec::IntoIter<(usize, Record)>;

fn fill(layers: &[Layer], it: &mut Records, params: &mut Params, n: &mut usize, path: &Path) -> Result<()> {
    let bad = |at: usize, want: &str| Error::ModelFile { path: path.to_path_buf(), reason: format!("at byte {at}: expected {want} here") };
    for l in layers {
        if let Layer::Residual { body, shortcut } = l {
            fill(body, it, params, n, path)?;
            fill(shortcut, it, params, n, path)?;
            match it.next() {
                Some((_, Record::AddPrev)) => {}
                Some((at, _)) => return Err(bad(at, "the residual sum (add_prev_)")),
                None => return Err(bad(0, "the residual sum (add_prev_) before the end")),
            }
            continue;
        }
        let Some((at, rec)) = it.next() else { return Err(bad(0, &format!("{l:?} before the end"))) };
        let mut put = |suffix: &str, v: &[f32]| -> Result<()> {
            let name = format!("tower.{n}.{suffix}");
            let spec = params.specs.iter().find(|s| s.name == name).ok_or_else(|| bad(at, &name))?.clone();
            if spec.len() != v.len() {
                return Err(bad(at, &format!("{name} of {} values, found {}", spec.len(), v.len())));
            }
            params.data[spec.range()].copy_from_slice(v);
            Ok(())
        };
        match (l, rec) {
            (&Layer::Conv { filters, kernel, stride, pad, .. }, Record::Conv { filters: f, kernel: k, stride: s, pad: p, weights, bias })
                if (filters, kernel, stride, pad) == (f, k, s, p) =>
            {
                put("weight", &weights)?;
                put("bias", &bias)?;
                *n += 1;
            }
            (Layer::Affine, Record::Affine { gamma, beta }) => {
                put("gamma", &gamma)?;
                put("beta", &beta)?;
                *n += 1;
            }
            (Layer::Relu, Record::Relu) => {}
            (&Layer::MaxPool { size, stride }, Record::MaxPool { size: z, stride: s }) if (size, stride) == (z, s) => {}
            (&Layer::AvgPool { size, stride }, Record::AvgPool { size: z, stride: s }) if (size, stride) == (z, s) => {}
            (Layer::GlobalAvgPool, Record::AvgPool { size: 0, stride: 1 }) => {}
            (&Layer::Dense { out, .. }, Record::Dense { out: o, weights, .. }) if out == o => {
                put("weight", &weights)?;
                *n += 1;
            }
            (l, _) => return Err(bad(at, &format!("{l:?}"))),
        }
    }
    Ok(())
}

/// `v` in dlib's integer encoding, for tests that write small model files.
#[cfg(test)]
pub(crate) fn encode_int(v: i64) -> Vec<u8> {
    let m = v.unsigned_abs();
    let n = ((64 - m.leading_zeros() as usize).div_ceil(8)).max(1);
    let mut b = vec![n as u8 | if v < 0 { 0x80 } else { 0 }];
    b.extend(&m.to_le_bytes()[..n]);
    b
}

#[cfg(test)]
mod tests {
    use super::encode_int as int;
    use super::*;

    #[test]
    fn integers_reals_and_strings_decode() {
        let mut data = Vec::new();
        for v in [0i64, 1, 127, 300, -28, 1 << 40] {
            data.extend(int(v));
        }
        // 0.04 as dlib writes it: mantissa 10737418, exponent -28.
        data.extend(int(10_737_418));
        data.extend(int(-28));
        data.extend(int(5));
        data.extend(b"relu_");
        let p = Path::new("t.dat");
        let mut r = Reader::new(&data, p);
        for v in [0i64, 1, 127, 300, -28, 1 << 40] {
            assert_eq!(r.int("x").unwrap(), v);
        }
        assert!((r.real("x").unwrap() - 0.04).abs() < 1e-9);
        assert_eq!(r.string("x").unwrap(), "relu_");
        assert_eq!(r.pos, data.len());
    }

    #[test]
    fn truncated_and_foreign_files_name_the_offset() {
        let p = Path::new("t.dat");
        let err = parse(&[0x01], p).unwrap_err().to_string();
        assert!(err.contains("t.dat") && err.contains("at byte 1"), "{err}");
        let mut data = int(1);
        data.extend(int(9));
        data.extend(b"loss_mmod");
        let err = parse(&data, p).unwrap_err().to_string();
        assert!(err.contains("loss_mmod") && err.contains("at byte 2"), "{err}");
    }

    #[test]
    fn version_nesting_of_the_resnet_has_130_wrappers() {
        // 108 layers (29 convolutions, 29 affine, 29 ReLUs, the max pool, 14 residual sums,
        // 4 shortcut pools, the global average, the dense layer) and 22 tags and skips (one
        // tag per block, a second tag and a skip per down block).
        let v = versions_of(&ModelConfig::resnet150().tower);
        assert_eq!(v.len(), 130);
        assert_eq!(v.last(), Some(&3));
        assert_eq!(v.iter().filter(|&&x| x == 1).count(), 14 + 2 * 4);
    }
}
