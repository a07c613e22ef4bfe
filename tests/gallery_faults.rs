//! A gallery file in trouble: damaged in its middle, written by several processes at once,
//! copied out and back in. Real SQLite files, the real binary, real LFW photos.
use std::process::{Command, Stdio};

use siamface::gallery::{archive, Backend, Gallery};

use crate::gallery::{lfw, stderr, Env};

pub const PEOPLE: [&str; 4] = ["Aaron_Peirsol", "Abel_Pacheco", "Akhmed_Zakayev", "Alejandro_Toledo"];

pub fn enrolled(tag: &str) -> Env {
    let env = Env::new(tag, 7);
    for who in PEOPLE {
        let out = env.run(&["enroll", who, &lfw(who, 1), &lfw(who, 2)]);
        assert!(out.status.success(), "{who}: {}", stderr(&out));
    }
    env
}

/// Overwrites `len` bytes at the middle of the file with a fixed pseudo-random pattern.
pub fn scribble(path: &std::path::Path, len: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    let mut x: u32 = 0x1234_5678;
    for b in &mut bytes[mid..mid + len] {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        *b = (x >> 24) as u8;
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_gallery_with_garbage_in_its_middle_is_refused_then_repaired() {
    let env = enrolled("damaged");
    let db = env.dir.join("g.sqlite");
    assert!(!env.dir.join("g.sqlite-wal").exists() || std::fs::metadata(env.dir.join("g.sqlite-wal")).unwrap().len() == 0, "the log is folded back into the file when the last process closes it");
    let size = std::fs::metadata(&db).unwrap().len();
    scribble(&db, 4 * 4096);
    let damaged = std::fs::read(&db).unwrap();

    for args in [vec!["people"], vec!["enroll", "Zed", &lfw("Aaron_Peirsol", 3)], vec!["identify", &lfw("Aaron_Peirsol", 3)]] {
        let out = env.run(&args);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?} used a damaged gallery ({size} bytes)");
        assert!(err.contains("g.sqlite") && err.contains("damaged") && err.contains("siamface gallery repair"), "{args:?}: {err}");
    }
    assert!(std::fs::read(&db).unwrap() == damaged, "a refused command wrote to the damaged file");

    let out = Command::new(env!("CARGO_BIN_EXE_siamface")).args(["gallery", "check", "--gallery", db.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success(), "check passed a damaged file");

    let out = Command::new(env!("CARGO_BIN_EXE_siamface")).args(["gallery", "repair", "--json", "--gallery", db.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kept = report["damaged"].as_str().unwrap();
    assert_eq!(std::fs::read(kept).unwrap(), damaged, "the damaged file is kept as it was");
    let g = Gallery::open(&db).unwrap();
    g.check().unwrap();
    let people = g.people().unwrap();
    let lost = report["report"]["unreadable"].as_array().unwrap();
    eprintln!("repair kept {people:?}; unreadable: {lost:?}");
    assert!(!people.is_empty(), "nothing recovered: {report}");
    for (name, images) in &people {
        assert!(PEOPLE.contains(&name.as_str()) && (1..=2).contains(images), "{name}: {images}");
    }
    let images: usize = people.iter().map(|p| p.1).sum();
    assert_eq!(report["report"]["images"].as_u64(), Some(images as u64));
    assert!(images < 2 * PEOPLE.len() && !lost.is_empty(), "16 KB of garbage cost nothing? {report}");
    // The rebuilt file works for the commands again.
    let out = env.run(&["identify", &lfw(&people[0].0, 1), "--json", "--threshold", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn eight_concurrent_enrolments_all_succeed() {
    let env = Env::new("concurrent", 8);
    let db = env.dir.join("g.sqlite");
    let model = env.dir.join("model");
    let who = ["Aaron_Peirsol", "Abel_Pacheco", "Akhmed_Zakayev", "Alejandro_Toledo", "Alvaro_Uribe", "Amelie_Mauresmo", "Andre_Agassi", "Andy_Roddick"];
    // Started together on a gallery file that does not exist yet: they also race to create it.
    let children: Vec<_> = who
        .iter()
        .map(|w| {
            Command::new(env!("CARGO_BIN_EXE_siamface"))
                .args(["enroll", w, &lfw(w, 1), &lfw(w, 2), "--gallery", db.to_str().unwrap(), "--model", model.to_str().unwrap()])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let failed: Vec<String> = children.into_iter().map(|c| c.wait_with_output().unwrap()).filter(|o| !o.status.success()).map(|o| stderr(&o)).collect();
    assert!(failed.is_empty(), "{} of 8 failed: {failed:?}", failed.len());
    let people = Gallery::open(&db).unwrap().people().unwrap();
    assert_eq!(people.len(), 8, "{people:?}");
    assert!(people.iter().all(|p| p.1 == 2), "{people:?}");
}

#[test]
fn export_then_import_gives_the_same_gallery() {
    let env = enrolled("export");
    let mut g = Gallery::open(&env.dir.join("g.sqlite")).unwrap();
    let dir = env.dir.join("backup");
    let out = Command::new(env!("CARGO_BIN_EXE_siamface"))
        .args(["gallery", "export", dir.to_str().unwrap(), "--gallery", env.dir.join("g.sqlite").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(dir.join("crops")).unwrap().count(), 2 * PEOPLE.len());

    let mut copy = Gallery::open(&env.dir.join("copy.sqlite")).unwrap();
    let r = archive::import(&mut copy, &dir).unwrap();
    assert_eq!((r.people, r.images), (PEOPLE.len(), 2 * PEOPLE.len()));
    assert_eq!(copy.people().unwrap(), g.people().unwrap());
    assert_eq!(copy.model().unwrap(), g.model().unwrap());
    let (a, b) = (copy.matrix().unwrap(), g.matrix().unwrap());
    assert_eq!((&a.names, &a.rows), (&b.names, &b.rows));
    assert_eq!(copy.crops().unwrap().iter().map(|c| &c.1).collect::<Vec<_>>(), g.crops().unwrap().iter().map(|c| &c.1).collect::<Vec<_>>());
    // Importing again clashes on the first name and adds nothing.
    let e = archive::import(&mut copy, &dir).unwrap_err().to_string();
    assert!(e.contains("already enrolled"), "{e}");
    assert_eq!(copy.people().unwrap(), g.people().unwrap());
}
