//! What the README tells a new user, held against the program: the fields `/api/config`
//! answers, and shell lines that do what they say when pasted (an install that uses
//! `Cargo.lock`, no command piped into another that reads no input).
use std::collections::BTreeSet;

use crate::server::{call, state};

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The lines of the README's `sh` code blocks, without their comments.
fn shell_lines(text: &str) -> Vec<String> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(fence) = line.strip_prefix("```") {
            inside = !inside && fence.trim() == "sh";
            continue;
        }
        if inside {
            out.push(line.split(" #").next().unwrap_or_default().trim().to_string());
        }
    }
    out
}

#[tokio::test]
async fn the_readme_names_every_field_of_api_config() {
    let text = readme();
    let row = text.lines().find(|l| l.starts_with("| `GET /api/config`")).expect("the README has no row for GET /api/config");
    let answer = row.split('|').nth(3).unwrap_or_default();
    let object = answer.split('{').nth(1).and_then(|r| r.split('}').next()).unwrap_or_default();
    let listed: BTreeSet<String> = object.split(',').map(|f| f.trim().trim_matches('"').to_string()).filter(|f| !f.is_empty()).collect();
    let (_, v) = call(&state("readme-config", None), "GET", "/api/config", Vec::new(), None).await;
    let served: BTreeSet<String> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(listed, served, "README row: {row}");
}

#[test]
fn readme_shell_lines_install_from_the_lock_file_and_pipe_no_siamface_into_another() {
    let lines = shell_lines(&readme());
    assert!(lines.iter().any(|l| l.starts_with("cargo install")), "no install line found");
    for l in &lines {
        if l.contains("cargo install") {
            assert!(l.contains("--locked"), "installs other versions than Cargo.lock's: {l}");
        }
        let commands = l.split('|').filter(|c| c.trim_start().starts_with("siamface ")).count();
        assert!(commands < 2, "pasted, this runs as a pipeline: {l}");
    }
}
