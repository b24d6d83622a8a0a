//! The workspace's allowed crate edges (ARCHITECTURE.md, "Crate edges"), checked against
//! `cargo metadata`: a module crate that starts depending on another module, or a CLI that starts
//! linking a module runtime, fails here instead of drifting silently.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Workspace crate → the workspace crates it may depend on (normal and build dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    ("ironpost-core", &[]),
    ("ironpost-proto", &["ironpost-core"]),
    ("ironpost-store", &["ironpost-core"]),
    ("ironpost-ebpf-engine", &["ironpost-core", "ironpost-proto"]),
    (
        "ironpost-log-pipeline",
        &["ironpost-core", "ironpost-process-monitor"],
    ),
    (
        "ironpost-container-guard",
        &["ironpost-core", "ironpost-proto"],
    ),
    ("ironpost-vulndb", &["ironpost-core"]),
    (
        "ironpost-sbom-scanner",
        &["ironpost-core", "ironpost-vulndb"],
    ),
    ("ironpost-anomaly-ids", &["ironpost-core"]),
    ("ironpost-process-monitor", &["ironpost-core"]),
    // `[fleet.nats]` reuses the IDS's NATS config type and connector (without its runtime).
    ("ironpost-fleet", &["ironpost-core", "ironpost-anomaly-ids"]),
    (
        "ironpost-config",
        &[
            "ironpost-core",
            "ironpost-ebpf-engine",
            "ironpost-log-pipeline",
            "ironpost-container-guard",
            "ironpost-sbom-scanner",
            "ironpost-anomaly-ids",
            "ironpost-fleet",
            "ironpost-process-monitor",
        ],
    ),
    (
        "ironpost-daemon",
        &[
            "ironpost-core",
            "ironpost-proto",
            "ironpost-config",
            "ironpost-store",
            "ironpost-ebpf-engine",
            "ironpost-log-pipeline",
            "ironpost-container-guard",
            "ironpost-vulndb",
            "ironpost-sbom-scanner",
            "ironpost-anomaly-ids",
            "ironpost-fleet",
            "ironpost-process-monitor",
        ],
    ),
    (
        "ironpost-cli",
        &[
            "ironpost-core",
            "ironpost-proto",
            "ironpost-config",
            "ironpost-store",
            "ironpost-log-pipeline",
            "ironpost-sbom-scanner",
            "ironpost-vulndb",
            "ironpost-anomaly-ids",
            "ironpost-fleet",
        ],
    ),
];

/// Crates a client must not link: the module runtimes and the HTTP server.
const NOT_IN_CLI: &[&str] = &[
    "aya",
    "aya-obj",
    "bollard",
    "tract-onnx",
    "tract-core",
    "axum",
];

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("crates/daemon is two levels below the workspace root")
}

fn cargo(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn workspace_crates_depend_only_along_allowed_edges() {
    let meta: Value = serde_json::from_str(&cargo(&[
        "metadata",
        "--format-version",
        "1",
        "--no-deps",
        "--offline",
    ]))
    .expect("cargo metadata JSON");
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(k, v)| (*k, v.iter().copied().collect()))
        .collect();
    let packages = meta["packages"].as_array().expect("packages");
    let members: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(
        members,
        allowed.keys().copied().collect(),
        "every workspace crate has a row in ALLOWED (and ARCHITECTURE.md)"
    );
    let mut violations = Vec::new();
    for p in packages {
        let name = p["name"].as_str().unwrap_or_default();
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let dep = d["name"].as_str().unwrap_or_default();
            let dev = d["kind"].as_str() == Some("dev");
            if dev || !members.contains(dep) {
                continue;
            }
            if !allowed[name].contains(dep) {
                violations.push(format!("{name} -> {dep}"));
            }
            // The config crate and the CLI link the module crates without their runtimes.
            if matches!(name, "ironpost-config" | "ironpost-cli")
                && (d["uses_default_features"].as_bool() != Some(false)
                    || d["features"]
                        .as_array()
                        .is_some_and(|f| f.iter().any(|f| f == "runtime")))
                && matches!(
                    dep,
                    "ironpost-ebpf-engine"
                        | "ironpost-container-guard"
                        | "ironpost-anomaly-ids"
                        | "ironpost-process-monitor"
                )
            {
                violations.push(format!("{name} -> {dep} with its runtime"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "edges not in ARCHITECTURE.md: {violations:?}"
    );
}

#[test]
fn the_cli_links_no_module_runtime() {
    let tree = cargo(&[
        "tree",
        "--offline",
        "-p",
        "ironpost-cli",
        "-e",
        "normal,build",
        "--prefix",
        "none",
        "--format",
        "{p}",
    ]);
    let names: BTreeSet<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(names.contains("ironpost-proto"), "{names:?}");
    let linked: Vec<&&str> = NOT_IN_CLI.iter().filter(|n| names.contains(**n)).collect();
    assert!(linked.is_empty(), "ironpost-cli links {linked:?}");
    assert!(
        !names.contains("ironpost-daemon"),
        "ironpost-cli must not link the daemon"
    );
}
