//! Decisions calibrated for strangers. A threshold is chosen where impostors are accepted at a
//! stated rate (FAR) among every pair of different people of a calibration set of people, then
//! measured on other people: verification (TAR and the FAR actually met), open-set
//! identification (a gallery of enrolled people, probes of enrolled and never-enrolled people)
//! and N-way one-shot. Scores are "higher = same person" for every method (a distance enters
//! negated).
use serde::Serialize;

use super::verification;
use crate::rng::Rng;

/// A set of people's embeddings: `rows` are `dim` wide, `owner[i]` is row i's person.
pub struct People<'a> {
    pub rows: &'a [f32],
    pub dim: usize,
    pub owner: Vec<usize>,
}

impl People<'_> {
    fn row(&self, i: usize) -> &[f32] {
        &self.rows[i * self.dim..(i + 1) * self.dim]
    }

    /// Every pair of rows, as (score, same person).
    pub fn all_pairs(&self, score: &(dyn Fn(&[f32], &[f32]) -> f64 + Sync)) -> (Vec<f64>, Vec<bool>) {
        let n = self.owner.len();
        let (mut s, mut y) = (Vec::with_capacity(n * n / 2), Vec::with_capacity(n * n / 2));
        for i in 0..n {
            for j in i + 1..n {
                s.push(score(self.row(i), self.row(j)));
                y.push(self.owner[i] == self.owner[j]);
            }
        }
        (s, y)
    }

    /// Rows grouped by person, in order of first appearance.
    fn by_person(&self) -> Vec<Vec<usize>> {
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut seen = std::collections::HashMap::new();
        for (i, &o) in self.owner.iter().enumerate() {
            let g = *seen.entry(o).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[g].push(i);
        }
        groups
    }
}

/// The lowest threshold whose false-accept rate on `(scores, same)` is at most `far`.
pub fn threshold_at_far(scores: &[f64], same: &[bool], far: f64) -> f64 {
    let mut imp: Vec<f64> = scores.iter().zip(same).filter(|(_, s)| !**s).map(|(v, _)| *v).collect();
    imp.sort_by(|a, b| b.total_cmp(a));
    let allowed = (far * imp.len() as f64).floor() as usize;
    // Accepting `score >= t` takes every impostor above t: put t just above the (allowed+1)-th.
    match imp.get(allowed) {
        Some(v) => next_up(*v),
        None => f64::NEG_INFINITY,
    }
}

fn next_up(v: f64) -> f64 {
    if v == 0.0 { f64::MIN_POSITIVE } else if v > 0.0 { f64::from_bits(v.to_bits() + 1) } else { f64::from_bits(v.to_bits() - 1) }
}

#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    pub genuine_pairs: usize,
    pub impostor_pairs: usize,
    pub threshold: f64,
    /// Rates at `threshold` on these pairs.
    pub tar: f64,
    pub far: f64,
    pub tar_at_far_1e3: f64,
    pub tar_at_far_1e4: f64,
    pub auc: f64,
    pub eer: f64,
}

pub fn verification(scores: &[f64], same: &[bool], threshold: f64) -> Verification {
    let curve = verification::roc(scores, same);
    let g = same.iter().filter(|s| **s).count();
    let accepted = |want: bool| scores.iter().zip(same).filter(|(v, s)| **s == want && **v >= threshold).count();
    Verification {
        genuine_pairs: g,
        impostor_pairs: same.len() - g,
        threshold,
        tar: accepted(true) as f64 / g.max(1) as f64,
        far: accepted(false) as f64 / (same.len() - g).max(1) as f64,
        tar_at_far_1e3: verification::tar_at_far(&curve, 1e-3),
        tar_at_far_1e4: verification::tar_at_far(&curve, 1e-4),
        auc: verification::auc(&curve),
        eer: verification::eer(&curve),
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct OpenSet {
    pub enrolled: usize,
    pub known_probes: usize,
    pub unknown_probes: usize,
    pub threshold: f64,
    /// Known probes named as the right person (best score, at or above the threshold).
    pub identified: f64,
    /// Known probes named as someone else.
    pub misidentified: f64,
    /// Probes of people never enrolled that are given a name: the false positive
    /// identification rate.
    pub fpir: f64,
}

/// Every other person with two or more images is enrolled from their first image; their other
/// images are known probes; the rest of the people's images are unknown probes.
pub fn open_set(p: &People, score: &(dyn Fn(&[f32], &[f32]) -> f64 + Sync), threshold: f64) -> OpenSet {
    let groups = p.by_person();
    let multi: Vec<&Vec<usize>> = groups.iter().filter(|g| g.len() >= 2).collect();
    let enrolled: Vec<&Vec<usize>> = multi.iter().step_by(2).copied().collect();
    let gallery: Vec<usize> = enrolled.iter().map(|g| g[0]).collect();
    let known: Vec<(usize, usize)> = enrolled.iter().enumerate().flat_map(|(k, g)| g[1..].iter().map(move |&i| (i, k))).collect();
    let enrolled_set: std::collections::HashSet<usize> = enrolled.iter().flat_map(|g| g.iter().copied()).collect();
    let unknown: Vec<usize> = (0..p.owner.len()).filter(|i| !enrolled_set.contains(i)).collect();
    let best = |q: usize| -> (usize, f64) {
        gallery.iter().enumerate().map(|(k, &g)| (k, score(p.row(q), p.row(g)))).max_by(|a, b| a.1.total_cmp(&b.1)).unwrap_or((0, f64::NEG_INFINITY))
    };
    let (mut right, mut wrong) = (0, 0);
    for &(q, k) in &known {
        let (who, s) = best(q);
        if s >= threshold {
            if who == k { right += 1 } else { wrong += 1 }
        }
    }
    let named = unknown.iter().filter(|&&q| best(q).1 >= threshold).count();
    OpenSet {
        enrolled: gallery.len(),
        known_probes: known.len(),
        unknown_probes: unknown.len(),
        threshold,
        identified: right as f64 / known.len().max(1) as f64,
        misidentified: wrong as f64 / known.len().max(1) as f64,
        fpir: named as f64 / unknown.len().max(1) as f64,
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct OneShot {
    pub way: usize,
    pub trials: usize,
    pub accuracy: f64,
    /// Half-width of the 95% interval.
    pub interval: f64,
}

/// N-way one-shot among the people with two or more images: one support image of each of `way`
/// people, a query of one of them; right when the query scores highest with its own person.
pub fn one_shot(p: &People, score: &(dyn Fn(&[f32], &[f32]) -> f64 + Sync), way: usize, trials: usize, seed: u64) -> Option<OneShot> {
    let groups = p.by_person();
    let multi: Vec<&Vec<usize>> = groups.iter().filter(|g| g.len() >= 2).collect();
    if multi.len() < way || way < 2 {
        return None;
    }
    let mut rng = Rng::new(seed);
    let mut right = 0;
    for _ in 0..trials {
        let people = pick(&mut rng, multi.len(), way);
        let two = pick(&mut rng, multi[people[0]].len(), 2);
        let query = multi[people[0]][two[0]];
        let supports: Vec<usize> =
            people.iter().enumerate().map(|(k, &g)| if k == 0 { multi[g][two[1]] } else { multi[g][rng.below(multi[g].len())] }).collect();
        let scores: Vec<f64> = supports.iter().map(|&s| score(p.row(query), p.row(s))).collect();
        let best = scores.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i);
        right += (best == Some(0)) as usize;
    }
    let acc = right as f64 / trials as f64;
    Some(OneShot { way, trials, accuracy: acc, interval: 1.96 * (acc * (1.0 - acc) / trials as f64).sqrt() })
}

/// `k` distinct indices below `n`, in random order.
fn pick(rng: &mut Rng, n: usize, k: usize) -> Vec<usize> {
    let all: Vec<usize> = (0..n).collect();
    rng.choose(&all, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_at_far_admits_exactly_the_allowed_impostors() {
        // 10 impostors scoring 0.0..0.9 and one genuine at 0.95. FAR 0.2 allows 2 impostors.
        let mut s: Vec<f64> = (0..10).map(|i| i as f64 / 10.0).collect();
        let mut y = vec![false; 10];
        s.push(0.95);
        y.push(true);
        let t = threshold_at_far(&s, &y, 0.2);
        let v = verification(&s, &y, t);
        assert!((v.far - 0.2).abs() < 1e-12, "{v:?}");
        assert_eq!(v.tar, 1.0);
        assert!(threshold_at_far(&s, &y, 0.0) > 0.9);
    }

    #[test]
    fn open_set_counts_strangers_given_a_name() {
        // Four people on a line, two images each, 0.01 apart; person k at 10k. Score = -distance.
        let rows: Vec<f32> = (0..4).flat_map(|k| [10.0 * k as f32, 10.0 * k as f32 + 0.01]).collect();
        let p = People { rows: &rows, dim: 1, owner: vec![0, 0, 1, 1, 2, 2, 3, 3] };
        let score = |a: &[f32], b: &[f32]| -((a[0] - b[0]).abs() as f64);
        // People 0 and 2 enrolled; a threshold of -1 names known probes and no stranger.
        let o = open_set(&p, &score, -1.0);
        assert_eq!((o.enrolled, o.known_probes, o.unknown_probes), (2, 2, 4));
        assert_eq!((o.identified, o.fpir), (1.0, 0.0));
        // A threshold of -20 names every stranger.
        assert_eq!(open_set(&p, &score, -20.0).fpir, 1.0);
    }
}
