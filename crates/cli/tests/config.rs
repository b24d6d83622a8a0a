//! `ironpost-cli config …` against real files: seed 003's config loads, mistakes are reported with
//! file:line and key, environment overrides apply, `config init` writes a valid example.

#![allow(clippy::unwrap_used)]

mod common;

use common::{cli, run, text};

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn seed_003_config_validates() {
    let o = run(cli().args(["config", "validate", "--config", &fixture("seed003.toml")]));
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    assert!(text(&o.stdout).contains("valid"), "{}", text(&o.stdout));
}

#[test]
fn seed_003_values_are_typed() {
    let o = run(cli().args([
        "config",
        "show",
        "--output",
        "json",
        "--config",
        &fixture("seed003.toml"),
    ]));
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ebpf"]["xdp_mode"], "skb");
    assert_eq!(v["log_pipeline"]["syslog_bind"], "0.0.0.0:514");
    assert_eq!(v["sbom"]["min_severity"], "medium");
    assert_eq!(v["log_pipeline"]["storage"]["retention_days"], 30);
    // Passwords never shown; this URL has none, so it is shown as written.
    assert_eq!(
        v["log_pipeline"]["storage"]["postgres_url"],
        "postgresql://localhost:5432/ironpost"
    );
}

fn write(dir: &tempfile::TempDir, body: &str) -> String {
    let p = dir.path().join("ironpost.toml");
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

#[test]
fn unknown_key_fails_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "[general]\nlog_level = \"info\"\n\n[ebpf]\nenabled = false\nxdp_mod = \"skb\"\n",
    );
    let o = run(cli().args(["config", "validate", "--config", &path]));
    assert_eq!(o.status.code(), Some(3));
    let err = text(&o.stderr);
    assert!(err.contains(&format!("{path}:6:")), "{err}");
    assert!(
        err.contains("ebpf.xdp_mod") && err.contains("unknown field"),
        "{err}"
    );
}

#[test]
fn wrong_type_fails_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "[log_pipeline]\nbatch_size = \"1000\"\n");
    let o = run(cli().args(["config", "validate", "--config", &path]));
    assert_eq!(o.status.code(), Some(3));
    let err = text(&o.stderr);
    assert!(err.contains(&format!("{path}:2:")), "{err}");
    assert!(
        err.contains("log_pipeline.batch_size") && err.contains("invalid type"),
        "{err}"
    );
}

#[test]
fn invalid_values_are_all_listed_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "[ebpf]\nring_buffer_size = 256\n\n[container]\nretry_max_attempts = 50\n",
    );
    let o = run(cli().args(["config", "validate", "--output", "json", "--config", &path]));
    assert_eq!(o.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], false);
    let errors = v["errors"].as_array().unwrap();
    let keys: Vec<&str> = errors.iter().map(|e| e["key"].as_str().unwrap()).collect();
    assert_eq!(
        keys,
        ["ebpf.ring_buffer_size", "container.retry_max_attempts"]
    );
    assert_eq!(errors[0]["location"], format!("{path}:2:1"));
    assert_eq!(errors[1]["location"], format!("{path}:5:1"));
}

#[test]
fn env_override_changes_a_value() {
    let o = run(cli()
        .args([
            "config",
            "show",
            "--output",
            "json",
            "--config",
            &fixture("seed003.toml"),
        ])
        .env("IRONPOST_EBPF_INTERFACE", "veth-test0")
        .env("IRONPOST_LOG_PIPELINE_STORAGE_RETENTION_DAYS", "7")
        .env("IRONPOST_SBOM_SCAN_DIRS", "/srv/a,/srv/b"));
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ebpf"]["interface"], "veth-test0");
    assert_eq!(v["log_pipeline"]["storage"]["retention_days"], 7);
    assert_eq!(
        v["sbom"]["scan_dirs"],
        serde_json::json!(["/srv/a", "/srv/b"])
    );

    let o = run(cli()
        .args(["config", "validate", "--config", &fixture("seed003.toml")])
        .env("IRONPOST_EBPF_XDP_MODE", "turbo"));
    assert_eq!(o.status.code(), Some(3));
    let err = text(&o.stderr);
    assert!(
        err.contains("IRONPOST_EBPF_XDP_MODE") && err.contains("turbo"),
        "{err}"
    );
}

#[test]
fn missing_config_points_to_config_init() {
    let o = run(cli().args([
        "config",
        "validate",
        "--config",
        "/nonexistent/ironpost.toml",
    ]));
    assert_eq!(o.status.code(), Some(3));
    let err = text(&o.stderr);
    assert!(
        err.contains("not found") && err.contains("ironpost-cli config init"),
        "{err}"
    );
}

#[test]
fn config_init_writes_a_valid_commented_example_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("etc/ironpost.toml");
    let path_s = path.display().to_string();
    let o = run(cli().args(["config", "init", &path_s]));
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    let body = std::fs::read_to_string(&path).unwrap();
    assert!(
        body.lines()
            .filter(|l| l.trim_start().starts_with('#'))
            .count()
            > 10,
        "commented"
    );
    let o = run(cli().args(["config", "validate", "--config", &path_s]));
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    let o = run(cli().args(["config", "init", &path_s]));
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("--force"));
    assert!(
        run(cli().args(["config", "init", "--force", &path_s]))
            .status
            .success()
    );
}

#[test]
fn invalid_ebpf_rules_name_the_rule_id() {
    let dir = tempfile::tempdir().unwrap();
    for (field, value, needle) in [
        ("src_ip", "\"10.0.0.300\"", "src_ip"),
        ("dst_ip", "\"10.0.0.0/33\"", "dst_ip"),
        ("dst_port", "70000", "70000 is not a port"),
        ("protocol", "\"sctpx\"", "protocol"),
        ("protocol", "300", "300 is not an IP protocol number"),
    ] {
        let path = write(
            &dir,
            &format!(
                "[ebpf]\nenabled = false\n\n[[ebpf.rules]]\nid = \"bad_rule\"\n{field} = {value}\naction = \"drop\"\n"
            ),
        );
        let o = run(cli().args(["config", "validate", "--config", &path]));
        assert_eq!(o.status.code(), Some(3), "{field} = {value}");
        let err = text(&o.stderr);
        assert!(
            err.contains("rule `bad_rule`") && err.contains(needle),
            "{field} = {value}: {err}"
        );
        assert!(err.contains(&format!("{path}:")), "{err}");
    }
}

#[test]
fn manual_pages_cover_every_command_and_completions_parse() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(cli().args(["man", "--dir"]).arg(dir.path()));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let page = |name: &str| {
        std::fs::read_to_string(dir.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    assert!(page("ironpost-cli.1").starts_with(".ie"), "roff");
    assert!(page("ironpost-cli.1").contains(".TH ironpost-cli 1"));
    // A page per command, with the command's own options.
    let list = page("ironpost-cli-alerts-list.1");
    assert!(
        list.contains("evidence") && list.contains("container"),
        "{list}"
    );
    assert!(page("ironpost-cli-scan-sbom.1").contains("min\\-severity"));
    assert!(text(&o.stdout).contains("ironpost-cli-block-add.1"));

    let o = run(cli().args(["completions", "bash"]));
    assert!(o.status.success());
    let script = dir.path().join("ironpost-cli.bash");
    std::fs::write(&script, &o.stdout).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(text(&o.stdout).contains("--evidence"));
    for shell in ["zsh", "fish"] {
        let o = run(cli().args(["completions", shell]));
        assert!(
            o.status.success() && text(&o.stdout).contains("isolate"),
            "{shell}"
        );
    }
    assert!(!run(cli().args(["completions", "tcsh"])).status.success());
}
