//! Verification on held-out pairs drawn as a training step draws them (half same, half
//! different), undistorted: `siamface eval verify`.
use std::path::Path;

use super::batch::{Augment, Batch, Mode};
use crate::data::omniglot::{self, Split};
use crate::error::Result;
use crate::eval::oneshot::omniglot_model;
use crate::eval::verification::{self, PairScores};
use crate::rng::Rng;

/// The model at `model` on `pairs` pairs (at least 2) of Omniglot's test alphabets (Lake's 10,
/// drawers 17-20) in the folder `omniglot`, drawn with `seed`; accuracy, precision and recall
/// at `threshold`.
pub fn verify(model: &Path, threads: usize, omniglot: &Path, pairs: usize, threshold: f64, seed: u64) -> Result<PairScores> {
    let (net, scale) = omniglot_model(model, threads, crate::engine::gemm::Precision::F32)?;
    let set = omniglot::load_split(omniglot, Split::Test, scale)?;
    let mut batch = Batch::default();
    batch.fill(&set, Mode::Pairs, pairs.max(2), Augment::None, &mut Rng::new(seed));
    let d = net.embedding_len();
    let mut emb = vec![0f32; batch.images.len() / net.config().input_len() * d];
    net.embed(&batch.images, &mut emb)?;
    let row = |i: u32| &emb[i as usize * d..(i as usize + 1) * d];
    let scores: Vec<f64> = batch.pairs.iter().map(|&(i, j)| net.score(row(i), row(j)) as f64).collect();
    let same: Vec<bool> = batch.labels.iter().map(|y| *y > 0.5).collect();
    let report = verification::report(&scores, &same, threshold);
    Ok(PairScores { report, model: model.display().to_string(), scores, same })
}
