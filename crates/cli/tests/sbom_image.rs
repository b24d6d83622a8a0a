//! Container images as scan input, end to end with the real CLI and the local dockerd: an image
//! built here (on the `FROM scratch` busybox image) whose lower layer holds a Cargo.lock with a
//! vulnerable crate that an upper layer deletes (a whiteout: not reported), a Cargo.lock that
//! stays (reported), and this machine's real dpkg status and os-release (Debian packages
//! inventoried; hand-written OSV records around the installed coreutils version: one finding).
//! A Go program built here (Debian's Go, the sbom-scanner's fixture module, offline) sits in the
//! upper layer: the modules built into it are inventoried, and a hand-written advisory for the Go
//! standard library built into it is found, by the CLI and by the daemon.
//! The engine's export, `docker save`'s tar and an OCI layout converted from it give the same
//! inventory and findings; `sbom generate --image` writes the image's CycloneDX and SPDX.
//! A Rust program built here by the real `cargo auditable` (scripts/setup.sh installs it), offline,
//! with two crates from the local registry, in an image of its own: exactly those crates and
//! versions are inventoried from its `.dep-v0` section, and a hand-written advisory matches one.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::docker::{docker, docker_at, ensure_image};
use common::{cli, run, text};
use serde_json::{Value, json};

const REGISTRY: &str = "registry+https://github.com/rust-lang/crates.io-index";

/// Removes the test image on drop.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = docker_at(None, &["rmi", "-f", &self.0]);
    }
}

fn lock(name: &str, version: &str) -> String {
    format!(
        "version = 3\n\n[[package]]\nname = \"{name}\"\nversion = \"{version}\"\nsource = \"{REGISTRY}\"\n"
    )
}

fn sh(cmd: &mut Command) -> String {
    let o = run(cmd);
    assert!(o.status.success(), "{cmd:?}: {}", text(&o.stderr));
    text(&o.stdout).trim().to_owned()
}

/// coreutils as dpkg lists it here: (version, source package, source version).
fn installed_coreutils() -> (String, String, String) {
    let out = sh(Command::new("dpkg-query").args([
        "-W",
        "-f=${Version} ${source:Package} ${source:Version}",
        "coreutils",
    ]));
    let v: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(v.len(), 3, "{out}");
    (v[0].into(), v[1].into(), v[2].into())
}

/// The vulnerability database: the RustSec OSV export and two Debian records around the
/// installed coreutils (fixed just after it: affected; fixed at it: not).
fn database(work: &Path) -> PathBuf {
    let (_, src, src_version) = installed_coreutils();
    let osv = work.join("osv");
    std::fs::create_dir_all(&osv).unwrap();
    for (id, fixed) in [
        ("TEST-IMG-DEB-AFFECTED", format!("{src_version}+ironpost1")),
        ("TEST-IMG-DEB-FIXED", src_version.clone()),
    ] {
        let rec = json!({
            "schema_version": "1.6.0", "id": id, "modified": "2026-12-01T00:00:00Z",
            "summary": format!("{src} before {fixed}"),
            "affected": [{"package": {"ecosystem": "Debian:12", "name": src},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]
        });
        std::fs::write(osv.join(format!("{id}.json")), rec.to_string()).unwrap();
    }
    // The Go standard library built into /usr/local/bin/app. The fixture's own dependency comes
    // from a local directory (`replace`), which no advisory is about.
    let rec = common::gobin::stdlib_advisory("TEST-IMG-GO");
    std::fs::write(osv.join("TEST-IMG-GO.json"), rec.to_string()).unwrap();
    let db = work.join("db");
    let rustsec = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/rustsec/osv"
    ));
    for src in [rustsec, osv] {
        let o = run(cli().args(["db", "import", "--db"]).arg(&db).arg(&src));
        assert!(
            o.status.success(),
            "db import {}: {}",
            src.display(),
            text(&o.stderr)
        );
    }
    db
}

fn build(work: &Path, tag: &str) -> Image {
    ensure_image();
    let ctx = work.join("ctx");
    for d in ["gone", "kept", "dpkg"] {
        std::fs::create_dir_all(ctx.join(d)).unwrap();
    }
    // RUSTSEC-2023-0096 (aes-gcm 0.10.2): deleted by the upper layer. RUSTSEC-2020-0091
    // (arc-swap 0.4.7): stays.
    std::fs::write(ctx.join("gone/Cargo.lock"), lock("aes-gcm", "0.10.2")).unwrap();
    std::fs::write(ctx.join("kept/Cargo.lock"), lock("arc-swap", "0.4.7")).unwrap();
    std::fs::copy("/var/lib/dpkg/status", ctx.join("dpkg/status")).unwrap();
    std::fs::copy("/etc/os-release", ctx.join("os-release")).unwrap();
    common::gobin::build(&ctx.join("kept/app"));
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {}\nCOPY gone/ /gone/\nCOPY dpkg/status /var/lib/dpkg/status\n\
             COPY os-release /etc/os-release\nRUN [\"/bin/rm\", \"/gone/Cargo.lock\"]\nCOPY kept/Cargo.lock /srv/app/\n\
             COPY kept/app /usr/local/bin/app\n",
            common::docker::IMAGE
        ),
    )
    .unwrap();
    let img = Image(tag.to_owned());
    docker(&["build", "-q", "-t", tag, &ctx.display().to_string()]);
    img
}

/// `docker save` tar → OCI image layout (blobs named by their sha256, the last layer gzipped).
fn to_oci(saved: &Path, out: &Path) {
    let x = out.with_extension("x");
    std::fs::create_dir_all(&x).unwrap();
    sh(Command::new("tar").arg("-xf").arg(saved).arg("-C").arg(&x));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(x.join("manifest.json")).unwrap()).unwrap();
    let blobs = out.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |path: &Path| -> Value {
        let hex = sh(Command::new("sha256sum").arg(path));
        let hex = hex.split_whitespace().next().unwrap().to_owned();
        std::fs::copy(path, blobs.join(&hex)).unwrap();
        json!({"digest": format!("sha256:{hex}"), "size": std::fs::metadata(path).unwrap().len()})
    };
    let layers: Vec<&Value> = manifest[0]["Layers"].as_array().unwrap().iter().collect();
    let mut descs = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let mut p = x.join(l.as_str().unwrap());
        let mut media = "application/vnd.oci.image.layer.v1.tar";
        if i + 1 == layers.len() {
            let gz = x.join(format!("last-{i}.tar.gz"));
            let o = run(Command::new("gzip").arg("-c").arg(&p));
            assert!(o.status.success());
            std::fs::write(&gz, o.stdout).unwrap();
            p = gz;
            media = "application/vnd.oci.image.layer.v1.tar+gzip";
        }
        let mut d = put(&p);
        d["mediaType"] = json!(media);
        descs.push(d);
    }
    let mut config = put(&x.join(manifest[0]["Config"].as_str().unwrap()));
    config["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
    let m = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config, "layers": descs});
    let mpath = x.join("oci-manifest.json");
    std::fs::write(&mpath, m.to_string()).unwrap();
    let mut md = put(&mpath);
    md["mediaType"] = json!("application/vnd.oci.image.manifest.v1+json");
    md["platform"] = json!({"os": "linux", "architecture": "amd64"});
    std::fs::write(
        out.join("index.json"),
        json!({"schemaVersion": 2, "manifests": [md]}).to_string(),
    )
    .unwrap();
    std::fs::write(out.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

fn scan(db: &Path, args: &[&str]) -> Value {
    let o = run(cli()
        .args(["scan", "image", "--db"])
        .arg(db)
        .args(["--format", "json", "--min-severity", "info"])
        .args(args));
    assert_eq!(
        o.status.code(),
        Some(6),
        "findings expected: {}",
        text(&o.stderr)
    );
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} {}", text(&o.stdout), text(&o.stderr)))
}

fn findings(r: &Value) -> BTreeSet<(String, String, String)> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["advisory_id"].as_str().unwrap().to_owned(),
                f["package"].as_str().unwrap().to_owned(),
                f["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn image_scans_apply_whiteouts_and_agree_across_inputs() {
    let work = tempfile::tempdir().unwrap();
    let tag = format!("ironpost-imgscan-{}", std::process::id());
    let _img = build(work.path(), &tag);
    let db = database(work.path());
    let (version, _, _) = installed_coreutils();
    let (stdlib, _) = common::gobin::stdlib();
    let want: BTreeSet<(String, String, String)> = [
        ("RUSTSEC-2020-0091", "arc-swap", "0.4.7"),
        ("TEST-IMG-DEB-AFFECTED", "coreutils", version.as_str()),
        ("TEST-IMG-GO", "stdlib", stdlib.as_str()),
    ]
    .iter()
    .map(|(a, p, v)| ((*a).to_owned(), (*p).to_owned(), (*v).to_owned()))
    .collect();

    let engine = scan(&db, &[&tag]);
    assert_eq!(findings(&engine), want, "{engine}");
    let dpkg_packages = sh(Command::new("dpkg-query").args(["-W", "-f=.\n"]))
        .lines()
        .count();
    // Every dpkg package, the one crate that was not deleted and the Go program's module and
    // standard library.
    assert_eq!(
        engine["packages"].as_u64().unwrap() as usize,
        dpkg_packages + 3
    );
    let lockfiles: Vec<&str> = engine["lockfiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        lockfiles,
        [
            "/var/lib/dpkg/status",
            "/srv/app/Cargo.lock",
            "/usr/local/bin/app"
        ]
    );

    let saved = work.path().join("saved.tar");
    docker(&["save", "-o", &saved.display().to_string(), &tag]);
    let from_tar = scan(&db, &["--input", &saved.display().to_string()]);
    let oci = work.path().join("oci");
    to_oci(&saved, &oci);
    let from_oci = scan(&db, &["--input", &oci.display().to_string()]);
    for r in [&from_tar, &from_oci] {
        assert_eq!(findings(r), want);
        assert_eq!(r["packages"], engine["packages"]);
        assert_eq!(r["lockfiles"], engine["lockfiles"]);
    }

    let sbom = work.path().join("image.cdx.json");
    let o = run(cli()
        .args([
            "sbom",
            "generate",
            "--image",
            &tag,
            "--format",
            "cyclonedx",
            "--output",
        ])
        .arg(&sbom));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let doc: Value = serde_json::from_slice(&std::fs::read(&sbom).unwrap()).unwrap();
    let purls: BTreeSet<&str> = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["purl"].as_str())
        .collect();
    assert_eq!(purls.len(), dpkg_packages + 3);
    assert!(purls.contains("pkg:cargo/arc-swap@0.4.7"), "{purls:?}");
    assert!(
        purls.contains("pkg:golang/example.com/ironpost/greet@v1.2.3"),
        "{purls:?}"
    );
    assert!(!purls.iter().any(|p| p.contains("aes-gcm")));
    assert!(
        purls
            .iter()
            .any(|p| p.starts_with(&format!("pkg:deb/debian/coreutils@{version}"))),
        "{purls:?}"
    );

    // SPDX of the same image: one package per component, the same purls as external refs.
    let o = run(cli().args([
        "sbom", "generate", "--image", &tag, "--format", "spdx", "--output", "-",
    ]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let spdx: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(spdx["spdxVersion"], "SPDX-2.3");
    let spdx_purls: BTreeSet<&str> = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["externalRefs"].as_array().into_iter().flatten())
        .filter(|r| r["referenceType"] == "purl")
        .filter_map(|r| r["referenceLocator"].as_str())
        .collect();
    assert_eq!(spdx_purls, purls);
}

#[test]
fn a_missing_image_or_archive_is_an_error_naming_it() {
    let o = run(cli().args([
        "scan",
        "image",
        "--db",
        "/nonexistent-db",
        "ironpost-no-such-image:nope",
    ]));
    assert_eq!(o.status.code(), Some(1));
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("db");
    let o = run(cli().args(["db", "import", "--db"]).arg(&db).arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/rustsec/osv"
    )));
    assert!(o.status.success());
    let o = run(cli()
        .args(["scan", "image", "--db"])
        .arg(&db)
        .arg("ironpost-no-such-image:nope"));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("ironpost-no-such-image:nope"),
        "{}",
        text(&o.stderr)
    );
    let bogus = work.path().join("bogus.tar");
    std::fs::write(&bogus, vec![b'x'; 2048]).unwrap();
    let o = run(cli()
        .args(["scan", "image", "--db"])
        .arg(&db)
        .arg("--input")
        .arg(&bogus));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("not a tar archive"),
        "{}",
        text(&o.stderr)
    );
}

/// `[sbom] scan_images = true`: the real daemon exports the engine's images, and a vulnerable
/// crate in an image built here becomes a stored alert naming the image (once: the scan's alerted
/// set holds its key), with the Debian finding of the same image.
#[test]
fn daemon_scans_the_engines_images_and_stores_alerts() {
    let work = tempfile::tempdir().unwrap();
    let tag = format!("ironpost-imgdaemon-{}", std::process::id());
    let _img = build(work.path(), &tag);
    let db = database(work.path());
    let empty = work.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let d = common::Daemon::start(
        &["--defaults"],
        &[
            ("IRONPOST_SBOM_ENABLED", "true"),
            ("IRONPOST_SBOM_SCAN_DIRS", empty.to_str().unwrap()),
            ("IRONPOST_SBOM_VULN_DB_PATH", db.to_str().unwrap()),
            ("IRONPOST_SBOM_MIN_SEVERITY", "info"),
            ("IRONPOST_SBOM_SCAN_IMAGES", "true"),
        ],
    );
    let mine = |a: &Value| {
        a["description"]
            .as_str()
            .is_some_and(|s| s.contains(&format!("{tag}:latest:")))
    };
    let got: Vec<Value> = common::wait_for(120, "the image's alerts to be stored", || {
        let o = run(d
            .cli()
            .args(["alerts", "list", "--output", "json", "--limit", "1000"]));
        let all: Vec<Value> = serde_json::from_slice(&o.stdout).ok()?;
        let mine: Vec<Value> = all.into_iter().filter(|a| mine(a)).collect();
        (mine.len() >= 3).then_some(mine)
    });
    let ids: BTreeSet<&str> = got.iter().map(|a| a["rule_id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["RUSTSEC-2020-0091", "TEST-IMG-DEB-AFFECTED", "TEST-IMG-GO"]
            .into_iter()
            .collect(),
        "{got:?}"
    );
    assert_eq!(got.len(), 3, "each finding once: {got:?}");
    let go = got.iter().find(|a| a["rule_id"] == "TEST-IMG-GO").unwrap();
    assert!(
        go["description"]
            .as_str()
            .unwrap()
            .contains(&format!("{tag}:latest:/usr/local/bin/app")),
        "{go}"
    );
    let arc = got
        .iter()
        .find(|a| a["rule_id"] == "RUSTSEC-2020-0091")
        .unwrap();
    assert!(
        arc["description"]
            .as_str()
            .unwrap()
            .contains(&format!("{tag}:latest:/srv/app/Cargo.lock")),
        "{arc}"
    );
    let (_, metrics) = d.get("/metrics");
    assert!(
        metrics.contains("ironpost_sbom_scans_total{result=\"ok\"} 1"),
        "{metrics}"
    );
}

/// The crates the auditable program depends on (none has dependencies of its own), each pinned
/// to the version the workspace's own Cargo.lock has: the workspace's build put it in the local
/// registry, so `--offline` resolves it.
fn audited() -> Vec<(&'static str, String)> {
    let lock = std::fs::read_to_string(common::repo_root().join("Cargo.lock")).unwrap();
    ["itoa", "memchr"]
        .into_iter()
        .map(|name| {
            let at = lock
                .find(&format!("name = \"{name}\"\nversion = \""))
                .unwrap_or_else(|| panic!("{name} is not in the workspace's Cargo.lock"));
            let version = lock[at..].lines().nth(1).unwrap();
            let version = version
                .trim_start_matches("version = \"")
                .trim_end_matches('"');
            (name, version.to_owned())
        })
        .collect()
}

/// A Rust program built by `cargo auditable build --offline --release` in `dir`, its target
/// directory there too; the binary's path.
fn cargo_auditable_binary(dir: &Path) -> PathBuf {
    let src = dir.join("app");
    std::fs::create_dir_all(src.join("src")).unwrap();
    let deps: String = audited()
        .iter()
        .map(|(name, version)| format!("{name} = \"={version}\"\n"))
        .collect();
    std::fs::write(
        src.join("Cargo.toml"),
        format!(
            "[package]\nname = \"ironpost-auditable-app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
             publish = false\n\n[dependencies]\n{deps}\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(
        src.join("src/main.rs"),
        "fn main() {\n    let mut b = itoa::Buffer::new();\n    \
         println!(\"{} {:?}\", b.format(42), memchr::memchr(b'x', b\"axb\"));\n}\n",
    )
    .unwrap();
    let target = dir.join("target");
    let o = run(Command::new("cargo")
        .args(["auditable", "build", "--offline", "--release", "--quiet"])
        .current_dir(&src)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS"));
    assert!(
        o.status.success(),
        "cargo auditable build (scripts/setup.sh installs cargo-auditable): {}",
        text(&o.stderr)
    );
    target.join("release/ironpost-auditable-app")
}

#[test]
fn a_cargo_auditable_binary_is_inventoried_from_its_section_and_matched() {
    let work = tempfile::tempdir().unwrap();
    let ctx = work.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    let bin = cargo_auditable_binary(work.path());
    let bytes = std::fs::read(&bin).unwrap();
    assert!(
        bytes.windows(8).any(|w| w == b".dep-v0\0"),
        "cargo auditable wrote no .dep-v0 section"
    );
    std::fs::copy(&bin, ctx.join("app")).unwrap();
    // Only the binary: no Cargo.lock or source in the image to find the crates from.
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY app /usr/local/bin/app\n",
    )
    .unwrap();
    let tag = format!("ironpost-auditable-{}", std::process::id());
    let _img = Image(tag.clone());
    docker(&["build", "-q", "-t", &tag, &ctx.display().to_string()]);

    // Hand-written advisories: itoa before the next patch release (affected), memchr fixed at
    // the version built in (not affected).
    let versions = audited();
    let (itoa, memchr) = (&versions[0].1, &versions[1].1);
    let (major_minor, patch) = itoa.rsplit_once('.').unwrap();
    let next = format!("{major_minor}.{}", patch.parse::<u64>().unwrap() + 1);
    let osv = work.path().join("osv");
    std::fs::create_dir_all(&osv).unwrap();
    for (id, name, fixed) in [
        ("TEST-AUD-ITOA", "itoa", next.as_str()),
        ("TEST-AUD-MEMCHR", "memchr", memchr.as_str()),
    ] {
        let rec = json!({
            "schema_version": "1.6.0", "id": id, "modified": "2026-12-01T00:00:00Z",
            "summary": format!("{name} before {fixed}"),
            "affected": [{"package": {"ecosystem": "crates.io", "name": name},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]
        });
        std::fs::write(osv.join(format!("{id}.json")), rec.to_string()).unwrap();
    }
    let db = work.path().join("db");
    let o = run(cli().args(["db", "import", "--db"]).arg(&db).arg(&osv));
    assert!(o.status.success(), "db import: {}", text(&o.stderr));

    let r = scan(&db, &[&tag]);
    let want: BTreeSet<(String, String, String)> =
        [("TEST-AUD-ITOA".to_owned(), "itoa".to_owned(), itoa.clone())].into();
    assert_eq!(findings(&r), want, "{r}");
    assert_eq!(r["packages"], 2, "{r}");
    let lockfiles: Vec<&str> = r["lockfiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["path"].as_str().unwrap())
        .collect();
    assert_eq!(lockfiles, ["/usr/local/bin/app"]);

    // The inventory: exactly the two crates, at the versions built in (the program itself is
    // the root, a local package: not a component).
    let o = run(cli().args([
        "sbom",
        "generate",
        "--image",
        &tag,
        "--format",
        "cyclonedx",
        "--output",
        "-",
    ]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let purls: BTreeSet<String> = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["purl"].as_str().map(str::to_owned))
        .collect();
    let expected: BTreeSet<String> = audited()
        .iter()
        .map(|(name, version)| format!("pkg:cargo/{name}@{version}"))
        .collect();
    assert_eq!(purls, expected);
}
