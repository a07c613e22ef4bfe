//! Saving and loading models and checkpoints, and what happens with files that are wrong.
use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use siamface::model::{io, Optimizer, Params, Siamese, TrainState};
use siamface::rng::Rng;
use siamface::{ModelConfig, OptimizerConfig};

fn small() -> ModelConfig {
    let mut c = ModelConfig::koch105();
    (c.height, c.width, c.embedding) = (64, 64, 16);
    for l in &mut c.conv {
        l.filters = 4;
    }
    c
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("siamface-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn model_directory_roundtrip_keeps_config_and_weights() {
    let cfg = small();
    let params = Params::init(&cfg, &mut Rng::new(1)).unwrap();
    let dir = tmp("roundtrip").join("model");
    io::save(&dir, &cfg, &params, None, None).unwrap();
    assert!(dir.join("config.json").exists() && dir.join("model.safetensors").exists());
    let back = io::load(&dir).unwrap();
    assert_eq!(back.config, cfg);
    assert_eq!(back.params, params);
    assert!(back.optimizer.is_none());
    // The weights file alone also says what it is.
    std::fs::remove_file(dir.join("config.json")).unwrap();
    assert_eq!(io::load(&dir.join("model.safetensors")).unwrap().config, cfg);
}

#[test]
fn checkpoint_resumes_the_same_optimizer_state() {
    let cfg = small();
    let params = Params::init(&cfg, &mut Rng::new(2)).unwrap();
    let mut net = Siamese::new(cfg.clone(), params, 1).unwrap();
    let mut opt = Optimizer::new(OptimizerConfig::adam(), net.params()).unwrap();
    let mut rng = Rng::new(3);
    let images: Vec<f32> = (0..4 * cfg.input_len()).map(|_| rng.uniform() as f32).collect();
    let (pairs, labels) = ([(0u32, 1u32), (2, 3)], [1.0f32, 0.0]);
    let mut state = TrainState::new(&net).unwrap();
    state.forward_backward(&net, &images, &pairs, &labels).unwrap();
    net.apply(&mut opt, state.grads()).unwrap();
    let file = tmp("ckpt").join("last.safetensors");
    io::save(&file, &cfg, net.params(), Some(&opt), Some("{\"epoch\":1}")).unwrap();
    let ck = io::load(&file).unwrap();
    let o = ck.optimizer.expect("optimizer state");
    assert_eq!((o.m.clone(), o.v.clone(), o.counters), (opt.m.clone(), opt.v.clone(), opt.counters));
    assert_eq!(ck.trainer.as_deref(), Some("{\"epoch\":1}"));

    // One more step from the restored state (and fresh buffers) equals one more step from the
    // live one.
    let (mut a, mut b) = (net, Siamese::new(ck.config, ck.params, 1).unwrap());
    let (mut ob, mut sb) = (o, TrainState::new(&b).unwrap());
    for (n, o, s) in [(&mut a, &mut opt, &mut state), (&mut b, &mut ob, &mut sb)] {
        s.forward_backward(n, &images, &pairs, &labels).unwrap();
        n.apply(o, s.grads()).unwrap();
    }
    assert_eq!(a.params(), b.params());
}

fn write_tensors(path: &Path, cfg: &ModelConfig, tensors: Vec<(String, Vec<usize>, Vec<f32>)>) {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> =
        tensors.into_iter().map(|(n, s, v)| (n, s, v.iter().flat_map(|x| x.to_le_bytes()).collect())).collect();
    let views: Vec<(String, TensorView)> =
        bytes.iter().map(|(n, s, b)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), b).unwrap())).collect();
    let meta = HashMap::from([("siamface.config".to_string(), serde_json::to_string(cfg).unwrap())]);
    safetensors::serialize_to_file(views, Some(meta), path).unwrap();
}

fn tensors_of(params: &Params) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    params.specs.iter().map(|s| (s.name.clone(), s.shape.clone(), params.data[s.range()].to_vec())).collect()
}

#[test]
fn wrong_shape_names_the_file_and_tensor() {
    let cfg = small();
    let params = Params::zeros(&cfg).unwrap();
    let mut t = tensors_of(&params);
    let conv2 = t.iter_mut().find(|x| x.0 == "conv2.weight").unwrap();
    conv2.1 = vec![conv2.2.len()];
    let file = tmp("shape").join("m.safetensors");
    write_tensors(&file, &cfg, t);
    let err = io::load(&file).err().expect("must fail").to_string();
    assert!(err.contains("m.safetensors") && err.contains("conv2.weight") && err.contains("shape"), "{err}");
}

#[test]
fn missing_tensor_and_non_finite_values_are_rejected() {
    let cfg = small();
    let params = Params::zeros(&cfg).unwrap();
    let dir = tmp("missing");
    let t: Vec<_> = tensors_of(&params).into_iter().filter(|x| x.0 != "head.bias").collect();
    write_tensors(&dir.join("a.safetensors"), &cfg, t);
    let err = io::load(&dir.join("a.safetensors")).err().unwrap().to_string();
    assert!(err.contains("head.bias"), "{err}");

    let mut t = tensors_of(&params);
    t.iter_mut().find(|x| x.0 == "dense.bias").unwrap().2[3] = f32::NAN;
    write_tensors(&dir.join("b.safetensors"), &cfg, t);
    let err = io::load(&dir.join("b.safetensors")).err().unwrap().to_string();
    assert!(err.contains("dense.bias") && err.contains("finite"), "{err}");
}

#[test]
fn truncated_or_foreign_files_are_errors_naming_the_file() {
    let cfg = small();
    let params = Params::zeros(&cfg).unwrap();
    let dir = tmp("truncated");
    let file = dir.join("m.safetensors");
    io::save(&file, &cfg, &params, None, None).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let err = io::load(&file).err().unwrap().to_string();
    assert!(err.contains("m.safetensors") && err.contains("not a valid model file"), "{err}");

    std::fs::write(dir.join("junk.safetensors"), b"hello, not a model").unwrap();
    let err = io::load(&dir.join("junk.safetensors")).err().unwrap().to_string();
    assert!(err.contains("junk.safetensors"), "{err}");

    let err = io::load(&dir.join("absent")).err().unwrap().to_string();
    assert!(err.contains("absent"), "{err}");
}

#[test]
fn saving_over_a_model_replaces_it_whole() {
    let cfg = small();
    let dir = tmp("replace").join("m");
    let a = Params::init(&cfg, &mut Rng::new(5)).unwrap();
    let b = Params::init(&cfg, &mut Rng::new(6)).unwrap();
    io::save(&dir, &cfg, &a, None, None).unwrap();
    io::save(&dir, &cfg, &b, None, None).unwrap();
    assert_eq!(io::load(&dir).unwrap().params, b);
    assert!(!dir.join("model.safetensors.tmp").exists());
}
