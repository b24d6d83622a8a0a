//! Errors name the file (and line where known); limits hold; the inventory collects per-file
//! errors and skipped lines; random input never panics a parser.

// Helpers outside #[test] functions unwrap too; a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use ironpost_core::error::{error_chain, repeated_cause};
use ironpost_sbom_scanner::{Error, MAX_FILE_BYTES, MAX_PACKAGES, inventory, parse_lockfile};
use proptest::prelude::*;

fn write(dir: &Path, rel: &str, body: &[u8]) -> std::path::PathBuf {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, body).unwrap();
    p
}

const NAMES: [&str; 9] = [
    "Cargo.lock",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "requirements.txt",
    "poetry.lock",
    "uv.lock",
    "go.mod",
    "go.sum",
];

#[test]
fn syntax_errors_carry_path_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, Option<usize>); 7] = [
        (
            "Cargo.lock",
            "version = 3\n\n[[package]]\nname = \n",
            Some(4),
        ),
        (
            "package-lock.json",
            "{\n  \"packages\": {\n    \"x\": [\n",
            Some(4),
        ),
        ("yarn.lock", "# c\n  version \"1\"\n", Some(2)),
        ("go.mod", "module m\nrequire (\n  only-a-path\n)\n", Some(3)),
        ("go.sum", "a v1 h1:x\nbroken\n", Some(2)),
        (
            "pnpm-lock.yaml",
            "lockfileVersion: '6.0'\npackages: [\n",
            Some(3),
        ),
        ("Cargo.lock", "version = 9\n", None),
    ];
    for (name, body, line) in cases {
        let path = write(tmp.path(), name, body.as_bytes());
        let err = parse_lockfile(&path).expect_err(name);
        assert_eq!(err.path(), path, "{name}: {err}");
        assert_eq!(err.line(), line, "{name}: {err}");
        if let Some(line) = line {
            assert!(err.to_string().contains(&format!(":{line}")), "{err}");
        }
    }
}

/// Each parser's error keeps the parser's message as its source and does not print it again:
/// joined, the chain names the file and line once, then the cause.
#[test]
fn errors_print_their_cause_once() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&str, &str); 4] = [
        ("Cargo.lock", "version = 3\n\n[[package]]\nname = \n"),
        ("package-lock.json", "{\n  \"packages\": {\n    \"x\": [\n"),
        ("pnpm-lock.yaml", "lockfileVersion: '6.0'\npackages: [\n"),
        ("uv.lock", "version = 1\n[[package]\n"),
    ];
    let mut errors: Vec<Error> = cases
        .iter()
        .map(|(name, body)| parse_lockfile(&write(tmp.path(), name, body.as_bytes())).unwrap_err())
        .collect();
    errors.push(parse_lockfile(&tmp.path().join("missing/Cargo.lock")).unwrap_err());
    for e in &errors {
        assert!(std::error::Error::source(e).is_some(), "{e:?}");
        assert_eq!(repeated_cause(e), None, "{}", error_chain(e));
        assert!(
            error_chain(e).starts_with(&e.to_string()),
            "{}",
            error_chain(e)
        );
    }
}

#[test]
fn file_size_limit_names_file_and_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("requirements.txt");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(MAX_FILE_BYTES + 1).unwrap();
    let err = parse_lockfile(&path).unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { limit, .. } if limit == MAX_FILE_BYTES),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("requirements.txt") && msg.contains(&MAX_FILE_BYTES.to_string()),
        "{msg}"
    );

    // A well-formed Cargo.lock over the limit: the streaming reader stops at the limit too.
    let entry = |i: usize| format!("\n[[package]]\nname = \"crate-{i:07}\"\nversion = \"1.0.0\"\n");
    let per = entry(0).len() as u64;
    let body: String = (0..(MAX_FILE_BYTES / per + 1) as usize)
        .map(entry)
        .collect();
    let path = write(tmp.path(), "Cargo.lock", body.as_bytes());
    let err = parse_lockfile(&path).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains("Cargo.lock"), "{err}");
}

#[test]
fn package_limit_names_file() {
    let tmp = tempfile::tempdir().unwrap();
    let body: String = (0..=MAX_PACKAGES).map(|i| format!("p{i}==1.0\n")).collect();
    let path = write(tmp.path(), "requirements.txt", body.as_bytes());
    let err = parse_lockfile(&path).unwrap_err();
    assert!(matches!(err, Error::TooManyPackages { .. }), "{err:?}");
    assert!(err.to_string().contains("requirements.txt"));

    // The limit is on the whole inventory: two files of 30,000 each exceed it together.
    let half: String = (0..30_000).map(|i| format!("p{i}==1.0\n")).collect();
    std::fs::remove_file(&path).unwrap();
    write(tmp.path(), "a/requirements.txt", half.as_bytes());
    write(tmp.path(), "b/requirements.txt", half.as_bytes());
    let inv = inventory(&[tmp.path().to_owned()]).unwrap();
    assert_eq!(inv.packages.len(), 30_000);
    let err = inv.lockfiles[1]
        .error
        .as_ref()
        .expect("second file over the limit");
    assert!(err.to_string().contains("b/requirements.txt"), "{err}");
}

#[test]
fn inventory_collects_errors_and_skips() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "bad/Cargo.lock", b"[[package]\n");
    write(
        tmp.path(),
        "py/requirements.txt",
        b"flask>=2\nrequests==2.31.0\n",
    );
    write(
        tmp.path(),
        "py/node_modules/x/package-lock.json",
        b"not json",
    );
    let inv = inventory(&[tmp.path().to_owned(), tmp.path().join("py")]).unwrap();
    assert_eq!(
        inv.lockfiles.len(),
        2,
        "overlapping scan dirs read each file once"
    );
    assert!(matches!(inv.lockfiles[0].error, Some(Error::Toml { .. })));
    let py = &inv.lockfiles[1];
    assert_eq!(py.packages, 1);
    assert_eq!(py.skipped.len(), 1);
    assert_eq!(py.skipped[0].line, Some(1));
    assert_eq!(py.skipped[0].text, "flask>=2");
    assert_eq!(inv.packages.len(), 1);
    assert!(inventory(&[tmp.path().join("missing")]).is_err());
}

#[test]
fn not_utf8_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let path = write(tmp.path(), "yarn.lock", b"\xff\xfe");
    assert!(matches!(parse_lockfile(&path), Err(Error::NotUtf8 { .. })));
    let body = b"version = 3\n\n[[package]]\nname = \"a\xff\"\nversion = \"1.0.0\"\n";
    let path = write(tmp.path(), "Cargo.lock", body);
    assert!(matches!(parse_lockfile(&path), Err(Error::NotUtf8 { .. })));
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let tmp = tempfile::tempdir().unwrap();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for name in ["package-lock.json", "pnpm-lock.yaml", "yarn.lock"] {
        let body = if name == "yarn.lock" {
            format!("__metadata:\n  x: {deep}\n")
        } else {
            deep.clone()
        };
        let path = write(tmp.path(), name, body.as_bytes());
        assert!(parse_lockfile(&path).is_err(), "{name}");
    }
    let toml = format!("a = {}{}", "[".repeat(100_000), "]".repeat(100_000));
    let path = write(tmp.path(), "uv.lock", toml.as_bytes());
    assert!(parse_lockfile(&path).is_err());
    // Line formats have no nesting: the brackets are just an unusable line.
    for name in ["go.mod", "requirements.txt"] {
        let path = write(tmp.path(), name, deep.as_bytes());
        assert_eq!(parse_lockfile(&path).unwrap(), [], "{name}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048), which in 0..NAMES.len()) {
        let tmp = tempfile::tempdir().unwrap();
        let path = write(tmp.path(), NAMES[which], &body);
        let _ = parse_lockfile(&path);
    }

    #[test]
    fn mutated_fixtures_never_panic(seed in 0..NAMES.len(), cut in 0usize..4000, junk in "[ -~\n\"'{}\\[\\]:@#/()_=-]{0,40}") {
        let fixtures = [
            "cargo/v3/Cargo.lock",
            "npm/v3/package-lock.json",
            "yarn/classic/yarn.lock",
            "pnpm/v9/pnpm-lock.yaml",
            "pip/requirements.txt",
            "poetry/v2/poetry.lock",
            "uv/uv.lock",
            "go/mod/go.mod",
            "go/sum/go.sum",
        ];
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(fixtures[seed]);
        let text = std::fs::read_to_string(&src).unwrap();
        let at = text.char_indices().map(|(i, _)| i).nth(cut % text.len().max(1)).unwrap_or(0);
        let body = format!("{}{}{}", &text[..at], junk, &text[at..]);
        let tmp = tempfile::tempdir().unwrap();
        let path = write(tmp.path(), NAMES[seed], body.as_bytes());
        let _ = parse_lockfile(&path);
    }
}
