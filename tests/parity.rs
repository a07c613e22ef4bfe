//! siamface against TensorFlow on a tiny network: the fixture holds weights, inputs, outputs and
//! gradients computed by `tools/parity_fixture.py` (TensorFlow, float64).
use safetensors::SafeTensors;
use siamface::model::{Params, Siamese, TrainState};
use siamface::ModelConfig;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/parity_tiny.safetensors");

fn f32s(st: &SafeTensors, name: &str) -> Vec<f32> {
    let t = st.tensor(name).unwrap_or_else(|_| panic!("fixture lacks {name}"));
    t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// max |got - want| / max |want| over a tensor.
fn rel_err(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0f64, |m, v| m.max(v.abs() as f64));
    let diff = got.iter().zip(want).fold(0f64, |m, (g, w)| m.max((*g as f64 - *w as f64).abs()));
    diff / scale.max(1e-12)
}

#[test]
fn model_matches_tensorflow_parity_fixture() {
    let bytes = std::fs::read(FIXTURE).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().unwrap();
    let config: ModelConfig = serde_json::from_str(&meta["siamface.config"]).unwrap();
    let mut params = Params::zeros(&config).unwrap();
    for spec in params.specs.clone() {
        params.data[spec.range()].copy_from_slice(&f32s(&st, &spec.name));
    }
    let images = f32s(&st, "input");
    let pairs: Vec<(u32, u32)> = st
        .tensor("pairs")
        .unwrap()
        .data()
        .chunks_exact(8)
        .map(|b| (i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u32, i32::from_le_bytes([b[4], b[5], b[6], b[7]]) as u32))
        .collect();
    let labels = f32s(&st, "labels");

    for threads in [1, 2] {
        let net = Siamese::new(config.clone(), params.clone(), threads).unwrap();
        let mut state = TrainState::new(&net).unwrap();
        let out = state.forward_backward(&net, &images, &pairs, &labels).unwrap();
        let want_loss = f32s(&st, "loss")[0] as f64;
        assert!((out.loss - want_loss).abs() <= 1e-4 * want_loss, "loss {} vs {want_loss}", out.loss);
        let e = rel_err(state.last_logits(), &f32s(&st, "logits"));
        assert!(e <= 1e-4, "logits: relative error {e}");
        for spec in &params.specs {
            let want = f32s(&st, &format!("grad.{}", spec.name));
            assert!(want.iter().any(|v| *v != 0.0), "fixture gradient of {} is all zero", spec.name);
            let e = rel_err(&state.grads()[spec.range()], &want);
            assert!(e <= 1e-4, "gradient of {} ({threads} threads): relative error {e}", spec.name);
        }
        let mut emb = vec![0f32; images.len() / config.input_len() * config.embedding];
        net.embed(&images, &mut emb).unwrap();
        let e = rel_err(&emb, &f32s(&st, "embedding"));
        assert!(e <= 1e-4, "embeddings: relative error {e}");
    }
}
