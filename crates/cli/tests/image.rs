//! The container image (`deploy/container/Containerfile`, FROM scratch): `scripts/package.sh
//! image` builds it from this test run's binaries with the local dockerd (no registry), and it
//! runs as the unprivileged user with every capability dropped, the log pipeline (syslog on an
//! unprivileged port) and the anomaly IDS enabled: `ironpost-cli status` inside answers with both
//! modules healthy (the IDS model resolved under /usr/share/ironpost), and /health answers on the
//! published port. The image holds no shell. Container and image are removed afterwards.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::docker::{docker, docker_at};
use common::{bin, http_get, repo_root, run, scrub_env, text, wait_for};

/// Removes the container and the image on drop, whatever the outcome.
struct Cleanup {
    image: String,
    container: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = docker_at(None, &["rm", "-f", &self.container]);
        let _ = docker_at(None, &["rmi", "-f", &self.image]);
    }
}

#[test]
fn scratch_image_runs_unprivileged_and_answers_status() {
    let pid = std::process::id();
    let guard = Cleanup {
        image: format!("ironpost-test-image:{pid}"),
        container: format!("ironpost-test-image-{pid}"),
    };
    let bin_dir = bin("ironpost-daemon").parent().unwrap().to_path_buf();
    let mut c = Command::new("bash");
    scrub_env(&mut c);
    c.arg(repo_root().join("scripts/package.sh"))
        .args(["image", "--profile", "dev", "--tag", &guard.image])
        .env("CARGO_TARGET_DIR", bin_dir.parent().unwrap());
    let o = run(&mut c);
    assert!(
        o.status.success(),
        "scripts/package.sh image: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );

    // Distroless: the default user is not root, and there is no shell to run.
    assert_eq!(
        docker(&["image", "inspect", "-f", "{{.Config.User}}", &guard.image]),
        "65532:65532"
    );
    let o = docker_at(
        None,
        &[
            "run",
            "--rm",
            "--entrypoint",
            "/bin/sh",
            &guard.image,
            "-c",
            "true",
        ],
    );
    assert!(!o.status.success(), "the image has a shell");

    docker(&[
        "run",
        "-d",
        "--name",
        &guard.container,
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--read-only",
        "--tmpfs",
        "/run/ironpost:uid=65532,gid=65532,mode=0750",
        "--tmpfs",
        "/var/lib/ironpost:uid=65532,gid=65532,mode=0750",
        "-p",
        "127.0.0.1::9470",
        "-e",
        "IRONPOST_IDS_ENABLED=true",
        "-e",
        "IRONPOST_LOG_PIPELINE_ENABLED=true",
        "-e",
        "IRONPOST_LOG_PIPELINE_SOURCES=syslog",
        "-e",
        "IRONPOST_LOG_PIPELINE_SYSLOG_BIND=127.0.0.1:5514",
        &guard.image,
    ]);

    let status = wait_for(60, "`ironpost-cli status` inside the container", || {
        if docker(&["inspect", "-f", "{{.State.Running}}", &guard.container]) != "true" {
            panic!(
                "the container exited: {}",
                text(&docker_at(None, &["logs", &guard.container]).stderr)
            );
        }
        let o = docker_at(
            None,
            &[
                "exec",
                &guard.container,
                "ironpost-cli",
                "status",
                "--output",
                "json",
            ],
        );
        if !o.status.success() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
        let healthy = |name: &str| {
            v["status"]["modules"].as_array().is_some_and(|ms| {
                ms.iter()
                    .any(|m| m["name"] == name && m["health"]["status"] == "healthy")
            })
        };
        (healthy("ids") && healthy("log_pipeline")).then_some(v)
    });
    assert_eq!(
        status["status"]["storage"], "sqlite (/var/lib/ironpost/ironpost.db)",
        "{status}"
    );
    let logs = text(&docker_at(None, &["logs", &guard.container]).stderr);
    assert!(
        logs.contains("/usr/share/ironpost/models/probe.onnx") && logs.contains("model loaded"),
        "the IDS did not load the image's model:\n{logs}"
    );

    // /health on the published port.
    let port = docker(&["port", &guard.container, "9470/tcp"]);
    let hostport = port
        .lines()
        .find(|l| l.starts_with("127.0.0.1:"))
        .unwrap_or_else(|| panic!("docker port: {port}"))
        .to_owned();
    let (code, body) = wait_for(30, "/health on the published port", || {
        std::net::TcpStream::connect(&hostport).ok()?;
        Some(http_get(&hostport, "/health"))
    });
    assert_eq!(code, 200, "{body}");
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["modules"]["ids"]["status"], "healthy", "{body}");
    drop(guard);
}
