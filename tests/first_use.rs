//! What a new user meets on the command line: exit codes scripts can use (0 yes, 1 no, 2
//! error), `identify` going on past a bad file and naming the bar a face missed, thresholds
//! printed with the digits that matter, and an empty gallery said to be empty.
use std::path::Path;
use std::process::{Command, Output};

fn run(gallery: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_siamface")).args(args).args(["--gallery", gallery.to_str().unwrap()]).output().unwrap()
}

fn lfw(name: &str, n: usize) -> String {
    crate::common::lfw(name, n).to_str().unwrap().to_string()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn compare_and_verify_exit_0_for_yes_1_for_no_and_2_for_errors() {
    let g = crate::server::tmp("exit-codes").join("g.sqlite");
    let compare = |a: &str, b: &str| Command::new(env!("CARGO_BIN_EXE_siamface")).args(["compare", a, b]).output().unwrap();
    let same = compare(&lfw("Colin_Powell", 1), &lfw("Colin_Powell", 2));
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
    // The threshold is printed as it is (0.9866), not rounded to 0.99.
    let card = siamface::service::Card::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/face")).unwrap();
    let shown = format!("(threshold {})", siamface::service::card::show(card.threshold));
    assert!(text(&same).contains(&shown) && shown.len() > "(threshold 0.99)".len(), "{} lacks {shown}", text(&same));
    let different = compare(&lfw("Colin_Powell", 1), &lfw("Serena_Williams", 1));
    assert_eq!(different.status.code(), Some(1), "{}", text(&different));
    assert!(text(&different).starts_with("different people"));
    assert_eq!(compare(&lfw("Colin_Powell", 1), "/no/such/photo.jpg").status.code(), Some(2));

    assert!(run(&g, &["enroll", "Colin Powell", &lfw("Colin_Powell", 1)]).status.success());
    assert_eq!(run(&g, &["verify", &lfw("Colin_Powell", 2), "--as", "Colin Powell"]).status.code(), Some(0));
    assert_eq!(run(&g, &["verify", &lfw("Serena_Williams", 1), "--as", "Colin Powell"]).status.code(), Some(1));
    assert_eq!(run(&g, &["verify", &lfw("Colin_Powell", 2), "--as", "Nobody"]).status.code(), Some(2));
}

#[test]
fn identify_reports_every_file_and_the_bar_an_unknown_face_missed() {
    let g = crate::server::tmp("identify-files").join("g.sqlite");
    let empty = run(&g, &["people"]);
    assert!(text(&empty).contains("no one is enrolled"), "{}", text(&empty));
    assert!(run(&g, &["enroll", "Colin Powell", &lfw("Colin_Powell", 1)]).status.success());
    let photos = [lfw("Colin_Powell", 2), "/no/such/photo.jpg".to_string(), lfw("Serena_Williams", 1)];
    let out = run(&g, &["identify", &photos[0], &photos[1], &photos[2]]);
    assert_eq!(out.status.code(), Some(2), "a bad file makes the exit code 2");
    let t = text(&out);
    assert!(t.contains(&format!("{}: Colin Powell (score", photos[0])), "{t}");
    // The stranger is reported after the bad file, with the best match and the bar.
    let stranger = t.lines().find(|l| l.starts_with(&photos[2])).unwrap_or_else(|| panic!("{t}"));
    let card = siamface::service::Card::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/face")).unwrap();
    let bar = format!(", needs {})", siamface::service::card::show(card.naming()));
    assert!(stranger.contains("unknown (best: Colin Powell ") && stranger.contains(&bar), "{stranger} lacks {bar}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/photo.jpg"));

    // --json: one object per file, each with its file, the bad one with its error.
    let out = run(&g, &["identify", "--json", &photos[0], &photos[1]]);
    let lines: Vec<serde_json::Value> = text(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["file"], photos[0]);
    assert_eq!(lines[0]["faces"][0]["name"], "Colin Powell");
    assert_eq!(lines[1]["file"], photos[1]);
    assert!(lines[1]["error"].as_str().unwrap().contains("/no/such/photo.jpg"));
    let single = run(&g, &["identify", "--json", &photos[0]]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(text(&single).trim()).unwrap()["file"], photos[0], "file is there with one photo too");
}
