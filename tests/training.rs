//! Training sanity on real data: a reduced Koch network learns to verify Omniglot characters of
//! alphabets it never saw.
use std::path::PathBuf;

use siamface::data::omniglot::Omniglot;
use siamface::data::sampler::{self, Pair};
use siamface::model::{Optimizer, Params, Siamese, TrainState};
use siamface::rng::Rng;
use siamface::{ModelConfig, OptimizerConfig};

fn data() -> PathBuf {
    crate::common::shared("omniglot")
}

const SCALE: usize = 3;

fn batch(set: &Omniglot, pairs: &[Pair], il: usize) -> (Vec<f32>, Vec<(u32, u32)>, Vec<f32>) {
    let n = pairs.len();
    let mut images = vec![0f32; 2 * n * il];
    for (k, p) in pairs.iter().enumerate() {
        set.input(p.a.class, p.a.index, SCALE, &mut images[k * il..(k + 1) * il]);
        set.input(p.b.class, p.b.index, SCALE, &mut images[(n + k) * il..(n + k + 1) * il]);
    }
    let idx = (0..n as u32).map(|k| (k, n as u32 + k)).collect();
    (images, idx, pairs.iter().map(|p| p.same as u8 as f32).collect())
}

fn accuracy(net: &Siamese, set: &Omniglot, pairs: &[Pair], il: usize) -> f64 {
    let (images, idx, labels) = batch(set, pairs, il);
    let d = net.embedding_len();
    let mut emb = vec![0f32; images.len() / il * d];
    net.embed(&images, &mut emb).unwrap();
    let right = idx
        .iter()
        .zip(&labels)
        .filter(|((i, j), y)| {
            let p = net.score(&emb[*i as usize * d..(*i as usize + 1) * d], &emb[*j as usize * d..(*j as usize + 1) * d]);
            (p > 0.5) == (**y > 0.5)
        })
        .count();
    right as f64 / labels.len() as f64
}

#[test]
fn omniglot_training_lowers_loss_and_verifies_unseen_alphabets() {
    let train = Omniglot::load(&data().join("images_background.npz")).unwrap();
    let held_out = Omniglot::load(&data().join("images_evaluation.npz")).unwrap();
    let cfg = ModelConfig::small35();
    let il = cfg.input_len();
    let mut rng = Rng::new(2015);
    let mut net = Siamese::new(cfg.clone(), Params::init(&cfg, &mut rng).unwrap(), 0).unwrap();
    let mut opt = Optimizer::new(OptimizerConfig::Adam { lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }, net.params()).unwrap();
    let mut state = TrainState::new(&net).unwrap();

    let test_pairs = sampler::balanced(&mut Rng::new(7), &vec![held_out.drawers; held_out.characters], 600);
    let before = accuracy(&net, &held_out, &test_pairs, il);
    let sizes = vec![train.drawers; train.characters];
    let mut losses = Vec::new();
    for _ in 0..1500 {
        let (images, idx, labels) = batch(&train, &sampler::balanced(&mut rng, &sizes, 32), il);
        losses.push(state.forward_backward(&net, &images, &idx, &labels).unwrap().loss);
        net.apply(&mut opt, state.grads()).unwrap();
    }
    let after = accuracy(&net, &held_out, &test_pairs, il);
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    let (first, last) = (mean(&losses[..30]), mean(&losses[losses.len() - 30..]));
    eprintln!("loss {first:.3} -> {last:.3}; held-out verification accuracy {before:.3} -> {after:.3}");
    assert!(last < 0.8 * first, "loss did not fall: {first} -> {last}");
    assert!(after >= 0.70, "held-out accuracy {after} (before training {before})");
}
