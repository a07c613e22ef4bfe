//! Koch's head, `p = sigmoid(b + sum_j a_j |h1_j - h2_j|)`, on embeddings computed once: its
//! score, and its fit alone over a frozen tower, which is a logistic regression on the pairs'
//! absolute differences, full batch, in milliseconds, so LFW's ten folds are ten trainings.
//! Evaluation (`eval::face_protocol`) and fine-tuning (`train::finetune`) both fit it.

/// Koch's weighted-L1 head (`a`, `b`) on two embeddings, in f64.
pub fn score(a: &[f32], b: f32, u: &[f32], v: &[f32]) -> f64 {
    let z = b as f64 + u.iter().zip(v).zip(a).map(|((x, y), w)| ((x - y).abs() * w) as f64).sum::<f64>();
    1.0 / (1.0 + (-z).exp())
}

/// A labelled pair of rows of an embedding matrix.
#[derive(Clone, Copy, Debug)]
pub struct Pair {
    pub a: usize,
    pub b: usize,
    pub same: bool,
}

/// Fitting options: Adam steps over the whole set and an L2 pull of the weights towards their
/// starting value (a distance: every weight equal), which keeps 128 weights fitted on a few
/// thousand pairs from chasing noise.
#[derive(Clone, Copy, Debug)]
pub struct Fit {
    pub steps: usize,
    pub lr: f64,
    pub l2: f64,
}

impl Default for Fit {
    fn default() -> Self {
        Fit { steps: 3000, lr: 0.05, l2: 1e-3 }
    }
}

/// The head's weights `a` (one per dimension) and bias `b` for `pairs` among the rows of `emb`
/// (`dim` wide), starting from the plain L1 distance head `start` (`a`, `b`).
pub fn fit(emb: &[f32], dim: usize, pairs: &[Pair], start: (&[f32], f32), opt: Fit) -> (Vec<f32>, f32) {
    let n = pairs.len();
    if n == 0 {
        return (start.0.to_vec(), start.1);
    }
    let feats: Vec<f64> = pairs
        .iter()
        .flat_map(|p| {
            let (u, v) = (&emb[p.a * dim..][..dim], &emb[p.b * dim..][..dim]);
            u.iter().zip(v).map(|(x, y)| (x - y).abs() as f64).collect::<Vec<_>>()
        })
        .collect();
    let a0: Vec<f64> = start.0.iter().map(|v| *v as f64).collect();
    let mut w: Vec<f64> = a0.clone();
    w.push(start.1 as f64);
    let (mut m, mut v) = (vec![0.0; dim + 1], vec![0.0; dim + 1]);
    let (b1, b2, eps) = (0.9, 0.999, 1e-8);
    let mut g = vec![0.0; dim + 1];
    for t in 1..=opt.steps {
        g.fill(0.0);
        for (k, p) in pairs.iter().enumerate() {
            let f = &feats[k * dim..][..dim];
            let z = w[dim] + f.iter().zip(&w).map(|(x, a)| x * a).sum::<f64>();
            let err = 1.0 / (1.0 + (-z).exp()) - if p.same { 1.0 } else { 0.0 };
            for (gj, x) in g.iter_mut().zip(f) {
                *gj += err * x;
            }
            g[dim] += err;
        }
        for j in 0..=dim {
            g[j] /= n as f64;
            if j < dim {
                g[j] += opt.l2 * (w[j] - a0[j]);
            }
            m[j] = b1 * m[j] + (1.0 - b1) * g[j];
            v[j] = b2 * v[j] + (1.0 - b2) * g[j] * g[j];
            let (mh, vh) = (m[j] / (1.0 - b1.powi(t as i32)), v[j] / (1.0 - b2.powi(t as i32)));
            w[j] -= opt.lr * mh / (vh.sqrt() + eps);
        }
    }
    (w[..dim].iter().map(|x| *x as f32).collect(), w[dim] as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn learns_which_dimensions_tell_people_apart() {
        // Two dimensions: the first differs a lot between different people and little within
        // a person, the second is noise for both. The fitted head must weigh the first more
        // and separate the pairs.
        let mut rng = Rng::new(7);
        let (mut emb, mut pairs) = (Vec::new(), Vec::new());
        for i in 0..200 {
            let same = i % 2 == 0;
            let spread = if same { 0.1 } else { 1.0 };
            let x = rng.uniform() as f32;
            emb.extend([x, rng.uniform() as f32]);
            emb.extend([x + spread * (rng.uniform() as f32 - 0.5) * 2.0, rng.uniform() as f32]);
            pairs.push(Pair { a: 2 * i, b: 2 * i + 1, same });
        }
        let (a, b) = fit(&emb, 2, &pairs, (&[-1.0, -1.0], 0.5), Fit::default());
        assert!(a[0] < a[1] - 1.0, "weights {a:?}");
        let correct = pairs
            .iter()
            .filter(|p| {
                let z = b + (0..2).map(|j| a[j] * (emb[p.a * 2 + j] - emb[p.b * 2 + j]).abs()).sum::<f32>();
                (z > 0.0) == p.same
            })
            .count();
        assert!(correct > 160, "{correct} of 200");
    }
}
