//! Training and validation sets of each dataset kind, chosen the way each is meant to be split:
//! Omniglot by Koch's alphabets, LFW by people.txt folds (one for validation, one never loaded),
//! identity folders and the face app's layout by holding out every fifth identity.
use std::path::Path;

use super::imageset::ImageSet;
use super::omniglot::{self, Split};
use super::photo::Crop;
use super::{folder, lfw};
use crate::config::ModelConfig;
use crate::error::{Error, Result};

/// What a dataset folder holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dataset {
    /// images_background.npz, images_evaluation.npz, alphabets.tsv.
    Omniglot,
    /// people.txt and images_deepfunneled/.
    Lfw,
    /// One folder of photos per identity (PERSON/*.jpg).
    Folder,
    /// The face app's anchor/, positive/ and negative/.
    App,
}

/// The LFW folds a training run keeps apart.
#[derive(Clone, Copy, Debug)]
pub struct LfwFolds {
    /// people.txt fold used for validation (model selection).
    pub validation: usize,
    /// people.txt fold never loaded.
    pub test: usize,
}

/// The sets, and whether validation had to reuse the training images (too few identities to
/// hold some out).
pub struct Sets {
    pub train: ImageSet,
    pub validation: ImageSet,
    pub validation_is_training: bool,
}

/// Loads `dataset` from `data` at the input size of `cfg`.
pub fn load(dataset: Dataset, data: &Path, cfg: &ModelConfig, lfw_folds: LfwFolds) -> Result<Sets> {
    let (w, h, c) = (cfg.width, cfg.height, cfg.channels);
    let apart = |train, validation| Sets { train, validation, validation_is_training: false };
    match dataset {
        Dataset::Omniglot => {
            if omniglot::SIZE % h != 0 || h != w || c != 1 {
                return Err(Error::config("config", format!("Omniglot needs a square 1-channel input dividing 105 (found {h}x{w}x{c})")));
            }
            let scale = omniglot::SIZE / h;
            Ok(apart(omniglot::load_split(data, Split::Train, scale)?, omniglot::load_split(data, Split::Validation, scale)?))
        }
        Dataset::Lfw => {
            let folds = lfw::people(&data.join("people.txt"))?;
            let (v, t) = (lfw_folds.validation, lfw_folds.test);
            if v == t || v == 0 || t == 0 || v > folds.len() || t > folds.len() {
                return Err(Error::input("lfw folds", format!("validation fold {v} and test fold {t} must be different folds in 1..={}", folds.len())));
            }
            let root = data.join("images_deepfunneled");
            let train_people: Vec<(String, usize)> = folds.iter().enumerate().filter(|(k, _)| k + 1 != v && k + 1 != t).flat_map(|(_, f)| f.clone()).collect();
            let (train, _) = lfw::load_faces(&root, &lfw::people_faces(&train_people), lfw::FACE_CROP, w, h, c)?;
            let (val, _) = lfw::load_faces(&root, &lfw::people_faces(&folds[v - 1]), lfw::FACE_CROP, w, h, c)?;
            Ok(apart(train, val))
        }
        Dataset::Folder => Ok(split_classes(folder::identities(data, Crop::FULL, w, h, c)?)),
        Dataset::App => Ok(split_classes(folder::app_layout(data, Crop::FULL, w, h, c)?)),
    }
}

/// Every fifth class (with two images or more) goes to validation when there are ten such
/// classes or more; otherwise validation reuses the training set.
pub fn split_classes(set: ImageSet) -> Sets {
    let multi = set.classes.iter().filter(|c| c.items.len() >= 2).count();
    if multi < 10 {
        return Sets { train: set.clone(), validation: set, validation_is_training: true };
    }
    let (mut train, mut val) = (set.clone(), set);
    let mut k = 0;
    let (mut tc, mut vc) = (Vec::new(), Vec::new());
    for c in train.classes.drain(..) {
        if c.items.len() >= 2 {
            k += 1;
            if k % 5 == 0 {
                vc.push(c);
                continue;
            }
        }
        tc.push(c);
    }
    (train.classes, val.classes) = (tc, vc);
    Sets { train, validation: val, validation_is_training: false }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::imageset::Class;

    fn set(sizes: &[usize]) -> ImageSet {
        let mut s = ImageSet::new(1, 1, 1);
        let mut at = 0;
        for (i, &n) in sizes.iter().enumerate() {
            s.classes.push(Class { name: format!("c{i}"), group: 0, items: (at..at + n).collect() });
            at += n;
        }
        s
    }

    #[test]
    fn every_fifth_identity_with_two_images_is_held_out_when_there_are_ten() {
        let sizes = [2, 1, 3, 2, 2, 2, 4, 2, 1, 2, 2, 2, 2];
        let s = split_classes(set(&sizes));
        assert!(!s.validation_is_training);
        let names = |x: &ImageSet| x.classes.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        // Classes with two or more images, counted: c0 c2 c3 c4 c5 (5th: c5) c6 c7 c9 c10 c11 (10th: c11).
        assert_eq!(names(&s.validation), ["c5", "c11"]);
        assert_eq!(s.train.classes.len() + s.validation.classes.len(), sizes.len());
        let few = split_classes(set(&[2, 2, 2, 1]));
        assert!(few.validation_is_training && few.train.classes.len() == 4 && few.validation.classes.len() == 4);
    }
}
