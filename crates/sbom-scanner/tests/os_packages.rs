//! OS package databases of root filesystems (a real Debian 12 dpkg status, an Alpine 3.19
//! `installed` written in apk's format) matched against hand-written OSV records: source-package
//! names, release-specific ecosystems and each distribution's version order.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ironpost_sbom_scanner::{Ecosystem, inventory, scan};
use ironpost_vulndb::Db;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/os")
}

/// (package, advisory) pairs found scanning `root` against the fixture records.
fn findings(root: &str) -> BTreeSet<(String, String)> {
    let db_dir = tempfile::tempdir().expect("temp dir");
    let report = Db::import(db_dir.path(), fixtures().join("osv")).expect("fixture records import");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let db = Db::open(db_dir.path()).expect("db opens");
    let inv = inventory(&[fixtures().join(root)]).expect("root inventories");
    for l in &inv.lockfiles {
        assert!(l.error.is_none(), "{}: {:?}", l.path.display(), l.error);
    }
    scan::find(&inv, &db)
        .into_iter()
        .map(|f| (f.package, f.advisory_id))
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    v.iter()
        .map(|(p, a)| (p.to_string(), a.to_string()))
        .collect()
}

#[test]
fn debian_root_inventory() {
    let inv = inventory(&[fixtures().join("debian12")]).expect("root inventories");
    assert_eq!(inv.lockfiles.len(), 1);
    // 844 stanzas, every one `install ok installed` on that host.
    assert_eq!(inv.packages.len(), 844);
    assert!(
        inv.packages
            .iter()
            .all(|p| p.ecosystem == Ecosystem::Debian)
    );
    let libssl = inv
        .packages
        .iter()
        .find(|p| p.name == "libssl3")
        .expect("libssl3 installed");
    assert_eq!(
        libssl.purl(),
        "pkg:deb/debian/libssl3@3.0.19-1~deb12u2?arch=amd64&distro=debian-12"
    );
    assert_eq!(libssl.match_key(), ("openssl", "3.0.19-1~deb12u2"));
    assert_eq!(libssl.osv_ecosystem(), Some("Debian:12"));
    let zlib = inv
        .packages
        .iter()
        .find(|p| p.name == "zlib1g")
        .expect("zlib1g");
    assert_eq!(
        zlib.purl(),
        "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12"
    );
}

#[test]
fn debian_root_findings_are_exactly_the_expected_ones() {
    assert_eq!(
        findings("debian12"),
        pairs(&[
            // Every binary package built from the source package `openssl`.
            ("libssl-dev", "TEST-DEB-OPENSSL"),
            ("libssl3", "TEST-DEB-OPENSSL"),
            ("openssl", "TEST-DEB-OPENSSL"),
            // Epoch 1 installed, fixed in 1:…-2.
            ("zlib1g", "TEST-DEB-ZLIB-EPOCH"),
            ("zlib1g-dev", "TEST-DEB-ZLIB-EPOCH"),
            // Not: glibc (u14 > u9), zlib 1.3 without epoch, the Debian:11 tar record, the
            // record naming the binary libssl3, tar fixed in a `~pre` before the installed one.
        ])
    );
}

#[test]
fn alpine_root_findings_are_exactly_the_expected_ones() {
    let inv = inventory(&[fixtures().join("alpine319")]).expect("root inventories");
    let purls: Vec<String> = inv.packages.iter().map(|p| p.purl()).collect();
    assert_eq!(
        purls,
        [
            "pkg:apk/alpine/busybox@1.36.1-r2?arch=x86_64&distro=3.19.1",
            "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=3.19.1",
            "pkg:apk/alpine/libssl3@3.1.4-r5?arch=x86_64&distro=3.19.1",
            "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=3.19.1",
        ]
    );
    assert_eq!(
        findings("alpine319"),
        pairs(&[
            ("busybox", "TEST-ALPINE-BUSYBOX"),
            ("libcrypto3", "TEST-ALPINE-OPENSSL"),
            ("libssl3", "TEST-ALPINE-OPENSSL"),
        ])
    );
}

#[test]
fn another_release_matches_nothing_of_this_one() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path();
    std::fs::create_dir_all(root.join("var/lib/dpkg")).expect("mkdir");
    std::fs::create_dir_all(root.join("etc")).expect("mkdir");
    std::fs::copy(
        fixtures().join("debian12/var/lib/dpkg/status"),
        root.join("var/lib/dpkg/status"),
    )
    .expect("copy status");
    std::fs::write(
        root.join("etc/os-release"),
        "ID=debian\nVERSION_ID=\"11\"\n",
    )
    .expect("write");
    let db_dir = tempfile::tempdir().expect("temp dir");
    Db::import(db_dir.path(), fixtures().join("osv")).expect("import");
    let db = Db::open(db_dir.path()).expect("open");
    let inv = inventory(&[root.to_owned()]).expect("inventory");
    let found: BTreeSet<String> = scan::find(&inv, &db)
        .into_iter()
        .map(|f| f.advisory_id)
        .collect();
    // On "Debian 11", only the Debian:11 tar record applies (1.34+dfsg-1.2+deb12u1 < its fix).
    assert_eq!(found, BTreeSet::from(["TEST-DEB11-TAR".to_owned()]));
}
