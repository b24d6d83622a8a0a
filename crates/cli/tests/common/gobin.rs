//! A Go program built here, offline, by the machine's Go toolchain (Debian's `golang-go`,
//! installed by scripts/setup.sh): the sbom-scanner's fixture module `example.com/ironpost/app`,
//! whose one dependency (`example.com/ironpost/greet` v1.2.3) is a local directory (`replace`).
//! Its build info records the Go standard library at the toolchain's version.

use std::path::Path;
use std::process::Command;

fn sh(cmd: &mut Command) -> String {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} does not run ({e}); scripts/setup.sh installs it"));
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Builds the fixture program into `out`.
pub fn build(out: &Path) {
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../sbom-scanner/tests/fixtures/binary/go");
    let dir = tempfile::tempdir().unwrap();
    sh(Command::new("cp")
        .arg("-r")
        .arg(&src)
        .arg(dir.path().join("go")));
    sh(Command::new("go")
        .args(["build", "-buildvcs=false", "-o"])
        .arg(out)
        .arg(".")
        .current_dir(dir.path().join("go/app"))
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .env("GOSUMDB", "off")
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .env("GOCACHE", dir.path().join("cache"))
        .env("GOPATH", dir.path().join("gopath")));
}

/// The standard library's module version a binary built here records (`go1.19.8` →
/// `v1.19.8`) and the next patch release (`1.19.9`), where a test advisory says it is fixed, as
/// the Go vulnerability database writes stdlib records.
pub fn stdlib() -> (String, String) {
    let v = sh(Command::new("go").args(["env", "GOVERSION"]));
    let v = v.trim().trim_start_matches("go");
    let mut parts: Vec<u64> = v.split('.').map(|p| p.parse().unwrap()).collect();
    parts.resize(3, 0);
    let installed = format!("v{}.{}.{}", parts[0], parts[1], parts[2]);
    (
        installed,
        format!("{}.{}.{}", parts[0], parts[1], parts[2] + 1),
    )
}

/// An OSV record `id` saying the Go standard library before the next patch release is affected.
pub fn stdlib_advisory(id: &str) -> serde_json::Value {
    let (_, next) = stdlib();
    serde_json::json!({
        "schema_version": "1.6.0", "id": id, "modified": "2026-12-01T00:00:00Z",
        "summary": format!("stdlib before {next}"),
        "affected": [{"package": {"ecosystem": "Go", "name": "stdlib"},
            "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": next}]}]}]
    })
}
