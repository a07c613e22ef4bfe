//! N-way one-shot classification: a query image and N candidates, one of each class; the
//! network's answer is the candidate it scores highest. Every distinct image is embedded once.
use std::path::Path;

use serde::Serialize;

use crate::data::imageset::ImageSet;
use crate::data::{lfw, omniglot};
use crate::engine::gemm::Precision;
use crate::error::{Error, Result};
use crate::model::{io, Siamese};
use crate::rng::Rng;

/// One trial: the query and the candidate images (indices into an image list) and which
/// candidate is of the query's class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trial {
    pub query: usize,
    pub candidates: Vec<usize>,
    pub answer: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub accuracy: f64,
    pub trials: usize,
    pub way: usize,
    /// Half-width of the 95% confidence interval (normal approximation).
    pub ci95: f64,
}

/// `trials` random `way`-way tasks from `set`: each picks a group with at least `way` classes
/// (any class when groups are too small), `way` classes, a query item of the first and one
/// other item of each class as candidates. The answer's position is random.
pub fn random_trials(set: &ImageSet, way: usize, trials: usize, rng: &mut Rng) -> Vec<Trial> {
    let usable: Vec<usize> = (0..set.classes.len()).filter(|&c| set.classes[c].items.len() >= 2).collect();
    assert!(usable.len() >= way && way >= 2, "{way}-way trials need {way} classes with two images each; the set has {}", usable.len());
    let by_group = set.by_group(2);
    let big: Vec<&Vec<usize>> = by_group.iter().filter(|g| g.len() >= way).collect();
    (0..trials)
        .map(|_| {
            let pool: &Vec<usize> = if big.is_empty() { &usable } else { big[rng.below(big.len())] };
            let chosen = rng.choose(pool, way);
            let answer = rng.below(way);
            let target = &set.classes[chosen[answer]].items;
            let qi = rng.below(target.len());
            let candidates = chosen
                .iter()
                .enumerate()
                .map(|(k, &c)| {
                    let items = &set.classes[c].items;
                    if k == answer { items[(qi + 1 + rng.below(items.len() - 1)) % items.len()] } else { items[rng.below(items.len())] }
                })
                .collect();
            Trial { query: target[qi], candidates, answer }
        })
        .collect()
}

/// Scores the trials over `images` (each `input_len` floats, network input).
pub fn evaluate(net: &Siamese, images: &[f32], trials: &[Trial]) -> Result<Report> {
    let d = net.embedding_len();
    let mut emb = vec![0f32; images.len() / net.config().input_len() * d];
    net.embed(images, &mut emb)?;
    let row = |i: usize| &emb[i * d..(i + 1) * d];
    let right = trials
        .iter()
        .filter(|t| {
            let scores: Vec<f32> = t.candidates.iter().map(|&c| net.score(row(t.query), row(c))).collect();
            argmax(&scores) == t.answer
        })
        .count();
    let n = trials.len().max(1) as f64;
    let p = right as f64 / n;
    Ok(Report { accuracy: p, trials: trials.len(), way: trials.first().map(|t| t.candidates.len()).unwrap_or(0), ci95: 1.96 * (p * (1.0 - p) / n).sqrt() })
}

/// Embeds only the images the trials use, then scores them.
pub fn evaluate_set(net: &Siamese, set: &ImageSet, trials: &[Trial]) -> Result<Report> {
    let mut used: Vec<usize> = trials.iter().flat_map(|t| std::iter::once(t.query).chain(t.candidates.iter().copied())).collect();
    used.sort_unstable();
    used.dedup();
    let il = set.image_len();
    let mut images = vec![0f32; used.len() * il];
    for (k, &i) in used.iter().enumerate() {
        set.input(i, &mut images[k * il..(k + 1) * il]);
    }
    let pos = |i: usize| used.binary_search(&i).expect("image of a trial");
    let local: Vec<Trial> = trials
        .iter()
        .map(|t| Trial { query: pos(t.query), candidates: t.candidates.iter().map(|&c| pos(c)).collect(), answer: t.answer })
        .collect();
    evaluate(net, &images, &local)
}

/// Lake et al.'s runs (`omniglot::lake_runs`) scored: each run's 20 drawings are the
/// candidates of its 20 queries, the characters shrunk by `scale` to the model's input.
pub fn lake(net: &Siamese, runs: &[omniglot::Run], scale: usize) -> Result<Report> {
    let il = net.config().input_len();
    let mut images = Vec::new();
    let mut trials = Vec::new();
    for run in runs {
        let base = images.len() / il;
        for img in run.classes.iter().chain(&run.items) {
            images.extend(omniglot::shrink(img, scale).iter().map(|v| *v as f32 / 255.0));
        }
        let items0 = base + run.classes.len();
        for (k, &ans) in run.answers.iter().enumerate() {
            trials.push(Trial { query: items0 + k, candidates: (base..base + run.classes.len()).collect(), answer: ans });
        }
    }
    evaluate(net, &images, &trials)
}

/// `trials` random `way`-way tasks among the people of LFW `people.txt` fold `fold` (1-based)
/// with two or more images, from LFW's training crop (Koch's face models); `model` names the
/// model in errors. Returns the report and a line saying what was drawn.
pub fn lfw_fold(net: &Siamese, model: &Path, root: &Path, fold: usize, way: usize, trials: usize, seed: u64) -> Result<(Report, String)> {
    let c = net.config().clone();
    let folds = lfw::people(&root.join("people.txt"))?;
    if fold == 0 || fold > folds.len() {
        return Err(Error::input(format!("--fold {fold}"), format!("people.txt has folds 1 to {}", folds.len())));
    }
    let people: Vec<(String, usize)> = folds[fold - 1].iter().filter(|(_, n)| *n >= 2).cloned().collect();
    if c.is_layered() {
        return Err(Error::input(
            model.display().to_string(),
            "a ResNet face model reads dlib's chip, not LFW's training crop; its one-shot accuracy on LFW is in `siamface eval faces`",
        ));
    }
    let (set, _) = lfw::load_faces(&root.join("images_deepfunneled"), &lfw::people_faces(&people), lfw::FACE_CROP, c.width, c.height, c.channels)?;
    let tasks = random_trials(&set, way, trials, &mut Rng::new(seed));
    let report = evaluate_set(net, &set, &tasks)?;
    let source = format!("random {way}-way tasks among the {} people of LFW people.txt fold {fold} with two or more images", people.len());
    Ok((report, source))
}

/// A model that reads Omniglot's 105x105 characters (one channel, square, a size that divides
/// 105), loaded from `path` for `threads`; with the factor the characters shrink by.
pub fn omniglot_model(path: &Path, threads: usize, precision: Precision) -> Result<(Siamese, usize)> {
    let ck = io::load(path)?;
    let c = &ck.config;
    if c.channels != 1 || c.height != c.width || omniglot::SIZE % c.height != 0 {
        return Err(Error::data(path, None, format!("a {}x{}x{} model cannot read Omniglot's 105x105 characters", c.height, c.width, c.channels)));
    }
    let scale = omniglot::SIZE / c.height;
    Ok((Siamese::load(ck, threads, precision)?, scale))
}

/// Where the trials come from.
pub enum Tasks<'a> {
    /// Lake et al.'s `all_runs` folder (20 runs of 20 trials).
    Lake(&'a Path),
    /// Random tasks on Omniglot's test alphabets (Lake's 10), drawers 17-20.
    Omniglot(&'a Path),
    /// Random tasks among the people of one LFW people.txt fold (`lfw_fold`).
    Lfw { root: &'a Path, fold: usize },
}

impl<'a> Tasks<'a> {
    /// The tasks of the folder given: an LFW folder's (people of people.txt `fold`), else Lake's
    /// runs, else Omniglot's.
    pub fn of(lfw: Option<&'a Path>, fold: usize, runs: Option<&'a Path>, omniglot: Option<&'a Path>) -> Result<Tasks<'a>> {
        match (lfw, runs, omniglot) {
            (Some(root), _, _) => Ok(Tasks::Lfw { root, fold }),
            (None, Some(dir), _) => Ok(Tasks::Lake(dir)),
            (None, None, Some(dir)) => Ok(Tasks::Omniglot(dir)),
            (None, None, None) => Err(Error::input("eval oneshot", "give --runs DIR (Lake's runs), --omniglot DIR or --lfw DIR")),
        }
    }
}

/// `siamface eval oneshot`: the report and what was drawn.
#[derive(Serialize)]
pub struct Outcome {
    #[serde(flatten)]
    pub report: Report,
    pub source: String,
}

/// The model at `model` on `tasks`: `trials` random `way`-way tasks drawn with `seed` (Lake's
/// runs are fixed).
pub fn on_model(model: &Path, threads: usize, precision: Precision, tasks: &Tasks, way: usize, trials: usize, seed: u64) -> Result<Outcome> {
    let (report, source) = match *tasks {
        Tasks::Lfw { root, fold } => {
            let ck = io::load(model)?;
            let net = Siamese::load(ck, threads, precision)?;
            lfw_fold(&net, model, root, fold, way, trials, seed)?
        }
        Tasks::Lake(dir) => {
            let (net, scale) = omniglot_model(model, threads, precision)?;
            (lake(&net, &omniglot::lake_runs(dir)?, scale)?, format!("Lake's runs in {}", dir.display()))
        }
        Tasks::Omniglot(dir) => {
            let (net, scale) = omniglot_model(model, threads, precision)?;
            let set = omniglot::load_split(dir, omniglot::Split::Test, scale)?;
            let drawn = random_trials(&set, way, trials, &mut Rng::new(seed));
            (evaluate_set(&net, &set, &drawn)?, format!("random {way}-way tasks, test alphabets of {}", dir.display()))
        }
    };
    Ok(Outcome { report, source })
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let r = &self.report;
        writeln!(f, "{}-way one-shot accuracy {:.1}% +- {:.1}% over {} trials ({})", r.way, 100.0 * r.accuracy, 100.0 * r.ci95, r.trials, self.source)
    }
}

/// First index of the largest value.
pub fn argmax(xs: &[f32]) -> usize {
    xs.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::imageset::Class;

    fn toy() -> ImageSet {
        let mut s = ImageSet::new(1, 1, 1);
        for g in 0..2 {
            let gi = s.group(&format!("g{g}"));
            for c in 0..5 {
                let items = (0..3).map(|k| s.push_image(&[(g * 50 + c * 10 + k) as u8]).unwrap()).collect();
                s.classes.push(Class { name: format!("{g}/{c}"), group: gi, items });
            }
        }
        s
    }

    #[test]
    fn trials_stay_in_one_group_and_hold_one_of_each_class() {
        let s = toy();
        let owner = |i: usize| s.classes.iter().position(|c| c.items.contains(&i)).unwrap();
        for t in random_trials(&s, 4, 200, &mut Rng::new(1)) {
            let classes: Vec<usize> = t.candidates.iter().map(|&c| owner(c)).collect();
            let mut distinct = classes.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), 4);
            assert!(classes.iter().all(|&c| s.classes[c].group == s.classes[classes[0]].group));
            assert_eq!(owner(t.query), classes[t.answer]);
            assert_ne!(t.query, t.candidates[t.answer], "the query is not its own candidate");
        }
    }

    #[test]
    fn argmax_takes_the_first_of_ties() {
        assert_eq!(argmax(&[0.1, 0.7, 0.7, 0.2]), 1);
    }
}
