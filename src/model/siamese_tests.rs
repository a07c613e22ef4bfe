//! Tests of the twin network: gradients against central differences, batches split over
//! threads, and refused shapes.
use super::*;
use crate::config::ConvLayer;
use crate::model::TrainState;
use crate::engine::gradcheck;
use crate::rng::Rng;

fn tiny() -> ModelConfig {
    ModelConfig::koch(13, 12, 2, vec![
            ConvLayer { filters: 3, kernel: 3, pool: true },
            ConvLayer { filters: 4, kernel: 2, pool: true },
            ConvLayer { filters: 3, kernel: 2, pool: false },
        ], 5)
}

fn random_params(cfg: &ModelConfig, rng: &mut Rng) -> Params {
    let mut p = Params::zeros(cfg).unwrap();
    for s in p.specs.clone() {
        let sd = if s.name.ends_with("bias") { 0.1 } else { 0.4 };
        rng.fill_normal(&mut p.data[s.range()], 0.05, sd);
    }
    p
}

#[test]
fn whole_model_gradient_passes_central_difference_check() {
    let cfg = tiny();
    let mut rng = Rng::new(11);
    let params = random_params(&cfg, &mut rng);
    let images: Vec<f32> = (0..4 * cfg.input_len()).map(|_| rng.uniform() as f32).collect();
    let pairs = [(0u32, 1u32), (2, 3), (1, 2), (3, 0)];
    let labels = [1.0f32, 0.0, 1.0, 0.0];
    for threads in [1, 2] {
        let net = Siamese::new(cfg.clone(), params.clone(), threads).unwrap();
        let mut state = TrainState::new(&net).unwrap();
        state.forward_backward(&net, &images, &pairs, &labels).unwrap();
        let grads = state.grads().to_vec();
        let mut probe = Siamese::new(cfg.clone(), params.clone(), 1).unwrap();
        let mut probe_state = TrainState::new(&probe).unwrap();
        for spec in params.specs.clone() {
            let r = spec.range();
            assert!(grads[r.clone()].iter().any(|g| g.abs() > 1e-4), "{}: gradient vanished", spec.name);
            let mut loss = |v: &[f32]| -> f64 {
                probe.params_mut().data[r.clone()].copy_from_slice(v);
                probe_state.forward_backward(&probe, &images, &pairs, &labels).unwrap().loss
            };
            gradcheck::check_f32(&params.data[r.clone()], &grads[r.clone()], &mut loss, &spec.name);
            probe.params_mut().data[r.clone()].copy_from_slice(&params.data[r.clone()]);
        }
    }
}

#[test]
fn batch_split_over_threads_gives_the_same_embeddings() {
    let cfg = tiny();
    let mut rng = Rng::new(12);
    let params = random_params(&cfg, &mut rng);
    let images: Vec<f32> = (0..7 * cfg.input_len()).map(|_| rng.uniform() as f32).collect();
    let mut outs = Vec::new();
    for threads in [1, 2, 3] {
        let net = Siamese::new(cfg.clone(), params.clone(), threads).unwrap();
        let mut out = vec![0f32; 7 * cfg.embedding];
        net.embed(&images, &mut out).unwrap();
        // One image at a time takes the multi-threaded-GEMM path.
        let mut one = vec![0f32; cfg.embedding];
        net.embed(&images[..cfg.input_len()], &mut one).unwrap();
        gradcheck::assert_close(&one, &out[..cfg.embedding], 1e-5, "single vs batch");
        let mut s = net.scratch();
        let shared = net.embed_with(&images[..cfg.input_len()], &mut s).unwrap();
        gradcheck::assert_close(&shared, &out[..cfg.embedding], 1e-5, "shared model vs batch");
        outs.push(out);
    }
    gradcheck::assert_close(&outs[1], &outs[0], 1e-5, "2 threads");
    gradcheck::assert_close(&outs[2], &outs[0], 1e-5, "3 threads");
}

#[test]
fn wrong_batch_length_is_an_error_not_a_panic() {
    let cfg = tiny();
    let net = Siamese::new(cfg.clone(), Params::zeros(&cfg).unwrap(), 1).unwrap();
    let err = net.embed(&[0.0; 10], &mut []).unwrap_err().to_string();
    assert!(err.contains("image batch") && err.contains("13x12x2"), "{err}");
    let images = vec![0f32; 2 * cfg.input_len()];
    let mut state = TrainState::new(&net).unwrap();
    let err = state.forward_backward(&net, &images, &[(0, 2)], &[1.0]).unwrap_err().to_string();
    assert!(err.contains("pair"), "{err}");
}

#[test]
fn threads_sharing_one_model_embed_what_it_embeds_alone() {
    fn shared<T: Send + Sync>() {}
    shared::<Siamese>();
    let cfg = tiny();
    let mut rng = Rng::new(13);
    let net = Siamese::new(cfg.clone(), random_params(&cfg, &mut rng), 2).unwrap();
    let images: Vec<f32> = (0..5 * cfg.input_len()).map(|_| rng.uniform() as f32).collect();
    let mut alone = vec![0f32; 5 * cfg.embedding];
    net.embed(&images, &mut alone).unwrap();
    // Batched callers at once: one takes the model's kept buffers, the others make their own.
    let together: Vec<Vec<f32>> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    let mut out = vec![0f32; 5 * cfg.embedding];
                    net.embed(&images, &mut out).unwrap();
                    out
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    for out in together {
        assert_eq!(out, alone);
    }
}

#[test]
fn a_train_state_follows_the_model_it_is_given() {
    // A state made for one thread count, handed a model on another, sizes itself anew and gives
    // the gradients a state made for that model gives.
    let cfg = tiny();
    let mut rng = Rng::new(14);
    let params = random_params(&cfg, &mut rng);
    let images: Vec<f32> = (0..4 * cfg.input_len()).map(|_| rng.uniform() as f32).collect();
    let (pairs, labels) = ([(0u32, 1u32), (2, 3), (1, 3)], [1.0f32, 0.0, 0.0]);
    let (one, two) = (Siamese::new(cfg.clone(), params.clone(), 1).unwrap(), Siamese::new(cfg.clone(), params, 2).unwrap());
    let mut moved = TrainState::new(&one).unwrap();
    moved.forward_backward(&one, &images, &pairs, &labels).unwrap();
    let mut own = TrainState::new(&two).unwrap();
    let want = own.forward_backward(&two, &images, &pairs, &labels).unwrap();
    assert_eq!(moved.forward_backward(&two, &images, &pairs, &labels).unwrap(), want);
    assert_eq!(moved.grads(), own.grads());
    assert_eq!(moved.last_logits(), own.last_logits());
}

#[test]
fn an_update_with_gradients_of_another_model_is_an_error_not_a_panic() {
    let cfg = tiny();
    let mut net = Siamese::new(cfg.clone(), Params::zeros(&cfg).unwrap(), 1).unwrap();
    let mut opt = super::super::Optimizer::new(crate::config::OptimizerConfig::adam(), net.params()).unwrap();
    // No step yet: no gradients.
    let state = TrainState::new(&net).unwrap();
    let err = net.apply(&mut opt, state.grads()).unwrap_err().to_string();
    assert!(err.contains("gradients"), "{err}");
    assert_eq!(opt.counters.step, 0, "a refused update must not count as a step");
}

#[test]
fn a_layered_tower_gets_no_train_state() {
    let cfg = ModelConfig::resnet150();
    let net = Siamese::new(cfg.clone(), Params::zeros(&cfg).unwrap(), 1).unwrap();
    let err = TrainState::new(&net).err().expect("a layered tower is not trained end to end").to_string();
    assert!(err.contains("train-head"), "{err}");
}
