//! The dataset readers on the real files of the data folder (`common::data_root`).
use siamface::data::lfw::{self, Pairs};
use siamface::data::omniglot::{self, Split};

use crate::common::shared;

#[test]
fn lfw_view2_has_ten_folds_of_300_same_and_300_different() {
    let root = shared("lfw");
    let pairs = Pairs::parse(&root.join("pairs.txt")).unwrap();
    assert_eq!(pairs.folds.len(), 10);
    for fold in &pairs.folds {
        assert_eq!(fold.len(), 600);
        assert_eq!(fold.iter().filter(|p| p.same).count(), 300);
    }
    // Every image a pair names exists in the deep-funneled set (checked on the last fold).
    for p in &pairs.folds[9] {
        for f in [&p.a, &p.b] {
            assert!(f.path(&root.join("images_deepfunneled")).exists(), "{:?}", f);
        }
    }
    let dev = Pairs::parse(&root.join("pairsDevTrain.txt")).unwrap();
    assert_eq!((dev.folds.len(), dev.folds[0].len()), (1, 2200));
    let people = lfw::people(&root.join("people.txt")).unwrap();
    assert_eq!(people.len(), 10);
    assert_eq!(lfw::people(&root.join("peopleDevTrain.txt")).unwrap()[0].len(), 4038);
}

#[test]
fn omniglot_splits_follow_koch_and_lakes_runs_load() {
    let dir = shared("omniglot");
    let table = omniglot::alphabets(&dir.join("alphabets.tsv")).unwrap();
    assert_eq!(table.len(), 50);
    assert_eq!(table.iter().filter(|a| a.in_lake_runs).count(), 10);
    let train = omniglot::load_split(&dir, Split::Train, 3).unwrap();
    assert_eq!((train.groups.len(), train.classes.len(), train.len()), (30, 964, 964 * 12));
    let val = omniglot::load_split(&dir, Split::Validation, 3).unwrap();
    let test = omniglot::load_split(&dir, Split::Test, 3).unwrap();
    assert_eq!((val.groups.len(), test.groups.len()), (10, 10));
    assert_eq!(val.classes.len() + test.classes.len(), 659);
    assert!(val.groups.iter().all(|g| !test.groups.contains(g)), "validation and test alphabets are disjoint");

    let runs = omniglot::lake_runs(&dir.join("all_runs")).unwrap();
    assert_eq!(runs.len(), 20);
    for r in &runs {
        assert_eq!((r.classes.len(), r.items.len()), (20, 20));
        assert!(r.answers.iter().all(|&a| a < 20));
        // Ink is a minority of the pixels and is 255 after loading.
        let ink = r.items[0].iter().filter(|&&v| v == 255).count();
        assert!(ink > 50 && ink < 105 * 105 / 3, "ink pixels {ink}");
    }
}

#[test]
fn omniglot_bad_files_are_named() {
    let dir = std::env::temp_dir().join(format!("siamface-omni-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("alphabets.tsv"), "file\talphabet\ta\tb\tfirst_index\tlast_index\tin_lake_runs\nx.npz\tA\t1\t2\t0\t1\tmaybe\n").unwrap();
    let err = omniglot::alphabets(&dir.join("alphabets.tsv")).unwrap_err().to_string();
    assert!(err.contains("alphabets.tsv:2") && err.contains("yes or no"), "{err}");
    std::fs::write(dir.join("images_background.npz"), b"not a zip").unwrap();
    let err = omniglot::Omniglot::load(&dir.join("images_background.npz")).err().unwrap().to_string();
    assert!(err.contains("images_background.npz") && err.contains("npz"), "{err}");
}
