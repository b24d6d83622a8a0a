//! The Kubernetes manifests, validated offline (inside a network namespace with no network):
//! `deploy/kubernetes/daemonset.yaml` and the Helm chart `deploy/helm/ironpost` rendered by
//! `helm template` pass `kubernetes-validate --strict` (the API schemas it bundles) and
//! `helm lint --strict`; both run on the host network with exactly the systemd unit's
//! capabilities, mount /sys/fs/bpf and /var/lib/ironpost from the host, and take a config from
//! a ConfigMap that `ironpost-cli config validate` accepts. A manifest with a misspelt field is
//! rejected, so the validator is not a no-op. Tools: scripts/k8s-tools.sh (run here; a no-op when
//! its venv is current).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{cli, repo_root, run, text};

fn venv() -> PathBuf {
    std::env::var_os("IRONPOST_K8S_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/ironpost-k8s-venv"))
}

fn ensure_tools() {
    let o = run(Command::new("bash").arg(repo_root().join("scripts/k8s-tools.sh")));
    assert!(
        o.status.success(),
        "scripts/k8s-tools.sh: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
}

/// Runs `tool args` from the venv with no network (`unshare -n`: a new, empty network namespace).
fn offline(tool: &str, args: &[&str]) -> Output {
    run(Command::new("unshare")
        .arg("-n")
        .arg(venv().join("bin").join(tool))
        .args(args))
}

fn validate(file: &Path) -> Output {
    offline(
        "kubernetes-validate",
        &["--strict", "--quiet", file.to_str().unwrap()],
    )
}

/// The YAML documents of `file`, as JSON (PyYAML from the venv).
fn documents(file: &Path) -> Vec<serde_json::Value> {
    let o = run(Command::new(venv().join("bin/python"))
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))",
        ])
        .arg(file));
    assert!(o.status.success(), "{}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The capabilities of the systemd unit, without `CAP_`.
fn unit_capabilities() -> BTreeSet<String> {
    let unit =
        std::fs::read_to_string(repo_root().join("deploy/systemd/ironpost.service")).unwrap();
    unit.lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .unwrap()
        .split_whitespace()
        .map(|c| c.strip_prefix("CAP_").unwrap().to_owned())
        .collect()
}

/// Checks what the manifests promise: host network, the unit's capabilities, the host paths, and
/// a ConfigMap config the CLI accepts.
fn check_objects(docs: &[serde_json::Value], dir: &Path, what: &str) {
    let ds = docs
        .iter()
        .find(|d| d["kind"] == "DaemonSet")
        .unwrap_or_else(|| panic!("{what}: no DaemonSet"));
    let spec = &ds["spec"]["template"]["spec"];
    assert_eq!(spec["hostNetwork"], true, "{what}");
    let ctr = &spec["containers"][0];
    let sc = &ctr["securityContext"];
    let added: BTreeSet<String> = sc["capabilities"]["add"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(added, unit_capabilities(), "{what}: capabilities");
    assert_eq!(
        sc["capabilities"]["drop"],
        serde_json::json!(["ALL"]),
        "{what}"
    );
    assert_eq!(sc["allowPrivilegeEscalation"], false, "{what}");
    let host_paths: BTreeSet<&str> = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["hostPath"]["path"].as_str())
        .collect();
    for p in ["/sys/fs/bpf", "/var/lib/ironpost"] {
        assert!(host_paths.contains(p), "{what}: no hostPath {p}");
    }
    // The config comes from the ConfigMap the pod mounts, at the path the daemon is given.
    let cm_name = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|v| v["configMap"]["name"].as_str())
        .unwrap_or_else(|| panic!("{what}: no ConfigMap volume"));
    let cm = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == cm_name)
        .unwrap_or_else(|| panic!("{what}: ConfigMap {cm_name} is not in the manifests"));
    let command: Vec<&str> = ctr["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        command,
        [
            "/usr/bin/ironpost-daemon",
            "--config",
            "/etc/ironpost/config/ironpost.toml"
        ],
        "{what}"
    );
    let toml = cm["data"]["ironpost.toml"].as_str().unwrap();
    let file = dir.join(format!("{what}.toml"));
    std::fs::write(&file, toml).unwrap();
    let o = run(cli().args(["config", "validate", "--config"]).arg(&file));
    assert!(
        o.status.success(),
        "{what}: the ConfigMap's config is invalid: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
}

#[test]
fn daemonset_and_helm_chart_validate_offline() {
    ensure_tools();
    let dir = tempfile::tempdir().unwrap();
    let root = repo_root();

    // The plain manifests.
    let ds = root.join("deploy/kubernetes/daemonset.yaml");
    let o = validate(&ds);
    assert!(
        o.status.success(),
        "kubernetes-validate daemonset.yaml: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    check_objects(&documents(&ds), dir.path(), "daemonset");

    // A misspelt field is an error (the schemas are strict and really loaded offline).
    let bad = dir.path().join("bad.yaml");
    let text_ds = std::fs::read_to_string(&ds).unwrap();
    assert!(text_ds.contains("      hostNetwork: true\n"));
    std::fs::write(
        &bad,
        text_ds.replace("      hostNetwork: true\n", "      hostNetwrok: true\n"),
    )
    .unwrap();
    let o = validate(&bad);
    assert!(!o.status.success(), "a misspelt field passed");
    assert!(
        (text(&o.stdout) + &text(&o.stderr)).contains("hostNetwrok"),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );

    // The chart: lint, render, validate what it renders.
    let chart = root.join("deploy/helm/ironpost");
    let chart = chart.to_str().unwrap();
    let o = offline("helm", &["lint", "--strict", chart]);
    assert!(
        o.status.success(),
        "helm lint: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let o = offline(
        "helm",
        &["template", "ironpost", chart, "--namespace", "kube-system"],
    );
    assert!(o.status.success(), "helm template: {}", text(&o.stderr));
    let rendered = dir.path().join("rendered.yaml");
    std::fs::write(&rendered, &o.stdout).unwrap();
    let o = validate(&rendered);
    assert!(
        o.status.success(),
        "kubernetes-validate on the chart's output: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let docs = documents(&rendered);
    assert_eq!(docs.len(), 2, "{docs:?}");
    check_objects(&docs, dir.path(), "chart");
}
