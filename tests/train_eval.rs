//! The training loop and the command line end to end, on real Omniglot data.
use std::path::{Path, PathBuf};
use std::process::Command;

use siamface::data::omniglot::{self, Split};
use siamface::model::io;
use siamface::train::batch::{Augment, Mode};
use siamface::train::{TrainConfig, Trainer};
use siamface::{ModelConfig, OptimizerConfig};

fn data() -> PathBuf {
    crate::common::shared("omniglot")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("siamface-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn config(epochs: usize) -> TrainConfig {
    TrainConfig {
        model: ModelConfig::small35(),
        optimizer: OptimizerConfig::adam(),
        seed: 9,
        epochs,
        steps_per_epoch: 4,
        batch: 16,
        mode: Mode::Images { per_class: 4 },
        augment: Augment::Affine,
        patience: 10,
        val_way: 5,
        val_trials: 20,
        init: siamface::train::Init::Paper,
        precision: Default::default(),
    }
}

#[test]
fn resume_continues_exactly_where_the_run_stopped() {
    let train = omniglot::load_split(&data(), Split::Train, 3).unwrap();
    let val = omniglot::load_split(&data(), Split::Validation, 3).unwrap();
    let (a, b) = (tmp("straight"), tmp("resumed"));
    let mut straight = Trainer::new(config(2), &train, &val, &a, 1).unwrap();
    straight.run(None, &mut |_| {}).unwrap();

    let mut first = Trainer::new(config(1), &train, &val, &b, 1).unwrap();
    first.run(None, &mut |_| {}).unwrap();
    drop(first);
    let mut resumed = Trainer::resume(&b, &train, &val, 1).unwrap();
    resumed.set_epochs(2);
    resumed.run(None, &mut |_| {}).unwrap();

    assert_eq!(resumed.model().params(), straight.model().params());
    let strip = |t: &Trainer| t.history().iter().map(|r| (r.epoch, r.loss, r.val_oneshot, r.pairs)).collect::<Vec<_>>();
    assert_eq!(strip(&resumed), strip(&straight));
    for f in ["history.csv", "history.json", "curves.png", "curves.svg", "train_config.json", "last.safetensors"] {
        assert!(b.join(f).exists(), "{f} written");
    }
    assert_eq!(io::load(&b.join("best")).unwrap().config, ModelConfig::small35());
}

fn siamface(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_siamface")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn cli_trains_then_evaluates_on_lakes_runs() {
    let run = tmp("cli");
    let d = data();
    let (ok, _, err) = siamface(&[
        "train", "--data", path(&d), "--out", path(&run), "--config", "small35", "--epochs", "2", "--steps", "30",
        "--lr", "1e-3", "--val-trials", "50", "--threads", "2",
    ]);
    assert!(ok, "train failed: {err}");
    assert!(err.contains("epoch   2:"), "per-epoch line: {err}");
    let csv = std::fs::read_to_string(run.join("history.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");

    let (ok, out, err) = siamface(&["eval", "oneshot", "--model", path(&run.join("best")), "--runs", path(&d.join("all_runs")), "--json"]);
    assert!(ok, "eval failed: {err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["trials"], 400);
    assert_eq!(v["way"], 20);
    let acc = v["accuracy"].as_f64().unwrap();
    // 60 steps are enough to beat 20-way chance (5%) clearly.
    assert!(acc > 0.10 && acc <= 1.0, "accuracy {acc}");

    let roc = run.join("roc.svg");
    let (ok, out, err) = siamface(&["eval", "verify", "--model", path(&run.join("best")), "--omniglot", path(&d), "--pairs", "400", "--roc", path(&roc), "--json"]);
    assert!(ok, "verify failed: {err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    for k in ["accuracy", "threshold", "auc", "eer"] {
        assert!(v[k].is_number(), "{k} in {out}");
    }
    assert!(v["auc"].as_f64().unwrap() > 0.55, "{out}");
    // The pair scores are kept, so `siamface plot` can draw from this output later.
    assert_eq!(v["scores"].as_array().map(Vec::len), Some(400));
    assert_eq!(v["same"].as_array().map(|s| s.iter().filter(|y| y.as_bool() == Some(true)).count()), Some(200));
    assert!(std::fs::read_to_string(&roc).unwrap().contains("threshold 0.500: FAR"));
}

#[test]
fn cli_rejects_bad_arguments_with_a_message() {
    let (ok, _, err) = siamface(&["train", "--data", "/nonexistent", "--out", "/tmp/x", "--config", "small35"]);
    assert!(!ok && err.contains("/nonexistent"), "{err}");
    let (ok, _, err) = siamface(&["eval", "oneshot", "--model", "/nonexistent/model", "--runs", "/tmp"]);
    assert!(!ok && err.contains("/nonexistent/model"), "{err}");
    let (ok, _, err) = siamface(&["train", "--data", path(&data()), "--out", "/tmp/x", "--config", "small35", "--mode", "triplets"]);
    assert!(!ok && err.contains("--mode"), "{err}");
}
