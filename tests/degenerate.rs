//! Training data that cannot make same and different pairs, or validation trials, is refused
//! with a message before training starts: never a panic, never a sampler that loops forever.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn copy(to: &Path, sub: &str, photos: &[(&str, usize)]) {
    let d = to.join(sub);
    std::fs::create_dir_all(&d).unwrap();
    for (i, (name, n)) in photos.iter().enumerate() {
        std::fs::copy(crate::common::lfw(name, *n), d.join(format!("{i}.jpg"))).unwrap();
    }
}

/// Runs `siamface train` on `data` and returns (success, stderr), failing the test if it runs
/// for more than a minute (the old images-mode sampler never returned on one class).
fn train(data: &Path, dataset: &str, mode: &str) -> (bool, String) {
    let out = tempfile_dir("degenerate-run");
    let mut child = Command::new(env!("CARGO_BIN_EXE_siamface"))
        .args(["train", "--dataset", dataset, "--config", "small35", "--mode", mode, "--batch", "8", "--per-class", "2", "--steps", "2", "--epochs", "1", "--val-trials", "10", "--val-way", "2"])
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (status.success(), err);
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("siamface train --dataset {dataset} --mode {mode} still running after a minute");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn tempfile_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("siamface-{tag}-{}-{:?}", std::process::id(), Instant::now()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn one_person_app_layout_is_refused_in_both_batch_modes() {
    // The original app's folders: the user in anchor/ and positive/, strangers in negative/, one
    // photo each, so only one class has two images.
    let d = tempfile_dir("app");
    copy(&d, "anchor", &[("Colin_Powell", 1), ("Colin_Powell", 2)]);
    copy(&d, "positive", &[("Colin_Powell", 3)]);
    copy(&d, "negative", &[("Serena_Williams", 1), ("Tony_Blair", 1), ("George_W_Bush", 1)]);
    for mode in ["images", "pairs"] {
        let (ok, err) = train(&d, "app", mode);
        assert!(!ok, "{mode}: training one person should be refused");
        assert!(err.contains("set") && (err.contains("classes") || err.contains("people")), "{mode}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn identity_folders_with_one_person_are_refused() {
    let d = tempfile_dir("folder");
    copy(&d, "Colin_Powell", &[("Colin_Powell", 1), ("Colin_Powell", 2), ("Colin_Powell", 3)]);
    let (ok, err) = train(&d, "folder", "images");
    assert!(!ok);
    assert!(err.contains("training set"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
