//! How the command line names the library's choices. The library's enums know nothing of
//! `clap`; here each gets its command-line names and the help line of each name.
use clap::builder::PossibleValue;
use clap::ValueEnum;

use crate::config::Head;
use crate::data::sets::Dataset;
use crate::engine::gemm::Precision;
use crate::eval::faces::Align;
use crate::gallery::Check;
use crate::service::training::{Batches, Optimizer};
use crate::train::batch::Augment;
use crate::train::Init;

/// `impl ValueEnum for $ty`: each variant with its name on the command line and its help.
macro_rules! value_enum {
    ($ty:ty { $($variant:ident => $name:literal: $help:literal),+ $(,)? }) => {
        impl ValueEnum for $ty {
            fn value_variants<'a>() -> &'a [Self] {
                &[$(<$ty>::$variant),+]
            }
            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(match self {
                    $(<$ty>::$variant => PossibleValue::new($name).help($help)),+
                })
            }
        }
    };
}

value_enum!(Head {
    WeightedL1 => "weighted-l1": "Koch's `sigmoid(b + sum_j a_j |h1_j - h2_j|)`, one learned weight per dimension",
    Euclidean => "euclidean": "`sigmoid(b + a * ||h1 - h2||)`: the Euclidean distance a metric-trained tower (dlib's ResNet) was made for, calibrated into a probability by two learned numbers",
});

value_enum!(Precision {
    F32 => "f32": "Every product in f32: the reference arithmetic",
    Bf16 => "bf16": "Operands of every convolution and dense product rounded to bf16 (AMX tiles or AVX512_BF16), sums, weights and optimiser state in f32; f32 where the CPU has neither",
    Int8 => "int8": "Inference only: weights in int8 per output channel and activations in uint8 with the model's calibrated ranges (siamface calibrate), on AVX512_VNNI; bf16 where the CPU lacks it",
});

value_enum!(Align {
    Detect => "detect": "Find the face (YuNet; the one nearest the centre, as LFW labels it) and align it by its own landmarks, as the app does with any photo",
    Frame => "frame": "Take LFW's deep-funneled frame as the canonical frame (no detection): how the Koch face models were trained",
});

value_enum!(Check {
    Quick => "quick": "SQLite's `quick_check`: every page and record is well formed (the default on open)",
    Full => "full": "SQLite's `integrity_check`, which also compares every index with its table",
    None => "none": "No check: for reading what is left of a damaged file",
});

value_enum!(Dataset {
    Omniglot => "omniglot": "images_background.npz, images_evaluation.npz, alphabets.tsv",
    Lfw => "lfw": "people.txt and images_deepfunneled/",
    Folder => "folder": "One folder of photos per identity (PERSON/*.jpg)",
    App => "app": "The face app's anchor/, positive/ and negative/",
});

value_enum!(Optimizer {
    Adam => "adam": "The face app's (lr 1e-4 unless --lr)",
    Sgd => "sgd": "The paper's per-layer recipe, momentum and decay",
});

value_enum!(Batches {
    Pairs => "pairs": "Independent pairs",
    Images => "images": "Embed each image once, score every same pair in the batch and as many different pairs",
});

value_enum!(Augment {
    None => "none": "The images as they are",
    Affine => "affine": "Koch's affine distortions",
    Photo => "photo": "The face app's photo augmentations plus mild affine distortions (faces)",
});

value_enum!(Init {
    Paper => "paper": "Koch et al.'s normals",
    Keras => "keras": "Glorot-uniform weights, zero biases",
});
