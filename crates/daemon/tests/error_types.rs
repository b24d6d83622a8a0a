//! Every `thiserror` error type in the workspace is listed in ARCHITECTURE.md ("Cross-cutting",
//! the error table), and every listed type exists: a crate that grows a second error enum, or
//! loses one, fails here until the table says why.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Crate directory name → the public error types derived with `thiserror` under its `src/`.
fn derived() -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for krate in fs::read_dir(workspace().join("crates"))
        .expect("crates/ is readable")
        .flatten()
    {
        let name = krate.file_name().to_string_lossy().into_owned();
        let mut files = Vec::new();
        rust_files(&krate.path().join("src"), &mut files);
        let types: &mut BTreeSet<String> = out.entry(name).or_default();
        for f in files {
            let text = fs::read_to_string(&f).expect("a source file is readable");
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                if !(line.contains("derive(") && line.contains("thiserror::Error")) {
                    continue;
                }
                // The item after the attributes; private types (test helpers) are not APIs.
                let item = lines[i + 1..]
                    .iter()
                    .map(|l| l.trim())
                    .find(|l| !l.starts_with("#[") && !l.starts_with("///"))
                    .unwrap_or_default();
                let Some(rest) = item
                    .strip_prefix("pub(crate) ")
                    .or_else(|| item.strip_prefix("pub "))
                else {
                    continue;
                };
                let rest = rest
                    .strip_prefix("enum ")
                    .or_else(|| rest.strip_prefix("struct "))
                    .unwrap_or_else(|| panic!("{}:{}: {item}", f.display(), i + 2));
                let ident: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                types.insert(ident);
            }
        }
    }
    out
}

/// The table: crate → the backticked type names in its row.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let text = fs::read_to_string(workspace().join("ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md is readable");
    let mut rows = text
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("| crate | error types |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .peekable();
    assert!(rows.peek().is_some(), "ARCHITECTURE.md has no error table");
    let mut out = BTreeMap::new();
    for row in rows {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let krate = cells[0].trim_matches('`').to_owned();
        // Only the names before each parenthesis are types; the rest is prose.
        let mut types = BTreeSet::new();
        let mut depth = 0;
        let mut in_tick = false;
        let mut cur = String::new();
        for c in cells[1].chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                '`' if depth == 0 => {
                    if in_tick && cur.chars().next().is_some_and(char::is_uppercase) {
                        types.insert(std::mem::take(&mut cur));
                    }
                    cur.clear();
                    in_tick = !in_tick;
                }
                c if in_tick && depth == 0 => cur.push(c),
                _ => {}
            }
        }
        out.insert(krate, types);
    }
    out
}

#[test]
fn every_error_type_is_in_the_architecture_table() {
    let derived = derived();
    let documented = documented();
    assert_eq!(
        derived.keys().collect::<Vec<_>>(),
        documented.keys().collect::<Vec<_>>(),
        "the error table must have one row per crate"
    );
    for (krate, types) in &derived {
        assert_eq!(
            types, &documented[krate],
            "crate `{krate}`: thiserror types in src/ vs the ARCHITECTURE.md error table"
        );
    }
}
