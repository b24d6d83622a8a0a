//! rpm's SQLite package database, made here by the real rpm (Debian's `rpm` package, installed
//! by scripts/setup.sh): two noarch packages built by `rpmbuild` from
//! `tests/fixtures/os/rpm/ironpost-demo.spec` and installed with `rpm --root` into a private
//! root, then read by `os::rpm::parse_db` and matched against hand-written OSV records.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use ironpost_sbom_scanner::os::OsRelease;
use ironpost_sbom_scanner::os::rpm::{parse_db, parse_header};
use ironpost_sbom_scanner::{Ecosystem, Inventory, scan};
use ironpost_vulndb::Db;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/os/rpm")
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} does not run ({e}); scripts/setup.sh installs rpm"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A root with the two packages installed by rpm; returns (temp dir, root, database path).
fn rpm_root() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let top = dir.path().join("rpmbuild");
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).expect("mkdir");
    let rpm = |args: &[&str]| {
        let mut c = Command::new("rpm");
        c.args([
            "--define",
            "_db_backend sqlite",
            "--dbpath",
            "/var/lib/rpm",
            "--root",
        ])
        .arg(&root)
        .args(args);
        c
    };
    run(Command::new("rpmbuild")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .args(["--define", "_db_backend sqlite", "-bb", "--quiet"])
        .arg(fixtures().join("ironpost-demo.spec")));
    run(&mut rpm(&["--initdb"]));
    let noarch = top.join("RPMS/noarch");
    let mut packages: Vec<PathBuf> = std::fs::read_dir(&noarch)
        .expect("built rpms")
        .map(|e| e.expect("entry").path())
        .collect();
    packages.sort();
    assert_eq!(packages.len(), 2, "{packages:?}");
    let mut install = rpm(&["-i", "--nodeps", "--nosignature", "--noscripts"]);
    install.args(&packages);
    run(&mut install);
    std::fs::create_dir_all(root.join("etc")).expect("mkdir");
    std::fs::write(
        root.join("etc/os-release"),
        "NAME=\"Rocky Linux\"\nID=\"rocky\"\nVERSION_ID=\"9.3\"\n",
    )
    .expect("os-release");
    let db = root.join("var/lib/rpm/rpmdb.sqlite");
    assert!(db.is_file(), "rpm wrote no rpmdb.sqlite");
    (dir, root, db)
}

fn rocky() -> OsRelease {
    OsRelease::parse(
        Path::new("os-release"),
        "ID=\"rocky\"\nVERSION_ID=\"9.3\"\n",
    )
    .expect("valid os-release")
}

fn listing(dir: &Path) -> BTreeSet<(String, u64)> {
    std::fs::read_dir(dir)
        .expect("db dir")
        .map(|e| {
            let e = e.expect("entry");
            let len = e.metadata().expect("metadata").len();
            (e.file_name().to_string_lossy().into_owned(), len)
        })
        .collect()
}

#[test]
fn real_rpmdb_sqlite_packages() {
    let (_dir, _root, db) = rpm_root();
    let db_dir = db.parent().expect("dir").to_owned();
    let before = listing(&db_dir);
    let parsed = parse_db(&db, Some(&rocky())).expect("database reads");
    // Opened immutable: nothing created or grown beside the database.
    assert_eq!(listing(&db_dir), before);
    let got: Vec<_> = parsed
        .packages
        .iter()
        .map(|p| {
            (
                p.purl(),
                p.match_key().1.to_owned(),
                p.osv_ecosystem().map(str::to_owned),
            )
        })
        .collect();
    let rocky9 = Some("Rocky Linux:9".to_owned());
    assert_eq!(
        got,
        [
            (
                "pkg:rpm/rocky/ironpost-demo@1.4.0-3.el9?arch=noarch&distro=rocky-9.3&epoch=2"
                    .to_owned(),
                "2:1.4.0-3.el9".to_owned(),
                rocky9.clone()
            ),
            (
                "pkg:rpm/rocky/ironpost-demo-libs@0.9~rc1-1?arch=noarch&distro=rocky-9.3&epoch=2"
                    .to_owned(),
                "2:0.9~rc1-1".to_owned(),
                rocky9
            ),
        ]
    );
    assert!(
        parsed
            .packages
            .iter()
            .all(|p| p.ecosystem == Ecosystem::RockyLinux)
    );
    assert!(parsed.packages.iter().all(|p| p.lockfile.as_ref() == db));
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
}

#[test]
fn headers_carry_the_source_rpm() {
    let (_dir, _root, db) = rpm_root();
    let mut names = Vec::new();
    for blob in stored_blobs(&db) {
        let h = parse_header(&blob).expect("real header parses");
        names.push((h.name.clone(), h.source_name().map(str::to_owned), h.evr()));
    }
    names.sort();
    assert_eq!(
        names,
        [
            (
                "ironpost-demo".to_owned(),
                Some("ironpost-demo".to_owned()),
                "2:1.4.0-3.el9".to_owned()
            ),
            (
                "ironpost-demo-libs".to_owned(),
                Some("ironpost-demo".to_owned()),
                "2:0.9~rc1-1".to_owned()
            ),
        ]
    );
}

/// The header blobs as rpm stored them, read straight from the `Packages` table.
fn stored_blobs(db: &Path) -> Vec<Vec<u8>> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("opens");
    let mut stmt = conn.prepare("SELECT blob FROM Packages").expect("prepares");
    stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))
        .expect("query")
        .map(|b| b.expect("blob"))
        .collect()
}

#[test]
fn advisories_match_on_name_and_epoch_version_release() {
    let (_dir, _root, db_path) = rpm_root();
    let parsed = parse_db(&db_path, Some(&rocky())).expect("database reads");
    let vuln_dir = tempfile::tempdir().expect("temp dir");
    let report = Db::import(vuln_dir.path(), fixtures().join("osv")).expect("records import");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let db = Db::open(vuln_dir.path()).expect("db opens");
    let inv = Inventory {
        packages: parsed.packages,
        ..Inventory::default()
    };
    let found: BTreeSet<(String, String)> = scan::find(&inv, &db)
        .into_iter()
        .map(|f| (f.package, f.advisory_id))
        .collect();
    let want: BTreeSet<(String, String)> = [
        // 2:1.4.0-3.el9 < 2:1.4.0-3.el9_1.
        ("ironpost-demo", "TEST-ROCKY-DEMO-RELEASE"),
        // 2:0.9~rc1-1 < 2:0.9-1: the tilde sorts first.
        ("ironpost-demo-libs", "TEST-ROCKY-LIBS-TILDE"),
        // Not TEST-ROCKY-DEMO-EPOCH (fixed 1:9.0-1, below epoch 2) nor TEST-ALMA-LIBS (another
        // distribution).
    ]
    .iter()
    .map(|(p, a)| (p.to_string(), a.to_string()))
    .collect();
    assert_eq!(found, want);
}

#[test]
fn not_a_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rpmdb.sqlite");
    std::fs::write(&path, b"not sqlite at all, just text").expect("write");
    let e = parse_db(&path, None).expect_err("not SQLite");
    assert!(
        e.to_string()
            .starts_with(&format!("{}: SQLite:", path.display())),
        "{e}"
    );
    // A SQLite file without the Packages table.
    let other = dir.path().join("other.sqlite");
    let conn = rusqlite::Connection::open(&other).expect("create");
    conn.execute_batch("CREATE VIEW Packages AS SELECT 1 AS hnum, x'00' AS blob;")
        .expect("view");
    drop(conn);
    let e = parse_db(&other, None).expect_err("a view is refused");
    assert_eq!(
        e.to_string(),
        format!("{}: no Packages table", other.display())
    );
}

/// A scanned root with an rpm database: the scanner's inventory holds its packages, named after
/// the database, with the release's ecosystem from the root's os-release.
#[test]
fn a_root_with_an_rpm_database_is_inventoried() {
    let (_dir, root, _db) = rpm_root();
    let inv = ironpost_sbom_scanner::inventory(std::slice::from_ref(&root)).expect("scan");
    let names: Vec<(String, String)> = inv
        .packages
        .iter()
        .map(|p| (p.name.clone(), p.lockfile.display().to_string()))
        .collect();
    let db = root.join("var/lib/rpm/rpmdb.sqlite").display().to_string();
    assert_eq!(
        names,
        [
            ("ironpost-demo".to_owned(), db.clone()),
            ("ironpost-demo-libs".to_owned(), db),
        ]
    );
}
