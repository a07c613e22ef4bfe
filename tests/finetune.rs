//! `siamface train-head` on the original app's layout: one person in anchor/ and positive/,
//! strangers in negative/. The head is fine-tuned over the frozen ResNet tower; the run writes
//! the model, its history and a before/after on held-out pictures of the person.
use std::path::PathBuf;
use std::process::Command;

#[test]
fn head_fine_tuned_on_one_person_keeps_accepting_them_and_writes_its_history() {
    let lfw = crate::common::shared("lfw/images_deepfunneled");
    let root = std::env::temp_dir().join(format!("siamface-finetune-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let app = root.join("app");
    for (sub, name, range) in [("anchor", "Colin_Powell", 1..13), ("positive", "Colin_Powell", 13..25)] {
        std::fs::create_dir_all(app.join(sub)).unwrap();
        for n in range {
            std::fs::copy(lfw.join(name).join(format!("{name}_{n:04}.jpg")), app.join(sub).join(format!("{n}.jpg"))).unwrap();
        }
    }
    std::fs::create_dir_all(app.join("negative")).unwrap();
    for (i, name) in ["Tony_Blair", "Serena_Williams", "Gerhard_Schroeder", "Ariel_Sharon", "Hugo_Chavez", "Jacques_Chirac", "Vladimir_Putin", "John_Ashcroft"].iter().enumerate() {
        std::fs::copy(lfw.join(name).join(format!("{name}_0001.jpg")), app.join("negative").join(format!("{i}.jpg"))).unwrap();
    }
    let out = root.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_siamface"))
        .args(["train-head", "--model", "models/face", "--epochs", "3", "--steps", "40"])
        .arg("--app")
        .arg(&app)
        .arg("--out")
        .arg(&out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("finetune.json")).unwrap()).unwrap();
    let (before, after) = (&report["before"], &report["after"]);
    eprintln!("{report}");
    assert_eq!(report["held_out"].as_u64(), Some(6), "a quarter of 24 pictures held out");
    assert!(after["tar"].as_f64().unwrap() >= before["tar"].as_f64().unwrap() - 0.05, "{report}");
    assert!(after["far"].as_f64().unwrap() <= 0.2, "{report}");
    // The new head's card carries its own threshold, the one `after` was counted at.
    let card: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("card.json")).unwrap()).unwrap();
    assert_eq!(card["threshold"].as_f64(), report["threshold_after"].as_f64(), "{card}");
    assert!(card.get("identify_threshold").is_none(), "the old head's identify threshold is not carried over: {card}");
    let history = std::fs::read_to_string(out.join("history.csv")).unwrap();
    assert_eq!(history.lines().count(), 4, "{history}");
    let loss: Vec<f64> = history.lines().skip(1).map(|l| l.split(',').nth(1).unwrap().parse().unwrap()).collect();
    assert!(loss[2] < loss[0], "{loss:?}");
    // The fine-tuned model loads, keeps the tower and carries Koch's head.
    let a = siamface::model::io::load(&out).unwrap();
    let b = siamface::model::io::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/face")).unwrap();
    let n = a.params.specs.len();
    assert_eq!(a.params.at(0), b.params.at(0));
    assert_eq!(a.params.at(n - 3), b.params.at(n - 3));
    assert_eq!(a.config.head, siamface::config::Head::WeightedL1);
    assert_eq!(a.params.at(n - 2).len(), 128);
}

/// A small LFW: the first `people` of each people.txt fold and the first `pairs` same and
/// different pairs of each pairs.txt fold, over the real photos.
pub fn mini_lfw(dir: &std::path::Path, people: usize, pairs: usize) {
    let lfw = crate::common::shared("lfw");
    std::fs::create_dir_all(dir).unwrap();
    std::os::unix::fs::symlink(lfw.join("images_deepfunneled"), dir.join("images_deepfunneled")).unwrap();
    let text = std::fs::read_to_string(lfw.join("people.txt")).unwrap();
    let mut lines = text.lines();
    let folds: usize = lines.next().unwrap().trim().parse().unwrap();
    let mut out = format!("{folds}\n");
    for _ in 0..folds {
        let n: usize = lines.next().unwrap().trim().parse().unwrap();
        let rows: Vec<&str> = (0..n).map(|_| lines.next().unwrap()).collect();
        out += &format!("{people}\n{}\n", rows[..people].join("\n"));
    }
    std::fs::write(dir.join("people.txt"), out).unwrap();
    let text = std::fs::read_to_string(lfw.join("pairs.txt")).unwrap();
    let mut lines = text.lines();
    let head: Vec<usize> = lines.next().unwrap().split_whitespace().map(|v| v.parse().unwrap()).collect();
    let mut out = format!("{} {pairs}\n", head[0]);
    for _ in 0..head[0] {
        let same: Vec<&str> = (0..head[1]).map(|_| lines.next().unwrap()).collect();
        let diff: Vec<&str> = (0..head[1]).map(|_| lines.next().unwrap()).collect();
        out += &format!("{}\n{}\n", same[..pairs].join("\n"), diff[..pairs].join("\n"));
    }
    std::fs::write(dir.join("pairs.txt"), out).unwrap();
}

#[test]
fn with_lfw_the_fine_tuned_head_is_also_scored_on_lfw_pairs_it_never_saw() {
    let root = std::env::temp_dir().join(format!("siamface-finetune-lfw-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let app = root.join("app");
    for (sub, range) in [("anchor", 1..7), ("positive", 7..13)] {
        std::fs::create_dir_all(app.join(sub)).unwrap();
        for n in range {
            let src = crate::common::lfw("Tony_Blair", n);
            std::fs::copy(src, app.join(sub).join(format!("{n}.jpg"))).unwrap();
        }
    }
    mini_lfw(&root.join("lfw"), 16, 10);
    let out = root.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_siamface"))
        .args(["train-head", "--epochs", "2", "--steps", "20"])
        .arg("--app")
        .arg(&app)
        .arg("--lfw")
        .arg(root.join("lfw"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("LFW fold 10"), "{}", String::from_utf8_lossy(&o.stdout));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("finetune.json")).unwrap()).unwrap();
    let c = &report["lfw_fold_10"];
    eprintln!("{c}");
    assert_eq!(c["pairs"].as_u64().unwrap() + c["skipped"].as_u64().unwrap(), 20, "{c}");
    for when in ["before", "after"] {
        let acc = c[when]["accuracy"].as_f64().unwrap();
        assert!(acc >= 0.8, "{when}: LFW fold 10 accuracy {acc}: {c}");
    }
}
