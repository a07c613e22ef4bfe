//! Training steps of koch105 (32 pairs, Adam, 2 threads) in `f32` and bf16 in one process, for
//! profiling the step (`perf record target/release/examples/train_step bf16 10`) and for the
//! bf16 / f32 ratio: `cargo run --release --example train_step -- [f32|bf16|both] [steps]`.
use siamface::engine::gemm::Precision;
use siamface::model::{Optimizer, Params, Siamese, TrainState};
use siamface::rng::Rng;
use siamface::{ModelConfig, OptimizerConfig};
use std::time::Instant;

/// Median pairs per second over `steps` steps, after one untimed step.
fn pairs_per_s(p: Precision, steps: usize) -> f64 {
    let cfg = ModelConfig::preset("koch105").unwrap();
    let mut rng = Rng::new(0);
    let params = Params::init(&cfg, &mut rng).unwrap();
    let mut net = Siamese::new(cfg.clone(), params, 2).unwrap().with_precision(p).unwrap();
    let mut opt = Optimizer::new(OptimizerConfig::adam(), net.params()).unwrap();
    let mut st = TrainState::new(&net).unwrap();
    let n = 32;
    let images: Vec<f32> = (0..2 * n * cfg.input_len()).map(|_| rng.uniform() as f32).collect();
    let pairs: Vec<(u32, u32)> = (0..n as u32).map(|i| (i, n as u32 + i)).collect();
    let labels: Vec<f32> = (0..n).map(|i| (i % 2) as f32).collect();
    let mut ts = Vec::new();
    for i in 0..=steps {
        let t = Instant::now();
        st.forward_backward(&net, &images, &pairs, &labels).unwrap();
        net.apply(&mut opt, st.grads()).unwrap();
        if i > 0 {
            ts.push(t.elapsed().as_secs_f64());
        }
    }
    ts.sort_by(|a, b| a.total_cmp(b));
    n as f64 / ts[ts.len() / 2]
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "both".into());
    let steps: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(10).max(1);
    let f32 = (which != "bf16").then(|| pairs_per_s(Precision::F32, steps));
    let bf16 = (which != "f32").then(|| pairs_per_s(Precision::Bf16, steps));
    if let Some(v) = f32 {
        println!("f32:  {v:.1} pairs/s (median of {steps} steps)");
    }
    if let Some(v) = bf16 {
        println!("bf16: {v:.1} pairs/s (median of {steps} steps)");
    }
    if let (Some(a), Some(b)) = (f32, bf16) {
        println!("bf16 / f32: {:.2}x", b / a);
    }
}
