//! Model files: safetensors weights with the `ModelConfig` inside the file's metadata (and, for a
//! model directory, also as `config.json` beside it), so a file always says what it holds.
//! A checkpoint is the same file plus the optimiser's state and the trainer's own JSON.
//!
//! Loading checks every tensor against the layout that the config implies and names the file and
//! tensor that do not fit. Files are written to a temporary name and renamed, so a crash while
//! saving leaves the previous file intact.
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, View};

use super::optimizer::{Counters, Optimizer};
use super::params::Params;
use crate::config::{ModelConfig, OptimizerConfig};
use crate::error::{Error, Result};

pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.json";
const KEY_CONFIG: &str = "siamface.config";
const KEY_OPTIMIZER: &str = "siamface.optimizer";
const KEY_COUNTERS: &str = "siamface.counters";
const KEY_TRAINER: &str = "siamface.trainer";
const OPT_M: &str = "optimizer.m";
const OPT_V: &str = "optimizer.v";

pub struct Checkpoint {
    pub config: ModelConfig,
    pub params: Params,
    pub optimizer: Option<Optimizer>,
    /// Whatever the trainer stored (epoch history, RNG state), as JSON.
    pub trainer: Option<String>,
    /// The int8 calibration beside the weights of a model directory (`int8.json`), if any; a
    /// file that does not read is an error only for int8 (`Siamese::load`).
    pub int8: Option<Result<super::int8::Calibration>>,
}

struct F32s<'a>(&'a [f32], Vec<usize>);

impl View for F32s<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.1
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
    fn data_len(&self) -> usize {
        self.0.len() * 4
    }
}

/// The weights file of `path`: the path itself if it names a file, else `model.safetensors` in it.
pub fn weights_path(path: &Path) -> PathBuf {
    if path.extension().is_some_and(|e| e == "safetensors") { path.to_path_buf() } else { path.join(WEIGHTS_FILE) }
}

/// Saves a model (`optimizer` and `trainer` absent) or a checkpoint. A path without the
/// `.safetensors` extension is a directory that receives `model.safetensors` and `config.json`.
pub fn save(path: &Path, config: &ModelConfig, params: &Params, optimizer: Option<&Optimizer>, trainer: Option<&str>) -> Result<()> {
    let file = weights_path(path);
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let config_json = serde_json::to_string_pretty(config).expect("config serialises");
    let mut meta = HashMap::from([(KEY_CONFIG.to_string(), config_json.clone())]);
    let mut tensors: Vec<(String, F32s)> = params.specs.iter().map(|s| (s.name.clone(), F32s(&params.data[s.range()], s.shape.clone()))).collect();
    if let Some(o) = optimizer {
        meta.insert(KEY_OPTIMIZER.into(), serde_json::to_string(&o.config).expect("optimizer config serialises"));
        meta.insert(KEY_COUNTERS.into(), serde_json::to_string(&o.counters).expect("counters serialise"));
        tensors.push((OPT_M.into(), F32s(&o.m, vec![o.m.len()])));
        tensors.push((OPT_V.into(), F32s(&o.v, vec![o.v.len()])));
    }
    if let Some(t) = trainer {
        meta.insert(KEY_TRAINER.into(), t.to_string());
    }
    let tmp = file.with_extension("safetensors.tmp");
    safetensors::serialize_to_file(tensors, Some(meta), &tmp).map_err(|e| Error::ModelFile { path: tmp.clone(), reason: e.to_string() })?;
    std::fs::rename(&tmp, &file).map_err(|e| Error::io(&file, e))?;
    if file != path {
        let cfg_path = path.join(CONFIG_FILE);
        std::fs::write(&cfg_path, config_json).map_err(|e| Error::io(&cfg_path, e))?;
    }
    Ok(())
}

/// Loads a model or checkpoint saved by `save` (a `.safetensors` file or a model directory).
pub fn load(path: &Path) -> Result<Checkpoint> {
    let file = weights_path(path);
    let bytes = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
    let mut ck = parse(&bytes, &file)?;
    if file != path {
        ck.int8 = super::int8::Calibration::read(path).transpose();
    }
    Ok(ck)
}

/// A model file's bytes (already in memory, e.g. the model built into the binary); `file` names
/// it in errors. The config must be in the file's metadata.
pub fn parse(bytes: &[u8], file: &Path) -> Result<Checkpoint> {
    let file = file.to_path_buf();
    let bad = |reason: String| Error::ModelFile { path: file.clone(), reason };
    let st = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let config_text = match meta.get(KEY_CONFIG) {
        Some(t) => t.clone(),
        None => {
            let side = file.with_file_name(CONFIG_FILE);
            std::fs::read_to_string(&side).map_err(|_| bad(format!("no `{KEY_CONFIG}` metadata and no readable {}", side.display())))?
        }
    };
    let config: ModelConfig = serde_json::from_str(&config_text).map_err(|e| bad(format!("model config: {e}")))?;
    config.validate().map_err(|e| bad(e.to_string()))?;
    let mut params = Params::zeros(&config).map_err(|e| bad(e.to_string()))?;
    for spec in params.specs.clone() {
        read_into(&st, &file, &spec.name, &spec.shape, &mut params.data[spec.range()])?;
    }
    let known: Vec<&str> = params.specs.iter().map(|s| s.name.as_str()).chain([OPT_M, OPT_V]).collect();
    if let Some(extra) = st.names().into_iter().find(|n| !known.contains(n)) {
        return Err(bad(format!("unexpected tensor `{extra}` for this config")));
    }
    let optimizer = match meta.get(KEY_OPTIMIZER) {
        None => None,
        Some(text) => {
            let oc: OptimizerConfig = serde_json::from_str(text).map_err(|e| bad(format!("optimizer config: {e}")))?;
            let counters: Counters = meta.get(KEY_COUNTERS).map(|c| serde_json::from_str(c)).transpose().map_err(|e| bad(format!("optimizer counters: {e}")))?.unwrap_or_default();
            let n = params.data.len();
            let m = read_vec(&st, &file, OPT_M, n)?;
            let v = if matches!(oc, OptimizerConfig::Adam { .. }) { read_vec(&st, &file, OPT_V, n)? } else { Vec::new() };
            Some(Optimizer::restore(oc, &params, counters, m, v).map_err(|e| bad(e.to_string()))?)
        }
    };
    Ok(Checkpoint { config, params, optimizer, trainer: meta.get(KEY_TRAINER).cloned(), int8: None })
}

fn read_vec(st: &SafeTensors, file: &Path, name: &str, n: usize) -> Result<Vec<f32>> {
    let mut v = vec![0f32; n];
    read_into(st, file, name, &[n], &mut v)?;
    Ok(v)
}

fn read_into(st: &SafeTensors, file: &Path, name: &str, shape: &[usize], out: &mut [f32]) -> Result<()> {
    let err = |expected: String, found: String| Error::Tensor { path: file.to_path_buf(), tensor: name.to_string(), expected, found };
    let t = st.tensor(name).map_err(|_| err("a tensor of this name".into(), "none".into()))?;
    if t.shape() != shape {
        return Err(err(format!("shape {shape:?}"), format!("shape {:?}", t.shape())));
    }
    match t.dtype() {
        Dtype::F32 => {
            for (o, b) in out.iter_mut().zip(t.data().chunks_exact(4)) {
                *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        Dtype::F16 => {
            for (o, b) in out.iter_mut().zip(t.data().chunks_exact(2)) {
                *o = f16_to_f32(u16::from_le_bytes([b[0], b[1]]));
            }
        }
        Dtype::BF16 => {
            for (o, b) in out.iter_mut().zip(t.data().chunks_exact(2)) {
                *o = f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16);
            }
        }
        other => return Err(err("dtype F32, F16 or BF16".into(), format!("dtype {other:?}"))),
    }
    if let Some(i) = out.iter().position(|v| !v.is_finite()) {
        return Err(err("finite values".into(), format!("{} at element {i}", out[i])));
    }
    Ok(())
}

/// IEEE half to single precision, subnormals included.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match exp {
        0 if frac == 0 => sign,
        0 => {
            // Subnormal: value = frac * 2^-24.
            let v = frac as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        31 => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 112) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_known_values() {
        // 0x3c00 = 1.0, 0xc000 = -2.0, 0x3555 = 0.333251953125, 0x0001 = 2^-24, 0x7bff = 65504.
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
    }
}
