//! Importing sources: zip archives of OSV JSON, hostile input (bad, oversized, too many
//! entries, symlinks), re-imports, status and the database's own error cases.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns: a panic is the failure report

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use ironpost_vulndb::{Db, EntryErrorKind, Limits, SourceKind, VulnDbError};

fn osv_data() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rustsec/osv");
    assert!(p.is_dir(), "test data {} is missing", p.display());
    p
}

const GOOD: &str = r#"{"id":"OK-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"ok"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"}]}]}]}"#;

fn zip_of(path: &Path, entries: &[(&str, &[u8])]) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap();
}

fn ids(db: &Db) -> BTreeSet<String> {
    db.advisories().iter().map(|a| a.id.clone()).collect()
}

#[test]
fn zip_of_osv_json_imports_like_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(osv_data().join("crates"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    let big = vec![b' '; 5 * 1024 * 1024];
    let mut entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    entries.push(("README.md", b"not an advisory"));
    entries.push(("bad.json", b"{\n  \"id\": \n}"));
    entries.push(("huge.json", &big));
    entries.push(("../escape.json", GOOD.as_bytes()));
    let zip_path = tmp.path().join("all.zip");
    zip_of(&zip_path, &entries);

    let report = Db::import(tmp.path().join("zipdb"), &zip_path).unwrap();
    assert_eq!(report.kind, SourceKind::OsvZip);
    assert_eq!(report.imported, 1207, "1206 RustSec records and OK-1");
    assert_eq!(report.skipped, 1);
    assert_eq!(report.errors.len(), 2, "{:#?}", report.errors);
    let bad = report
        .errors
        .iter()
        .find(|e| e.file.ends_with("all.zip!bad.json"))
        .unwrap();
    assert_eq!(bad.line, Some(3));
    assert!(matches!(bad.kind, EntryErrorKind::Json(_)));
    assert!(bad.to_string().contains("all.zip!bad.json:3"), "{bad}");
    let huge = report
        .errors
        .iter()
        .find(|e| e.file.ends_with("all.zip!huge.json"))
        .unwrap();
    assert!(matches!(huge.kind, EntryErrorKind::TooLarge { .. }));
    // The `../` name is only a label: nothing was written outside the database directory.
    assert!(!tmp.path().join("escape.json").exists());

    let zipdb = Db::open(tmp.path().join("zipdb")).unwrap();
    let dirdb_dir = tmp.path().join("dirdb");
    Db::import(&dirdb_dir, osv_data()).unwrap();
    let dirdb = Db::open(&dirdb_dir).unwrap();
    let mut want = ids(&dirdb);
    want.insert("OK-1".into());
    assert_eq!(ids(&zipdb), want);
    assert_eq!(
        zipdb.get("RUSTSEC-2026-0041"),
        dirdb.get("RUSTSEC-2026-0041")
    );
}

#[test]
fn bad_entries_in_a_directory_are_counted_and_name_their_file() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("nested")).unwrap();
    std::fs::write(src.join("good.json"), GOOD).unwrap();
    std::fs::write(src.join("nested/bad.json"), "{\"id\": 5}").unwrap();
    std::fs::write(src.join("big.json"), vec![b' '; 2048]).unwrap();
    std::fs::write(src.join("notes.txt"), "ignored").unwrap();
    // A symlink to a file outside the source is not followed.
    let outside = tmp.path().join("outside.json");
    std::fs::write(&outside, GOOD.replace("OK-1", "OUT-1")).unwrap();
    std::os::unix::fs::symlink(&outside, src.join("link.json")).unwrap();

    let limits = Limits {
        max_file_bytes: 1024,
        ..Limits::default()
    };
    let report = Db::import_with(tmp.path().join("db"), &src, None, &limits, Utc::now()).unwrap();
    assert_eq!(report.imported, 1);
    assert_eq!(report.skipped, 1, "notes.txt");
    assert_eq!(report.errors.len(), 2, "{:#?}", report.errors);
    let files: BTreeSet<String> = report.errors.iter().map(|e| e.file.clone()).collect();
    assert!(
        files.iter().any(|f| f.ends_with("nested/bad.json")),
        "{files:?}"
    );
    assert!(files.iter().any(|f| f.ends_with("big.json")), "{files:?}");
    let db = Db::open(tmp.path().join("db")).unwrap();
    assert_eq!(ids(&db), BTreeSet::from(["OK-1".to_string()]));
}

#[test]
fn native_errors_name_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("advisory-db/crates/broken");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("RUSTSEC-2099-0001.md"),
        "```toml\n[advisory]\nid = \"RUSTSEC-2099-0001\"\npackage = \"broken\"\ndate = 2099-13-45x\n```\n# t\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("RUSTSEC-2099-0002.md"),
        "```toml\n[advisory]\nid = \"RUSTSEC-2099-0002\"\npackage = \"broken\"\ndate = \"2099-01-01\"\n\n[versions]\npatched = [\">= 1.0.0\"]\n```\n# fine\n",
    )
    .unwrap();
    std::fs::create_dir_all(tmp.path().join("advisory-db/rust/std")).unwrap();
    std::fs::write(
        tmp.path().join("advisory-db/rust/std/CVE-2099-1.md"),
        "toolchain",
    )
    .unwrap();
    let report = Db::import(tmp.path().join("db"), tmp.path().join("advisory-db")).unwrap();
    assert_eq!(report.kind, SourceKind::RustsecNative);
    assert_eq!(report.imported, 1);
    assert_eq!(
        report.skipped, 1,
        "rust/ toolchain advisories are not registry advisories"
    );
    assert_eq!(report.errors.len(), 1);
    let e = &report.errors[0];
    assert!(e.file.ends_with("RUSTSEC-2099-0001.md"), "{e}");
    assert_eq!(e.line, Some(5), "{e}");
}

#[test]
fn too_many_entries_stops_the_import() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    for i in 0..5 {
        std::fs::write(src.join(format!("{i}.json")), GOOD).unwrap();
    }
    let limits = Limits {
        max_entries: 3,
        ..Limits::default()
    };
    let err = Db::import_with(tmp.path().join("db"), &src, None, &limits, Utc::now()).unwrap_err();
    assert!(
        matches!(err, VulnDbError::TooManyEntries { limit: 3, .. }),
        "{err}"
    );
    assert!(matches!(
        Db::open(tmp.path().join("db")),
        Err(VulnDbError::NotFound { .. })
    ));
}

#[test]
fn reimport_replaces_its_own_advisories_and_status_reports_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(a.join("1.json"), GOOD).unwrap();
    std::fs::write(
        a.join("2.json"),
        GOOD.replace("OK-1", "A-2").replace("\"ok\"", "\"ok-a2\""),
    )
    .unwrap();
    std::fs::write(b.join("1.json"), GOOD.replace("\"ok\"", "\"ok-b\"")).unwrap();
    let dbdir = tmp.path().join("db");
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let lim = Limits::default();
    Db::import_with(&dbdir, &a, None, &lim, t0).unwrap();
    // Source b brings OK-1 too: it replaces a's copy.
    let rb = Db::import_with(&dbdir, &b, None, &lim, t0 + chrono::Duration::hours(1)).unwrap();
    assert_eq!(rb.replaced, 1);
    assert_eq!(rb.total, 2);
    let db = Db::open(&dbdir).unwrap();
    assert!(db.matches("npm", "ok", "0.5.0", true).is_empty());
    assert_eq!(db.matches("npm", "ok-b", "0.5.0", true).len(), 1);

    // Re-importing a after A-2 disappeared from it drops A-2.
    std::fs::remove_file(a.join("2.json")).unwrap();
    Db::import_with(&dbdir, &a, None, &lim, t0 + chrono::Duration::hours(2)).unwrap();
    let db = Db::open(&dbdir).unwrap();
    assert_eq!(ids(&db), BTreeSet::from(["OK-1".to_string()]));
    assert_eq!(db.get("OK-1").unwrap().affected[0].name, "ok");

    let status = db.status_at(t0 + chrono::Duration::hours(3));
    assert_eq!(status.advisories, 1);
    assert_eq!(status.sources.len(), 2);
    assert_eq!(status.sources[0].meta.kind, SourceKind::OsvDir);
    assert_eq!(status.sources[0].held, 1);
    assert_eq!(status.sources[0].age_seconds, 3600);
    assert_eq!(status.sources[1].held, 0);
    assert_eq!(status.sources[1].age_seconds, 7200);
    assert_eq!(status.newest_import_age_seconds, Some(3600));
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["sources"][0]["kind"], "osv_dir");
}

#[test]
fn open_reports_missing_and_corrupt_databases() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(matches!(
        Db::open(tmp.path()),
        Err(VulnDbError::NotFound { .. })
    ));
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("1.json"), GOOD).unwrap();
    let dbdir = tmp.path().join("db");
    Db::import(&dbdir, &src).unwrap();
    // Cut short, trailing garbage, another file, another format.
    let good = std::fs::read(dbdir.join("index.bin")).unwrap();
    let broken: [Vec<u8>; 3] = [
        good[..good.len() - 3].to_vec(),
        [good.as_slice(), b"xx"].concat(),
        b"{\"format\":1,\"advisories\":[".to_vec(),
    ];
    for bytes in broken {
        std::fs::write(dbdir.join("index.bin"), &bytes).unwrap();
        let err = Db::open(&dbdir).unwrap_err();
        assert!(
            matches!(
                err,
                VulnDbError::Corrupt { .. }
                    | VulnDbError::CorruptIndex { .. }
                    | VulnDbError::TrailingBytes { .. }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("index.bin"), "{err}");
    }
    let mut other = good.clone();
    other[16..20].copy_from_slice(&1u32.to_le_bytes());
    std::fs::write(dbdir.join("index.bin"), &other).unwrap();
    let err = Db::open(&dbdir).unwrap_err();
    assert!(
        matches!(
            err,
            VulnDbError::Format {
                found: 1,
                expected: 2,
                ..
            }
        ),
        "{err:?}"
    );
    std::fs::write(dbdir.join("index.bin"), &good).unwrap();
    assert!(Db::open(&dbdir).is_ok());
    assert!(matches!(
        Db::import(tmp.path().join("db2"), tmp.path().join("nope")),
        Err(VulnDbError::Read { .. })
    ));
    let not_zip = tmp.path().join("x.zip");
    std::fs::write(&not_zip, "hello").unwrap();
    assert!(matches!(
        Db::import(tmp.path().join("db3"), &not_zip),
        Err(VulnDbError::UnknownSource { .. })
    ));
}

/// Real failures (a bad OSV file, a bad RustSec front matter, a damaged database): no message
/// repeats its source, and the joined chain still shows the parser's reason once.
#[test]
fn errors_print_their_cause_once() {
    use ironpost_core::error::{error_chain, repeated_cause};

    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("osv");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("1.json"), GOOD).unwrap();
    std::fs::write(src.join("2.json"), "{\"id\": \"BAD-1\",\n \"affected\": [}").unwrap();
    let dbdir = tmp.path().join("db");
    let report = Db::import(&dbdir, &src).unwrap();
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    let entry = &report.errors[0];
    assert!(matches!(entry.kind, EntryErrorKind::Json(_)), "{entry:?}");
    let text = error_chain(entry);
    assert!(text.contains("2.json:2: invalid OSV JSON: "), "{text}");
    assert_eq!(text.matches("invalid OSV JSON").count(), 1, "{text}");

    let native =
        ironpost_vulndb::rustsec::parse_native("```toml\n[advisory]\nid = \n```\n").unwrap_err();
    std::fs::write(dbdir.join("meta.json"), "{not json").unwrap();
    let corrupt = Db::open(&dbdir).unwrap_err();
    assert!(
        matches!(corrupt, VulnDbError::CorruptMeta { .. }),
        "{corrupt:?}"
    );
    let errors: [&(dyn std::error::Error + 'static); 3] = [entry, &native, &corrupt];
    for e in errors {
        assert_eq!(repeated_cause(e), None, "{}", error_chain(e));
        assert!(e.source().is_some(), "{e:?}");
    }
}
