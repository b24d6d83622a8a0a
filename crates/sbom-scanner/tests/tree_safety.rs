//! Symlink and FIFO safety of the scans done as root: a scan directory (and a container's root,
//! scanned the same way) holding links to the host's `/etc/shadow` and a FIFO named like a
//! lockfile. The links resolve inside the root (where there is no `etc/shadow`) and are skipped,
//! the FIFO is never opened, both are counted, and the scan completes with the real lockfile.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use ironpost_sbom_scanner::tree::{HostTree, SkipReason};
use ironpost_sbom_scanner::{Inventory, inventory, inventory_tree};

const CARGO_LOCK: &str = "version = 3\n\n[[package]]\nname = \"smallvec\"\nversion = \"1.6.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n";

fn hostile_root() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    for d in ["app", "abs", "rel", "srv/deep/er", "var/lib/dpkg/status.d"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::write(r.join("app/Cargo.lock"), CARGO_LOCK).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", r.join("abs/Cargo.lock")).unwrap();
    std::os::unix::fs::symlink(
        "../../../../../../../../etc/shadow",
        r.join("srv/deep/er/package-lock.json"),
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc/shadow", r.join("var/lib/dpkg/status")).unwrap();
    std::os::unix::fs::symlink(
        "../../../../../etc/shadow",
        r.join("var/lib/dpkg/status.d/x"),
    )
    .unwrap();
    let st = Command::new("mkfifo")
        .arg(r.join("rel/yarn.lock"))
        .status()
        .unwrap();
    assert!(st.success());
    tmp
}

fn check(inv: &Inventory, root: &Path) {
    let paths: Vec<_> = inv.lockfiles.iter().map(|l| l.path.clone()).collect();
    assert_eq!(paths, [root.join("app/Cargo.lock")], "{:?}", inv.lockfiles);
    assert!(inv.lockfiles[0].error.is_none());
    assert_eq!(inv.packages.len(), 1);
    assert_eq!(inv.packages[0].name, "smallvec");
    // abs/Cargo.lock, srv/.../package-lock.json, dpkg status and status.d/x; the FIFO.
    assert_eq!(
        inv.skipped_entries.get(SkipReason::Unresolved),
        4,
        "{inv:?}"
    );
    assert_eq!(inv.skipped_entries.get(SkipReason::NotRegular), 1);
    assert_eq!(inv.skipped_entries.total(), 5);
}

#[test]
fn links_to_the_host_and_fifos_are_skipped_and_counted() {
    assert!(
        Path::new("/etc/shadow").exists(),
        "the test needs a host /etc/shadow"
    );
    let tmp = hostile_root();
    let inv = inventory(&[tmp.path().to_owned()]).unwrap();
    check(&inv, tmp.path());
    // A container's root is walked the same way (the daemon opens /proc/<pid>/root as the tree).
    let tree = HostTree::open(tmp.path()).unwrap();
    check(&inventory_tree(&tree, tmp.path(), &["proc"]), tmp.path());
    // Without openat2 no link is followed at all: the same outcome here.
    let tree = HostTree::open(tmp.path()).unwrap().without_openat2();
    check(&inventory_tree(&tree, tmp.path(), &["proc"]), tmp.path());
}

#[test]
fn a_link_inside_the_root_is_read_there() {
    let tmp = hostile_root();
    // An absolute link to a lockfile of the root itself resolves against the root, not the host.
    std::fs::remove_dir_all(tmp.path().join("var")).unwrap();
    std::fs::create_dir_all(tmp.path().join("etc")).unwrap();
    std::fs::write(
        tmp.path().join("etc/shadow"),
        CARGO_LOCK.replace("1.6.0", "1.6.1"),
    )
    .unwrap();
    let inv = inventory(&[tmp.path().to_owned()]).unwrap();
    let mut versions: Vec<_> = inv
        .lockfiles
        .iter()
        .map(|l| {
            (
                l.path.strip_prefix(tmp.path()).unwrap().to_owned(),
                l.packages,
            )
        })
        .collect();
    versions.sort();
    assert_eq!(
        versions,
        [
            (Path::new("abs/Cargo.lock").to_owned(), 1),
            (Path::new("app/Cargo.lock").to_owned(), 1),
        ],
        "{:?}",
        inv.lockfiles
    );
    assert!(inv.packages.iter().any(|p| p.version == "1.6.1"));
}
