//! What identification and verification compute from the cached embeddings: the matrix of every
//! enrolment image's embedding, the best match of a query, and the original app's rule for a
//! claimed identity. Nothing here touches the file.
use crate::error::Result;

/// What the gallery needs of a model: its head, scoring two embeddings, or one query against
/// every row of a matrix at once. The gallery borrows no more of the model than this.
pub trait Scorer {
    fn score(&self, a: &[f32], b: &[f32]) -> f32;
    /// `out[i]`: the query's score against row `i` of `rows`.
    fn score_many(&self, query: &[f32], rows: &[f32], out: &mut [f32]) -> Result<()>;
}

impl Scorer for crate::model::Siamese {
    fn score(&self, a: &[f32], b: &[f32]) -> f32 {
        crate::model::Siamese::score(self, a, b)
    }
    fn score_many(&self, query: &[f32], rows: &[f32], out: &mut [f32]) -> Result<()> {
        crate::model::Siamese::score_many(self, query, rows, out)
    }
}

/// Every cached embedding, row by row, with whose it is.
pub struct Matrix {
    pub names: Vec<String>,
    /// For each row, the index of its person in `names`.
    pub owner: Vec<usize>,
    pub rows: Vec<f32>,
    pub dim: usize,
}

impl Matrix {
    /// The query's score against each enrolment image of `name`, the input of `verify_rule`;
    /// `None` when `name` is not enrolled. Names match as the gallery
    /// compares them (NFC, any case).
    pub fn claim_scores(&self, net: &impl Scorer, name: &str, query: &[f32]) -> Option<Vec<f32>> {
        let key = super::name::key(name);
        let who = self.names.iter().position(|n| super::name::key(n) == key)?;
        let d = self.dim;
        Some(self.owner.iter().enumerate().filter(|(_, &o)| o == who).map(|(i, _)| net.score(query, &self.rows[i * d..(i + 1) * d])).collect())
    }
}

/// The best-matching person for a query embedding.
#[derive(Clone, Debug, PartialEq)]
pub struct Match {
    /// `None` when no one scores at or above the threshold ("unknown").
    pub name: Option<String>,
    /// The best score, whoever it belongs to.
    pub score: f32,
    pub nearest: Option<String>,
}

/// Scores `query` against every cached embedding at once (the learned head, vectorised and
/// spread over the model's threads); a person's score is their best image's.
pub fn identify(net: &impl Scorer, m: &Matrix, query: &[f32], threshold: f32, scratch: &mut Vec<f32>) -> Result<Match> {
    if m.owner.is_empty() {
        return Ok(Match { name: None, score: 0.0, nearest: None });
    }
    scratch.resize(m.owner.len(), 0.0);
    net.score_many(query, &m.rows, scratch)?;
    let (best_row, best) = scratch.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &s)| if s > b.1 { (i, s) } else { b });
    let nearest = m.names[m.owner[best_row]].clone();
    Ok(Match { name: (best >= threshold).then(|| nearest.clone()), score: best, nearest: Some(nearest) })
}

/// The original app's verification rule: an enrolment image "detects" the face when its score
/// reaches `detection`; the claim is accepted when the fraction of detecting images reaches
/// `verification`. Returns (accepted, fraction).
pub fn verify_rule(scores: &[f32], detection: f32, verification: f32) -> (bool, f32) {
    if scores.is_empty() {
        return (false, 0.0);
    }
    let fraction = scores.iter().filter(|&&s| s >= detection).count() as f32 / scores.len() as f32;
    (fraction >= verification, fraction)
}

/// The model fingerprint the gallery keeps with every embedding (`Params::fingerprint`).
pub use crate::model::params::fingerprint;

#[cfg(test)]
mod rule_tests {
    use super::*;

    #[test]
    fn verification_rule_counts_images_over_the_detection_threshold() {
        assert_eq!(verify_rule(&[0.9, 0.6, 0.2, 0.1], 0.5, 0.5), (true, 0.5));
        assert_eq!(verify_rule(&[0.9, 0.4, 0.2, 0.1], 0.5, 0.5), (false, 0.25));
        assert_eq!(verify_rule(&[], 0.5, 0.5), (false, 0.0));
    }
}
