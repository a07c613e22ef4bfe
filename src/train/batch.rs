//! Building a training batch: which images, which pairs among them, and the distorted inputs.
use serde::{Deserialize, Serialize};

use crate::data::augment::{self, Affine};
use crate::data::imageset::ImageSet;
use crate::rng::Rng;

/// How a step's pairs are made.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Mode {
    /// `batch` independent pairs, half same and half different: `2 * batch` images per step.
    Pairs,
    /// `batch` images, `per_class` of each of `batch / per_class` classes; every same pair among
    /// them plus as many different pairs. Each image is embedded once for several pairs.
    Images { per_class: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Augment {
    None,
    /// Koch et al.'s affine distortions (characters).
    Affine,
    /// The face app's photo augmentations plus mild affine distortions (faces).
    Photo,
}

/// A batch ready for `TrainState::forward_backward`.
#[derive(Default)]
pub struct Batch {
    pub images: Vec<f32>,
    pub pairs: Vec<(u32, u32)>,
    pub labels: Vec<f32>,
    scratch: Vec<f32>,
}

impl Batch {
    /// Fills the batch for one step; buffers are reused from step to step.
    pub fn fill(&mut self, set: &ImageSet, mode: Mode, batch: usize, augment: Augment, rng: &mut Rng) {
        let chosen = match mode {
            Mode::Pairs => self.pairs_mode(set, batch, rng),
            Mode::Images { per_class } => self.images_mode(set, batch, per_class.max(2), rng),
        };
        let il = set.image_len();
        self.images.resize(chosen.len() * il, 0.0);
        self.scratch.resize(il, 0.0);
        for (k, &i) in chosen.iter().enumerate() {
            let dst = &mut self.images[k * il..(k + 1) * il];
            match augment {
                Augment::None => set.input(i, dst),
                Augment::Affine => {
                    set.input(i, &mut self.scratch);
                    Affine::koch(rng).warp(&self.scratch, set.width, set.height, set.channels, 0.0, dst);
                }
                Augment::Photo => {
                    set.input(i, &mut self.scratch);
                    let a = Affine { rotate_deg: 5.0 * (2.0 * rng.uniform() as f32 - 1.0), ..Affine::IDENTITY };
                    a.warp(&self.scratch, set.width, set.height, set.channels, 0.0, dst);
                    if set.channels == 3 {
                        augment::photo(dst, set.width, set.height, rng);
                    }
                }
            }
        }
    }

    /// Koch's pairs: a same pair is two items of one class; a different pair two classes of the
    /// same group (alphabet) when the group has two, else of any group.
    fn pairs_mode(&mut self, set: &ImageSet, batch: usize, rng: &mut Rng) -> Vec<usize> {
        let multi: Vec<usize> = (0..set.classes.len()).filter(|&c| set.classes[c].items.len() >= 2).collect();
        let by_group = set.by_group(1);
        let last = by_group.len() - 1;
        let all: Vec<usize> = (0..set.classes.len()).filter(|&c| !set.classes[c].items.is_empty()).collect();
        let mut left = Vec::with_capacity(batch);
        let mut right = Vec::with_capacity(batch);
        self.labels.clear();
        for k in 0..batch {
            let item = |c: usize, rng: &mut Rng| set.classes[c].items[rng.below(set.classes[c].items.len())];
            if k % 2 == 0 {
                let c = multi[rng.below(multi.len())];
                let items = &set.classes[c].items;
                let i = rng.below(items.len());
                let j = (i + 1 + rng.below(items.len() - 1)) % items.len();
                left.push(items[i]);
                right.push(items[j]);
                self.labels.push(1.0);
            } else {
                let a = all[rng.below(all.len())];
                let g = &by_group[set.classes[a].group.min(last)];
                let pool = if g.len() >= 2 { g } else { &all };
                let mut b = pool[rng.below(pool.len())];
                while b == a {
                    b = pool[rng.below(pool.len())];
                }
                left.push(item(a, rng));
                right.push(item(b, rng));
                self.labels.push(0.0);
            }
        }
        self.pairs = (0..batch as u32).map(|k| (k, batch as u32 + k)).collect();
        left.extend(right);
        left
    }

    fn images_mode(&mut self, set: &ImageSet, batch: usize, per_class: usize, rng: &mut Rng) -> Vec<usize> {
        let want = (batch / per_class).max(2);
        let ok: Vec<usize> = (0..set.classes.len()).filter(|&c| set.classes[c].items.len() >= per_class).collect();
        let by_group = set.by_group(per_class);
        let big: Vec<&Vec<usize>> = by_group.iter().filter(|g| g.len() >= want).collect();
        let pool: &Vec<usize> = if big.is_empty() { &ok } else { big[rng.below(big.len())] };
        let classes = rng.choose(pool, want);
        let take = classes.len();
        let mut chosen = Vec::with_capacity(take * per_class);
        for &c in &classes {
            chosen.extend(rng.choose(&set.classes[c].items, per_class));
        }
        self.pairs.clear();
        self.labels.clear();
        for c in 0..take {
            for i in 0..per_class {
                for j in i + 1..per_class {
                    self.pairs.push(((c * per_class + i) as u32, (c * per_class + j) as u32));
                    self.labels.push(1.0);
                }
            }
        }
        let positives = self.pairs.len();
        for _ in 0..positives {
            let a = rng.below(chosen.len());
            let mut b = rng.below(chosen.len());
            while b / per_class == a / per_class {
                b = rng.below(chosen.len());
            }
            self.pairs.push((a as u32, b as u32));
            self.labels.push(0.0);
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::imageset::Class;

    fn toy() -> ImageSet {
        let mut s = ImageSet::new(2, 2, 1);
        for g in 0..3 {
            let gi = s.group(&format!("g{g}"));
            for c in 0..6 {
                let items = (0..5).map(|k| s.push_image(&[(g * 60 + c * 6 + k) as u8; 4]).unwrap()).collect();
                s.classes.push(Class { name: format!("{g}/{c}"), group: gi, items });
            }
        }
        s
    }

    fn class_of(s: &ImageSet, b: &Batch, k: u32) -> usize {
        let v = (b.images[k as usize * 4] * 255.0).round() as usize;
        s.classes.iter().position(|c| c.items.iter().any(|&i| s.image(i)[0] as usize == v)).unwrap()
    }

    #[test]
    fn pairs_mode_is_balanced_and_labels_are_true() {
        let s = toy();
        let mut b = Batch::default();
        b.fill(&s, Mode::Pairs, 32, Augment::None, &mut Rng::new(1));
        assert_eq!((b.pairs.len(), b.images.len()), (32, 64 * 4));
        assert_eq!(b.labels.iter().sum::<f32>(), 16.0);
        for (&(i, j), y) in b.pairs.iter().zip(&b.labels) {
            let (ci, cj) = (class_of(&s, &b, i), class_of(&s, &b, j));
            assert_eq!(ci == cj, *y == 1.0);
            assert_eq!(s.classes[ci].group, s.classes[cj].group, "different pairs stay within a group");
        }
    }

    #[test]
    fn images_mode_scores_every_same_pair_and_as_many_different() {
        let s = toy();
        let mut b = Batch::default();
        b.fill(&s, Mode::Images { per_class: 3 }, 12, Augment::None, &mut Rng::new(2));
        // 4 classes x 3 same pairs each = 12 same, 12 different.
        assert_eq!(b.pairs.len(), 24);
        assert_eq!(b.images.len(), 12 * 4);
        for (&(i, j), y) in b.pairs.iter().zip(&b.labels) {
            assert_eq!(class_of(&s, &b, i) == class_of(&s, &b, j), *y == 1.0);
        }
    }

    #[test]
    fn same_seed_same_batch() {
        let s = toy();
        let (mut a, mut b) = (Batch::default(), Batch::default());
        a.fill(&s, Mode::Pairs, 8, Augment::Affine, &mut Rng::new(5));
        b.fill(&s, Mode::Pairs, 8, Augment::Affine, &mut Rng::new(5));
        assert_eq!((a.images, a.pairs), (b.images, b.pairs));
    }
}
