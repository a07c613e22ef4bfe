//! The library's modules only point down: each file's `crate::` paths (and `super::` paths that
//! leave a top-level module) may name only modules of its own layer or the layers below, and
//! the modules of one layer must not import each other in a cycle. The layers, lowest first,
//! are `LAYERS` (the README's architecture section states the same order); a new top-level
//! module fails this test until it is given a layer.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lowest first. A module may use its own layer (without a cycle) and every layer below.
const LAYERS: &[&[&str]] = &[
    &["error", "rng"],
    &["engine"],
    &["config", "model"],
    &["data", "face"],
    &["gallery", "eval"],
    // Draws what eval measures (ROC curves) and training records (`eval::history`).
    &["plot"],
    // Validates with eval's one-shot trials and draws its curves with plot.
    &["train"],
    &["service", "bench"],
    &["server", "cli"],
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The source with comments, string and char literals blanked, so only code is searched.
fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    while i < c.len() {
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c[i] == 'r' && (i == 0 || !ident(c[i - 1])) && matches!(c.get(i + 1), Some('#') | Some('"')) {
            // A raw string r"..." or r#"..."#; anything else starting with r is an identifier.
            let mut j = i + 1;
            while c.get(j) == Some(&'#') {
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            let hashes = j - i - 1;
            j += 1;
            while j < c.len() && !(c[j] == '"' && (0..hashes).all(|k| c.get(j + 1 + k) == Some(&'#'))) {
                j += 1;
            }
            i = j + 1 + hashes;
            out.push_str("\"\"");
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c[i] == '\'' && c.get(i + 1) == Some(&'\\') {
            i += 2;
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else if c[i] == '\'' && c.get(i + 2) == Some(&'\'') {
            i += 3;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn leading_ident(s: &str) -> String {
    s.trim_start().chars().take_while(|ch| ch.is_alphanumeric() || *ch == '_').collect()
}

/// The top-level modules a file's code names through `crate::` (groups `crate::{a, b::c}`
/// included) and, in a top-level module's own file, through `super::`.
fn imports(code: &str, top_file: bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut prefixes = vec!["crate::"];
    if top_file {
        prefixes.push("super::");
    }
    for prefix in prefixes {
        let mut from = 0;
        while let Some(at) = code[from..].find(prefix) {
            let start = from + at;
            from = start + prefix.len();
            let before = code[..start].chars().next_back();
            if before.is_some_and(|ch| ch.is_alphanumeric() || ch == '_' || ch == '$' || ch == ':') {
                continue;
            }
            let rest = &code[from..];
            if let Some(group) = rest.strip_prefix('{') {
                let (mut depth, mut item, mut end) = (0, String::new(), group.len());
                for (k, ch) in group.char_indices() {
                    match ch {
                        '{' => depth += 1,
                        '}' if depth == 0 => {
                            end = k;
                            break;
                        }
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            out.insert(leading_ident(&item));
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    item.push(ch);
                }
                out.insert(leading_ident(&item));
                from += end;
            } else {
                out.insert(leading_ident(rest));
            }
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

/// Items the crate root re-exports (`pub use error::{Error, Result};` in lib.rs), by the
/// module they come from: `crate::Error` is a use of `error`.
fn root_items(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in lib.lines().filter_map(|l| l.trim().strip_prefix("pub use ")) {
        let module = leading_ident(line);
        let names = line.split_once('{').map_or_else(|| line.rsplit("::").next().unwrap_or(""), |(_, n)| n);
        for name in names.trim_end_matches([';', '}']).split(',') {
            out.insert(leading_ident(name.trim_end_matches([';', '}'])), module.clone());
        }
    }
    out
}

#[test]
fn modules_import_only_their_own_layer_and_those_below_without_cycles() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let root = root_items(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut all = Vec::new();
    files(&src, &mut all);
    all.sort();
    let mut problems = Vec::new();
    // module -> module -> the first file that makes the edge
    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in &all {
        let rel = file.strip_prefix(&src).unwrap();
        let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        if parts.len() == 1 && (parts[0] == "lib.rs" || parts[0] == "main.rs") {
            continue;
        }
        let module = parts[0].trim_end_matches(".rs").to_string();
        let top_file = parts.len() == 1 || (parts.len() == 2 && parts[1] == "mod.rs");
        let Some(from) = rank(&module) else {
            problems.push(format!("{}: module `{module}` has no layer in tests/layers.rs", rel.display()));
            continue;
        };
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        for target in imports(&code, top_file) {
            let target = root.get(&target).cloned().unwrap_or(target);
            if target == module {
                continue;
            }
            match rank(&target) {
                None if top_file => {} // `super::` naming an item of the crate root (a re-export)
                None => problems.push(format!("{}: `crate::{target}` is not a module with a layer", rel.display())),
                Some(to) if to > from => problems.push(format!("{}: `{module}` (layer {from}) uses `{target}` (layer {to}), which is above it", rel.display())),
                Some(_) => {
                    edges.entry(module.clone()).or_default().entry(target).or_insert_with(|| rel.display().to_string());
                }
            }
        }
    }
    // Cycles: a path back to where it started, within one layer.
    for (start, next) in &edges {
        let mut stack: Vec<(String, Vec<String>)> = next.keys().map(|n| (n.clone(), vec![start.clone(), n.clone()])).collect();
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            if at == *start {
                if path.iter().min() != Some(start) {
                    break; // reported from its first module
                }
                let hops: Vec<String> = path.windows(2).map(|w| format!("{} -> {} ({})", w[0], w[1], edges[&w[0]][&w[1]])).collect();
                problems.push(format!("cycle: {}", hops.join(", ")));
                break;
            }
            if !seen.insert(at.clone()) {
                continue;
            }
            for n in edges.get(&at).into_iter().flat_map(|m| m.keys()) {
                let mut p = path.clone();
                p.push(n.clone());
                stack.push((n.clone(), p));
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "{} upward imports or cycles:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn the_checker_sees_grouped_nested_and_super_imports_but_not_comments_or_strings() {
    let code = code_only(
        "use crate::{a::b, c, d::{e, f}};\n// crate::g\nlet s = \"crate::h\"; let r = r#\"crate::i\"#;\nlet c = '\"'; x = crate::j::k(); use super::l;",
    );
    let found: Vec<String> = imports(&code, false).into_iter().collect();
    assert_eq!(found, ["a", "c", "d", "j"]);
    assert!(imports(&code, true).contains("l"));
}
