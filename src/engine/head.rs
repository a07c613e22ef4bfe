//! Koch's head: `logit = b + sum_j a_j |e1_j - e2_j|`, the learned weighted L1 distance between
//! two embeddings. Scoring one query against many cached embeddings reuses the same kernel, so
//! identification is exactly the pair score, only batched.
use rayon::prelude::*;

use super::act::sigmoid1;

/// One logit per pair; a pair is two row indices into the embedding matrix `e` (`rows x d`).
pub fn forward(e: &[f32], d: usize, pairs: &[(u32, u32)], a: &[f32], b: f32, logits: &mut [f32]) {
    assert_eq!(a.len(), d, "head weight length");
    assert_eq!(logits.len(), pairs.len(), "one logit per pair");
    for (l, &(i, j)) in logits.iter_mut().zip(pairs) {
        *l = b + weighted_l1(row(e, d, i), row(e, d, j), a);
    }
}

/// Given `dlogits`, writes `da`, `db` and adds into `de` (`rows x d`, zeroed by the caller).
#[allow(clippy::too_many_arguments)]
pub fn backward(e: &[f32], d: usize, pairs: &[(u32, u32)], a: &[f32], dlogits: &[f32], da: &mut [f32], db: &mut f32, de: &mut [f32]) {
    da.fill(0.0);
    *db = dlogits.iter().sum();
    for (&g, &(i, j)) in dlogits.iter().zip(pairs) {
        let (i, j) = (i as usize * d, j as usize * d);
        for k in 0..d {
            let diff = e[i + k] - e[j + k];
            da[k] += g * diff.abs();
            // d|u|/du = sign(u), taken as 0 at u = 0.
            let s = if diff > 0.0 { g * a[k] } else if diff < 0.0 { -g * a[k] } else { 0.0 };
            de[i + k] += s;
            de[j + k] -= s;
        }
    }
}

fn row(e: &[f32], d: usize, i: u32) -> &[f32] {
    &e[i as usize * d..(i as usize + 1) * d]
}

super::multiversion! {
/// `sum_j a_j |u_j - v_j|`.
pub fn weighted_l1(u: &[f32], v: &[f32], a: &[f32]) -> f32 {
    // Eight independent accumulators let the compiler vectorise without reassociation rules.
    let mut acc = [0f32; 8];
    let (uc, vc, ac) = (u.chunks_exact(8), v.chunks_exact(8), a.chunks_exact(8));
    let tail: f32 = uc.remainder().iter().zip(vc.remainder()).zip(ac.remainder()).map(|((x, y), w)| w * (x - y).abs()).sum();
    for ((x, y), w) in uc.zip(vc).zip(ac) {
        for k in 0..8 {
            acc[k] += w[k] * (x[k] - y[k]).abs();
        }
    }
    acc.iter().sum::<f32>() + tail
}
}

/// Probability that `query` shows the same identity as each row of `gallery` (`n x d`).
pub fn score_many(query: &[f32], gallery: &[f32], a: &[f32], b: f32, out: &mut [f32]) {
    let d = query.len();
    assert_eq!(gallery.len(), out.len() * d, "gallery length");
    out.par_iter_mut()
        .zip(gallery.par_chunks_exact(d))
        .with_min_len(256)
        .for_each(|(o, g)| *o = sigmoid1(b + weighted_l1(query, g, a)));
}

/// `||u - v||`, accumulated in f64 so a million gallery rows rank exactly as the distance does.
pub fn euclidean(u: &[f32], v: &[f32]) -> f32 {
    u.iter().zip(v).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>().sqrt() as f32
}

/// `out[i] = sigmoid(b + a * ||query - gallery_i||)` for every row, on the current thread pool.
pub fn score_many_euclidean(query: &[f32], gallery: &[f32], a: f32, b: f32, out: &mut [f32]) {
    let d = query.len();
    assert_eq!(gallery.len(), out.len() * d, "gallery length");
    out.par_iter_mut()
        .zip(gallery.par_chunks_exact(d))
        .with_min_len(256)
        .for_each(|(o, g)| *o = sigmoid1(b + a * euclidean(query, g)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{gradcheck, reference};

    #[test]
    fn euclidean_scores_fall_with_distance_and_match_the_formula() {
        let q = [0.0f32, 0.0];
        let g = [3.0f32, 4.0, 0.3, 0.4, 0.0, 0.0];
        let mut out = [0f32; 3];
        score_many_euclidean(&q, &g, -2.0, 1.0, &mut out);
        for (o, d) in out.iter().zip([5.0f32, 0.5, 0.0]) {
            assert!((o - 1.0 / (1.0 + (-(1.0 - 2.0 * d)).exp())).abs() < 1e-6, "{out:?}");
        }
        assert!(out[0] < out[1] && out[1] < out[2]);
    }

    #[test]
    fn forward_is_the_weighted_l1_plus_bias() {
        // e0 = [1, 2, 3], e1 = [0, 4, 3]: |diff| = [1, 2, 0]; a = [0.5, -1, 7] -> 0.5 - 2 + 0 + b.
        let e = [1.0f32, 2.0, 3.0, 0.0, 4.0, 3.0];
        let mut l = [0f32; 1];
        forward(&e, 3, &[(0, 1)], &[0.5, -1.0, 7.0], 0.25, &mut l);
        assert_eq!(l[0], -1.25);
    }

    #[test]
    fn weighted_l1_handles_lengths_around_the_unroll() {
        for n in [0usize, 1, 7, 8, 9, 17] {
            let u: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let v: Vec<f32> = (0..n).map(|i| (i * i) as f32 * 0.5).collect();
            let a: Vec<f32> = (0..n).map(|i| 1.0 + i as f32).collect();
            let want: f32 = (0..n).map(|i| a[i] * (u[i] - v[i]).abs()).sum();
            assert!((weighted_l1(&u, &v, &a) - want).abs() <= 1e-3 * want.max(1.0), "n {n}");
        }
    }

    #[test]
    fn backward_passes_central_difference_check() {
        let d = 4;
        let e = [0.1f32, 0.9, 0.4, 0.3, 0.7, 0.2, 0.45, 0.8, 0.5, 0.5, 0.1, 0.05];
        let a = [0.3f32, -0.2, 1.5, 0.7];
        let pairs = [(0u32, 1u32), (2, 0), (1, 2)];
        let r = [0.5f32, -1.0, 2.0];
        // Loss = sum(logits * r), so dlogits = r.
        let (e64, a64, r64) = (reference::widen(&e), reference::widen(&a), reference::widen(&r));
        let loss = |e: &[f64], a: &[f64], b: f64| reference::dot(&reference::head64(e, d, &pairs, a, b), &r64);
        let (mut da, mut db, mut de) = ([0f32; 4], 0f32, [0f32; 12]);
        backward(&e, d, &pairs, &a, &r, &mut da, &mut db, &mut de);
        gradcheck::check(&e, &de, |v| loss(v, &a64, 0.1), "de");
        gradcheck::check(&a, &da, |v| loss(&e64, v, 0.1), "da");
        gradcheck::check(&[0.1], &[db], |v| loss(&e64, &a64, v[0]), "db");
    }

    #[test]
    fn score_many_matches_pairwise_forward() {
        let d = 5;
        let gallery: Vec<f32> = (0..1000 * d).map(|i| ((i * 37) % 101) as f32 / 101.0).collect();
        let query: Vec<f32> = (0..d).map(|i| i as f32 / 5.0).collect();
        let a = [0.2f32, -0.4, 0.9, 0.1, -0.3];
        let mut out = vec![0f32; 1000];
        score_many(&query, &gallery, &a, 0.3, &mut out);
        // The training head's own forward pass over the same pairs (query, row k) is the
        // reference: identification must score as training did.
        let mut e = query.clone();
        e.extend_from_slice(&gallery);
        let pairs: Vec<(u32, u32)> = (0..1000).map(|k| (0, k + 1)).collect();
        let mut logits = vec![0f32; 1000];
        forward(&e, d, &pairs, &a, 0.3, &mut logits);
        for (k, (o, z)) in out.iter().zip(&logits).enumerate() {
            let want = 1.0 / (1.0 + (-(*z as f64)).exp());
            assert!((*o as f64 - want).abs() < 1e-6, "row {k}: {o} vs {want}");
        }
    }
}
