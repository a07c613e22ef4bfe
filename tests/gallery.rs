//! The gallery commands end to end with a real SQLite file and real photos. The model is a tiny
//! untrained one: these tests are about what is stored and refused, not about recognition.
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use siamface::model::{io, Params};
use siamface::rng::Rng;

pub fn lfw(name: &str, n: usize) -> String {
    crate::common::lfw(name, n).to_string_lossy().into_owned()
}

pub struct Env {
    pub dir: PathBuf,
}

impl Env {
    pub fn new(tag: &str, seed: u64) -> Self {
        let dir = std::env::temp_dir().join(format!("siamface-gallery-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let e = Env { dir };
        e.model(seed);
        e
    }

    pub fn model(&self, seed: u64) {
        let cfg = crate::common::tiny_face_model();
        io::save(&self.dir.join("model"), &cfg, &Params::init(&cfg, &mut Rng::new(seed)).unwrap(), None, None).unwrap();
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend(["--gallery".into(), self.dir.join("g.sqlite").to_string_lossy().into_owned()]);
        if !["people", "forget", "rename"].contains(&args[0]) {
            all.extend(["--model".into(), self.dir.join("model").to_string_lossy().into_owned()]);
        }
        Command::new(env!("CARGO_BIN_EXE_siamface")).args(&all).output().unwrap()
    }

    pub fn people(&self) -> serde_json::Value {
        let out = self.run(&["people", "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn enroll_identify_verify_rename_forget() {
    let env = Env::new("flow", 1);
    let out = env.run(&["enroll", "Aaron Peirsol", &lfw("Aaron_Peirsol", 1)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.people()["people"], serde_json::json!([{"name": "Aaron Peirsol", "images": 1}]));

    // Threshold 0 names the nearest enrolled person; at 1 nobody this untrained model scores is.
    let out = env.run(&["identify", &lfw("Aaron_Peirsol", 2), "--json", "--threshold", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["faces"][0]["name"], "Aaron Peirsol");
    assert_eq!(v["faces"][0]["box"].as_array().unwrap().len(), 4);
    let out = env.run(&["identify", &lfw("Aaron_Peirsol", 2), "--json", "--threshold", "1"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["faces"][0]["name"].is_null(), "{v}");

    let out = env.run(&["verify", &lfw("Aaron_Peirsol", 2), "--as", "Aaron Peirsol", "--json", "--detection", "0"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["verified"].as_bool(), v["fraction"].as_f64()), (Some(true), Some(1.0)));
    // The fraction of enrolment images a claim needs comes from the model card when the command
    // line does not give it.
    assert_eq!(v["verification"].as_f64(), Some(0.5), "no card: the original app's half");
    std::fs::write(env.dir.join("model/card.json"), r#"{"threshold": 0.2, "verification": 0.75}"#).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&env.run(&["verify", &lfw("Aaron_Peirsol", 2), "--as", "Aaron Peirsol", "--json"]).stdout).unwrap();
    assert_eq!((v["verification"].as_f64(), v["detection"].as_f64()), (Some(0.75), Some(0.2)), "{v}");
    std::fs::remove_file(env.dir.join("model/card.json")).unwrap();

    assert!(env.run(&["rename", "Aaron Peirsol", "A. Peirsol"]).status.success());
    assert_eq!(env.people()["people"][0]["name"], "A. Peirsol");
    assert!(env.run(&["forget", "A. Peirsol"]).status.success());
    assert_eq!(env.people()["people"], serde_json::json!([]));
}

#[test]
fn bad_requests_change_nothing_stored() {
    let env = Env::new("bad", 2);
    assert!(env.run(&["enroll", "Abel", &lfw("Abel_Pacheco", 1)]).status.success());
    assert!(env.run(&["enroll", "Bob", &lfw("Aaron_Peirsol", 1)]).status.success());
    let before = env.people();

    let dup = env.run(&["enroll", "Abel", &lfw("Abel_Pacheco", 2)]);
    assert!(!dup.status.success() && stderr(&dup).contains("already enrolled"), "{}", stderr(&dup));

    // One good photo and one without a face: nothing is enrolled.
    let blank = env.dir.join("blank.png");
    image::RgbImage::new(120, 120).save(&blank).unwrap();
    let mixed = env.run(&["enroll", "Zed", &lfw("Aaron_Peirsol", 1), blank.to_str().unwrap()]);
    assert!(!mixed.status.success() && stderr(&mixed).contains("blank.png"), "{}", stderr(&mixed));

    for bad in ["../etc", "a/b", "tab\tname", ""] {
        let out = env.run(&["enroll", bad, &lfw("Aaron_Peirsol", 1)]);
        assert!(!out.status.success(), "{bad:?} accepted");
        assert!(stderr(&out).contains("name"), "{bad:?}: {}", stderr(&out));
    }
    let unknown = env.run(&["forget", "Nobody"]);
    assert!(!unknown.status.success() && stderr(&unknown).contains("not enrolled"));
    let unknown = env.run(&["verify", &lfw("Abel_Pacheco", 2), "--as", "Nobody"]);
    assert!(!unknown.status.success() && stderr(&unknown).contains("not enrolled"));
    let clash = env.run(&["rename", "Abel", "Bob"]);
    assert!(!clash.status.success() && stderr(&clash).contains("already enrolled"), "{}", stderr(&clash));
    assert_eq!(env.people(), before);
}

#[test]
fn a_new_model_re_embeds_the_stored_crops() {
    let env = Env::new("reembed", 3);
    assert!(env.run(&["enroll", "Aaron", &lfw("Aaron_Peirsol", 1)]).status.success());
    let score = |env: &Env| -> f64 {
        let out = env.run(&["identify", &lfw("Aaron_Peirsol", 1), "--json", "--threshold", "0"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["faces"][0]["score"].as_f64().unwrap()
    };
    let first = score(&env);
    env.model(99);
    let second = score(&env);
    // Same photo as enrolled: with embeddings recomputed by the new model, the self-match is
    // that model's own score for identical inputs, which differs from the old model's.
    assert_ne!(first, second);
    let out = env.run(&["enroll", "Abel", &lfw("Abel_Pacheco", 1)]);
    assert!(out.status.success(), "enrolling after a model change works: {}", stderr(&out));
    assert!(Path::new(&env.dir.join("g.sqlite")).exists());
}

/// `kill -9` of an enrolment at chosen moments: as soon as its commit starts writing the
/// write-ahead log (so the process dies with part of the transaction on disk), and at spread-out
/// delays before and after. Every time, the file opens, passes SQLite's checks and holds either
/// the old state or the whole new enrolment, never a part of it; nothing enrolled before changes.
#[test]
fn kill_9_during_an_enrolment_leaves_the_old_or_the_new_state() {
    use siamface::gallery::Gallery;
    let env = Env::new("kill", 4);
    assert!(env.run(&["enroll", "Abel", &lfw("Abel_Pacheco", 1), &lfw("Abel_Pacheco", 2)]).status.success());
    let db = env.dir.join("g.sqlite");
    let wal = env.dir.join("g.sqlite-wal");
    let wal_len = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    // 24 crops of 250x250 PNG: a commit of a few megabytes, long enough to be cut.
    const PHOTOS: usize = 24;
    let photo = lfw("Aaron_Peirsol", 1);
    let (mut torn, mut whole, mut before_commit) = (0, 0, 0);
    for attempt in 0..8u64 {
        let name = format!("Victim {attempt}");
        let mut args = vec!["enroll".to_string(), name.clone()];
        args.extend(std::iter::repeat_n(photo.clone(), PHOTOS));
        args.extend(["--gallery".into(), db.to_string_lossy().into_owned(), "--model".into(), env.dir.join("model").to_string_lossy().into_owned()]);
        let start_len = wal_len();
        let mut child = Command::new(env!("CARGO_BIN_EXE_siamface")).args(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let t0 = std::time::Instant::now();
        if attempt % 2 == 0 {
            // Wait for the log to grow past where it was: the commit is being written.
            while wal_len() <= start_len && child.try_wait().unwrap().is_none() && t0.elapsed().as_secs() < 60 {
                std::hint::spin_loop();
            }
        } else {
            std::thread::sleep(std::time::Duration::from_millis(150 * attempt));
        }
        let grew = wal_len() > start_len;
        let _ = child.kill();
        child.wait().unwrap();

        let g = Gallery::open(&db).unwrap_or_else(|e| panic!("attempt {attempt}: gallery does not open after kill -9: {e}"));
        g.check().unwrap_or_else(|e| panic!("attempt {attempt}: {e}"));
        let people = g.people().unwrap();
        assert!(people.contains(&("Abel".to_string(), 2)), "attempt {attempt}: earlier enrolment damaged: {people:?}");
        match people.iter().find(|p| p.0 == name) {
            Some((_, n)) => {
                assert_eq!(*n, PHOTOS, "attempt {attempt}: half an enrolment survived");
                whole += 1;
            }
            None if grew => torn += 1,
            None => before_commit += 1,
        }
    }
    eprintln!("kill -9: {torn} during the commit's writes, {before_commit} before it, {whole} after it");
    assert!(torn >= 1, "no kill landed while the commit was being written ({before_commit} before, {whole} after)");
}
