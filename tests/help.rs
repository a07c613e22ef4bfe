//! `--help` as a new user reads it: every argument and option of every command says what it is
//! for, not only its default.
use std::process::Command;

/// Commands whose help another change is rewriting (`src/cli/people.rs`); they join the check
/// once it lands.
const PENDING: [&str; 0] = [];

fn help(path: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_siamface")).args(path).arg("-h").output().unwrap();
    assert!(out.status.success(), "{path:?} -h: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The names listed under `Commands:`.
fn commands(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter(|l| l.len() - l.trim_start().len() == 2)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect()
}

/// The arguments and options of a help text that have no description: nothing after their
/// name, or only `[default: ...]` and `[possible values: ...]`. clap puts an entry's text on its
/// own line or on the lines below it, indented further.
fn undescribed(text: &str) -> Vec<String> {
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut listing = false;
    for line in text.lines() {
        if line == "Arguments:" || line == "Options:" {
            listing = true;
            continue;
        }
        if !line.starts_with(' ') {
            listing = false;
            continue;
        }
        let t = line.trim_start();
        if !listing || t.is_empty() {
            continue;
        }
        let entry = line.len() - t.len() <= 6 && (t.starts_with('-') || t.starts_with('<') || t.starts_with('['));
        match entries.last_mut() {
            Some(last) if !entry => last.1 = format!("{} {t}", last.1),
            _ => {
                let (name, rest) = t.split_once("  ").unwrap_or((t, ""));
                entries.push((name.to_string(), rest.trim().to_string()));
            }
        }
    }
    let bare = |d: &str| {
        let mut words = d.to_string();
        while let (Some(a), Some(b)) = (words.find('['), words.find(']')) {
            if b < a {
                break;
            }
            words.replace_range(a..=b, "");
        }
        words.trim().is_empty()
    };
    entries.into_iter().filter(|(name, d)| !name.starts_with("-h, --help") && !name.starts_with("-V, --version") && bare(d)).map(|(n, _)| n).collect()
}

#[test]
fn every_argument_and_option_of_every_command_is_described_in_its_help() {
    let mut missing = Vec::new();
    let mut todo: Vec<Vec<String>> = commands(&help(&[])).into_iter().filter(|c| !PENDING.contains(&c.as_str())).map(|c| vec![c]).collect();
    let mut seen = 0;
    while let Some(path) = todo.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&args);
        seen += 1;
        for sub in commands(&text) {
            let mut p = path.clone();
            p.push(sub);
            todo.push(p);
        }
        for name in undescribed(&text) {
            missing.push(format!("siamface {}: {name}", path.join(" ")));
        }
    }
    assert!(seen > 20, "only {seen} commands found");
    assert!(missing.is_empty(), "undescribed in --help:\n{}", missing.join("\n"));
}

#[test]
fn the_help_reader_finds_undescribed_entries_in_both_layouts() {
    let same_line = "Usage: x\n\nArguments:\n  <A>  The first photo\n  <B>\n\nOptions:\n      --threads <THREADS>  [default: 0]\n      --json  Print JSON\n  -h, --help  Print help\n";
    assert_eq!(undescribed(same_line), vec!["<B>", "--threads <THREADS>"]);
    let next_line = "Options:\n      --addr <ADDR>\n          Address to listen on\n          [default: 127.0.0.1:8080]\n      --threads <THREADS>\n          [default: 0]\n";
    assert_eq!(undescribed(next_line), vec!["--threads <THREADS>"]);
}
