//! The commands no other test runs, each on a small real input in seconds: `bench`,
//! `bench-faces` and `bench-gallery` (measurements that must be there and make sense against
//! each other), `import dlib` (a converted network that tells people apart), `eval faces` (its
//! pair counts checked against people.txt) and `gallery import` (an imported gallery that names
//! people).
use std::path::Path;
use std::process::{Command, Output};

use crate::common::{lfw, shared};

fn siamface(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_siamface")).current_dir(env!("CARGO_MANIFEST_DIR")).args(args).output().unwrap()
}

/// The command's stdout as JSON, failing with its stderr when it failed.
fn json(args: &[&str]) -> serde_json::Value {
    let out = siamface(args);
    assert!(out.status.success(), "siamface {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("siamface {args:?}: not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// `v[key]` as a finite number above zero.
fn positive(v: &serde_json::Value, key: &str) -> f64 {
    let x = v[key].as_f64().unwrap_or_else(|| panic!("{key} missing: {v}"));
    assert!(x.is_finite() && x > 0.0, "{key} = {x}: {v}");
    x
}

fn tmp(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("siamface-commands-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `bench` on the face preset, one repetition on one thread: every figure is there and positive,
/// and they order as the work does: embedding one image goes faster than training on a pair
/// (two images forward and back), the small detector faster than the precise one.
#[test]
fn bench_reports_speeds_that_order_as_the_work_does() {
    let v = json(&["bench", "--config", "face100", "--steps", "1", "--threads", "1", "--json"]);
    eprintln!("{v}");
    assert_eq!((v["config"].as_str(), v["threads"].as_u64()), (Some("face100"), Some(1)), "{v}");
    // f32 always; bf16 too exactly where a bf16 kernel runs, and named.
    let stacks = v["siamface"].as_array().unwrap();
    let kernel = siamface::engine::gemm::Kernel::for_precision(siamface::engine::gemm::Precision::Bf16);
    let mut want: Vec<&str> = if kernel == siamface::engine::gemm::Kernel::F32 { vec!["siamface f32"] } else { vec!["siamface f32", "siamface bf16"] };
    // int8 too where an int8 kernel runs, named, with no training figure (it does not train).
    let int8 = siamface::engine::gemm::Kernel::for_precision(siamface::engine::gemm::Precision::Int8);
    if int8.is_int8() {
        want.push("siamface int8");
    }
    assert_eq!(stacks.iter().map(|s| s["stack"].as_str().unwrap()).collect::<Vec<_>>(), want, "{v}");
    assert_eq!(v["bf16_kernel"].as_str(), (kernel != siamface::engine::gemm::Kernel::F32).then(|| kernel.name()), "{v}");
    assert_eq!(v["int8_kernel"].as_str(), int8.is_int8().then(|| int8.name()), "{v}");
    for f in stacks {
        if f["stack"] == "siamface int8" {
            assert!(f["train_pairs_per_s"].is_null(), "int8 trained: {f}");
            positive(f, "embed_per_s");
            positive(f, "single_ms");
            continue;
        }
        let train = positive(f, "train_pairs_per_s");
        let embed = positive(f, "embed_per_s");
        positive(f, "single_ms");
        for k in ["train_gflops", "embed_gflops", "single_gflops", "train_peak_fraction", "embed_peak_fraction", "single_peak_fraction"] {
            positive(f, k);
        }
        assert!(embed > train, "embedding {embed} images/s is not faster than training {train} pairs/s: {f}");
    }
    positive(&v, "gemm_peak_gflops");
    let (detect, fast) = (positive(&v, "detect_640x480_ms"), positive(&v, "detect_fast_640x480_ms"));
    // The process holds at least the network's weights and a batch; less than the machine.
    let rss = positive(&v, "peak_rss_mb");
    assert!(rss > 10.0 && rss < 8192.0, "{rss} MB");
    assert!(fast < detect, "the small detector ({fast} ms) is not faster than the precise one ({detect} ms)");
    assert!(v["tensorflow"].as_array().unwrap().is_empty(), "no TensorFlow asked for: {v}");

    // Identification alone, against 1k, 100k and 1M embeddings of width 16.
    let rows = json(&["bench", "--identify-dim", "16", "--steps", "1", "--threads", "1", "--json"]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.iter().map(|r| r["enrolled"].as_u64().unwrap()).collect::<Vec<_>>(), [1_000, 100_000, 1_000_000], "{rows:?}");
    for r in rows {
        assert_eq!(r["dim"], 16);
        positive(r, "identify_ms");
    }
}

/// `bench-faces` on four LFW photos: the time per face and the batch rate are there, positive,
/// and agree with each other's order of magnitude (a batch is no slower per face than one face
/// alone, and not a thousand times faster).
#[test]
fn bench_faces_times_the_pipeline_on_lfw_photos() {
    let lfw_dir = shared("lfw");
    let v = json(&["bench-faces", "--lfw", lfw_dir.to_str().unwrap(), "--photos", "4", "--json"]);
    eprintln!("{v}");
    assert_eq!(v["photos"], 4, "{v}");
    let ours = &v["siamface"];
    let (median, mean) = (positive(ours, "ms_per_face_median"), positive(ours, "ms_per_face_mean"));
    let batch = positive(ours, "batch_per_s");
    assert!(median <= mean * 4.0 && mean <= median * 4.0, "{v}");
    // The batch covers the tower only, the per-face time detection and alignment too.
    let batch_ms = 1e3 / batch;
    assert!(batch_ms < median * 2.0 && batch_ms > median / 1000.0, "{batch_ms} ms a face in a batch against {median} ms one by one: {v}");
    assert!(v["dlib"].is_null() && v["per_face_speedup"].is_null(), "no dlib asked for: {v}");
}

/// `bench-gallery` on an SQLite file and a PostgreSQL database (a throwaway cluster), at 1,000
/// and 3,000 faces of width 16: one row per backend and size, every time positive, and each
/// gallery holds what the benchmark says it filled it with.
#[test]
fn bench_gallery_fills_and_times_sqlite_and_postgres() {
    let dir = tmp("bench-gallery");
    let pg = crate::pg::Cluster::start("bench-gallery");
    let url = pg.database("bench");
    let file = dir.join("g.sqlite");
    let v = json(&["bench-gallery", "--gallery", file.to_str().unwrap(), "--gallery", &url, "--sizes", "1000,3000", "--dim", "16", "--per-person", "50", "--reps", "3", "--json"]);
    eprintln!("{v}");
    let rows = v.as_array().unwrap();
    let got: Vec<(&str, u64)> = rows.iter().map(|r| (r["backend"].as_str().unwrap(), r["enrolled"].as_u64().unwrap())).collect();
    assert_eq!(got, [("sqlite", 1000), ("sqlite", 3000), ("postgres", 1000), ("postgres", 3000)]);
    for r in rows {
        for k in ["enrol_per_s", "fill_images_per_s", "load_ms", "identify_ms", "visible_ms"] {
            positive(r, k);
        }
    }
    // Filled to the last size, plus the enrolment each size times for visibility.
    for at in [file.to_str().unwrap(), url.as_str()] {
        let people = json(&["people", "--gallery", at, "--json"]);
        let images: u64 = people["people"].as_array().unwrap().iter().map(|p| p["images"].as_u64().unwrap()).sum();
        assert!((3000..=3002).contains(&images), "{at}: {images} images after filling to 3,000");
    }
}

/// `import dlib` converts dlib's network file: the tower equals the shipped model's tensor for
/// tensor, and the converted model, with dlib's own distance threshold as its head, says two
/// photos of one person are the same person and two people are not.
#[test]
fn import_dlib_writes_a_model_that_tells_people_apart() {
    let dir = tmp("import-dlib");
    let out_dir = dir.join("dlib");
    let out = siamface(&["import", "dlib", "--out", out_dir.to_str().unwrap(), "models/dlib/dlib_face_recognition_resnet_model_v1.dat"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("5614721 parameters") && said.contains("distance threshold 0.6"), "{said}");
    let imported = siamface::model::io::load(&out_dir).unwrap();
    let shipped = siamface::model::io::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/face")).unwrap();
    assert_eq!(imported.config.tower, shipped.config.tower);
    let n = imported.params.specs.len();
    for s in &imported.params.specs[..n - 2] {
        assert!(shipped.params.get(&s.name) == Some(&imported.params.data[s.range()]), "{} differs from the shipped tower", s.name);
    }
    // `compare` exits 0 for the same person, 1 for two people.
    let compare = |a: &Path, b: &Path| {
        let out = siamface(&["compare", a.to_str().unwrap(), b.to_str().unwrap(), "--model", out_dir.to_str().unwrap(), "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code(), v)
    };
    let ((same_code, same), (different_code, different)) = (compare(&lfw("Colin_Powell", 1), &lfw("Colin_Powell", 2)), compare(&lfw("Colin_Powell", 1), &lfw("Serena_Williams", 1)));
    eprintln!("converted dlib model: same person {}, different people {}", same["score"], different["score"]);
    assert_eq!((same["same"].as_bool(), different["same"].as_bool()), (Some(true), Some(false)), "{same}\n{different}");
    assert_eq!((same_code, different_code), (Some(0), Some(1)), "{same}\n{different}");
    // No card: the threshold is the head's midpoint, which the conversion put at dlib's 0.6.
    assert_eq!(same["threshold"].as_f64(), Some(0.5), "{same}");
}

/// `eval faces` on a small LFW (six people a fold, three pairs of each kind a fold): View 2's
/// ten folds for each rule, and the held-out calibration on fold 9 and test on fold 10, whose
/// pair counts must be those that fold's people.txt lines give (every two photos of one person,
/// every two photos of different people), counted here from the file.
#[test]
fn eval_faces_counts_the_pairs_people_txt_gives_and_scores_them() {
    let root = tmp("eval-faces");
    let lfw_dir = root.join("lfw");
    crate::finetune::mini_lfw(&lfw_dir, 6, 3);
    let v = json(&["eval", "faces", "--lfw", lfw_dir.to_str().unwrap(), "--json"]);
    assert_eq!(v["align"], "detect", "{v}");
    assert!(v["faces_missed"].as_u64().unwrap() <= 2, "{v}");
    positive(&v, "ms_per_face");
    let rules = v["view2"].as_array().unwrap();
    assert!(rules.len() >= 2, "{v}");
    for r in rules {
        let folds = r["folds"].as_array().unwrap();
        assert_eq!(folds.len(), 10, "{r}");
        assert!(folds.iter().all(|f| f["pairs"] == 6), "three same and three different pairs a fold: {r}");
    }
    let head = rules.iter().find(|r| r["name"] == "the model's head").unwrap_or_else(|| panic!("{v}"));
    assert!(head["mean_accuracy"].as_f64().unwrap() >= 0.9, "{head}");
    // Pairs of fold `k` of people.txt, counted from its lines: (genuine, impostor).
    let text = std::fs::read_to_string(lfw_dir.join("people.txt")).unwrap();
    let mut lines = text.lines().skip(1);
    let mut folds = Vec::new();
    while let Some(n) = lines.next() {
        let counts: Vec<u64> = (0..n.trim().parse().unwrap()).map(|_| lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap()).collect();
        let images: u64 = counts.iter().sum();
        let genuine: u64 = counts.iter().map(|c| c * (c - 1) / 2).sum();
        folds.push((genuine, images * (images - 1) / 2 - genuine));
    }
    for rule in v["held_out"].as_array().unwrap() {
        for (part, fold) in [("calibration", 9), ("test", 10)] {
            let got = (rule[part]["genuine_pairs"].as_u64().unwrap(), rule[part]["impostor_pairs"].as_u64().unwrap());
            assert_eq!(got, folds[fold - 1], "{} {part}: pairs of fold {fold}: {rule}", rule["rule"]);
            let (tar, far) = (rule[part]["tar"].as_f64().unwrap(), rule[part]["far"].as_f64().unwrap());
            assert!((0.0..=1.0).contains(&tar) && (0.0..=1.0).contains(&far), "{rule}");
        }
        assert!(rule["test"]["auc"].as_f64().unwrap() >= 0.9, "{rule}");
    }
}

/// `gallery import` of an export made with the shipped model: the new gallery lists the same
/// people and names them from photos it never saw; importing the same folder again is refused
/// and changes nothing.
#[test]
fn gallery_import_gives_a_gallery_that_names_the_people() {
    let dir = tmp("gallery-import");
    let (from, to) = (dir.join("from.sqlite"), dir.join("to.sqlite"));
    let path = |n: &str, k: usize| lfw(n, k).to_str().unwrap().to_string();
    for (who, shown, photos) in [("Ashanti", "Ashanti", 2), ("Ai_Sugiyama", "Ai Sugiyama", 1)] {
        let mut args = vec!["enroll".to_string(), shown.to_string(), "--gallery".into(), from.to_str().unwrap().into()];
        args.extend((1..=photos).map(|k| path(who, k)));
        let out = siamface(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let export = dir.join("export");
    json(&["gallery", "export", export.to_str().unwrap(), "--gallery", from.to_str().unwrap(), "--json"]);
    let v = json(&["gallery", "import", export.to_str().unwrap(), "--gallery", to.to_str().unwrap(), "--json"]);
    assert_eq!((v["people"].as_u64(), v["images"].as_u64()), (Some(2), Some(3)), "{v}");
    let listed = json(&["people", "--gallery", to.to_str().unwrap(), "--json"]);
    assert_eq!(listed, json(&["people", "--gallery", from.to_str().unwrap(), "--json"]));
    for (who, shown) in [("Ashanti", "Ashanti"), ("Ai_Sugiyama", "Ai Sugiyama")] {
        let id = json(&["identify", &path(who, 4), "--gallery", to.to_str().unwrap(), "--json"]);
        assert_eq!(id["faces"][0]["name"].as_str(), Some(shown), "{id}");
    }
    let again = siamface(&["gallery", "import", export.to_str().unwrap(), "--gallery", to.to_str().unwrap()]);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("nothing was imported"), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(json(&["people", "--gallery", to.to_str().unwrap(), "--json"]), listed);
}
