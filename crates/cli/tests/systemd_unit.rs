//! The shipped systemd unit (`deploy/systemd/ironpost.service`): `systemd-analyze verify` accepts
//! it, its offline exposure score (`systemd-analyze security --offline=true`) stays in systemd's
//! "OK" band, and the daemon does its job inside exactly the unit's capability bounding set with
//! no_new_privs, as systemd would start it: XDP attached and dropping a blocked source, the log
//! pipeline following the journal, the responder and the container guard against the real
//! dockerd, the process monitor reporting real execs and watched-file writes (on this kernel, which
//! refuses fentry, through its file hook's tracefs fallback), every module healthy. (These machines have no systemd as PID 1; `setpriv` applies the
//! unit's capabilities instead.)

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::sshd::ensure_journald;
use common::{ATTACKER_IP, Daemon, Lab, bin, ebpf_env, lab_get, repo_root, run, text, wait_for};

fn unit_text() -> String {
    std::fs::read_to_string(repo_root().join("deploy/systemd/ironpost.service")).unwrap()
}

/// The unit with `ExecStart` pointing at the binary this build made, in a temporary directory.
fn unit_for_this_build(dir: &std::path::Path) -> std::path::PathBuf {
    let unit = unit_text().replace(
        "/usr/bin/ironpost-daemon",
        bin("ironpost-daemon").to_str().unwrap(),
    );
    let path = dir.join("ironpost.service");
    std::fs::write(&path, unit).unwrap();
    path
}

/// The value of `key=` in the unit (the last one).
fn setting(unit: &str, key: &str) -> String {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .next_back()
        .unwrap_or_else(|| panic!("no {key}= in the unit"))
        .to_owned()
}

#[test]
fn systemd_analyze_verifies_the_unit_and_rates_its_exposure_ok() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_for_this_build(dir.path());
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze (package systemd)");
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "verify: {:?}\n{}{}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    );
    let o = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&unit)
        .output()
        .unwrap();
    let out = text(&o.stdout) + &text(&o.stderr);
    let score: f64 = out
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for ironpost.service: ")
                .nth(1)
        })
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level: {out}"));
    println!("systemd-analyze security --offline: exposure {score}");
    // systemd rates below 5.0 as OK (0 is best, 10 unprotected).
    assert!(score < 5.0, "exposure {score}:\n{out}");
    for key in [
        "NoNewPrivileges",
        "ProtectSystem",
        "PrivateTmp",
        "ProtectKernelModules",
    ] {
        assert!(
            ["yes", "strict"].contains(&setting(&unit_text(), key).as_str()),
            "{key}"
        );
    }
}

#[test]
fn the_daemon_works_inside_the_units_capabilities() {
    ensure_journald();
    let unit = unit_text();
    let caps: Vec<String> = setting(&unit, "CapabilityBoundingSet")
        .split_whitespace()
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect();
    assert!(caps.contains(&"+bpf".to_owned()), "{caps:?}");
    assert!(
        !caps.contains(&"+sys_admin".to_owned()),
        "the unit must not need CAP_SYS_ADMIN"
    );
    let bounding = format!("-all,{}", caps.join(","));
    let lab = Lab::new("unit");
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    let rules = repo_root().join("rules");
    let watched = tempfile::tempdir().unwrap();
    let watched_list = format!("[\"{}\"]", watched.path().display());
    let env = ebpf_env(&lab);
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(&[
        ("IRONPOST_RESPONSE_ENABLED", "true"),
        ("IRONPOST_LOG_PIPELINE_ENABLED", "true"),
        ("IRONPOST_LOG_PIPELINE_SOURCES", "[\"journald\"]"),
        ("IRONPOST_LOG_PIPELINE_RULES_DIR", rules.to_str().unwrap()),
        ("IRONPOST_CONTAINER_ENABLED", "true"),
        ("IRONPOST_CONTAINER_POLICY_PATH", policies.to_str().unwrap()),
        ("IRONPOST_PROCESS_MONITOR_ENABLED", "true"),
        (
            "IRONPOST_PROCESS_MONITOR_WATCHED_PATHS",
            watched_list.as_str(),
        ),
    ]);
    // `ip netns exec` mounts a sysfs of the namespace's own on /sys, without the tracefs on
    // /sys/kernel/tracing. The unit has systemd mount it (sys-kernel-tracing.mount) rather than
    // grant the daemon CAP_SYS_ADMIN to do so: done here as root, before the capabilities drop.
    let d = Daemon::start_wrapped(
        dir,
        &[
            "ip",
            "netns",
            "exec",
            &lab.victim,
            "sh",
            "-c",
            "mount -t tracefs tracefs /sys/kernel/tracing && exec \"$@\"",
            "sh",
            "setpriv",
            "--no-new-privs",
            "--inh-caps",
            "-all",
            "--bounding-set",
            &bounding,
            "--",
        ],
        &["--defaults"],
        &all,
    );
    // The daemon itself holds no more than the unit allows.
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
    let bnd = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim()
        .to_owned();
    assert_ne!(bnd, "000001ffffffffff", "the bounding set was not applied");
    wait_for(30, "every module healthy", || {
        let o = run(d.cli().args(["status", "--output", "json"]));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
        let modules = v["status"]["modules"].as_array()?.clone();
        let names: Vec<&str> = modules.iter().filter_map(|m| m["name"].as_str()).collect();
        for want in [
            "store",
            "ebpf",
            "log_pipeline",
            "container_guard",
            "process_monitor",
        ] {
            assert!(
                names.contains(&want),
                "{want} not running: {v}\n{}",
                d.log()
            );
        }
        let healthy = modules.iter().all(|m| m["health"]["status"] == "healthy");
        if !healthy {
            println!("{modules:?}");
        }
        healthy.then_some(())
    });
    assert!(lab.ping(), "the attacker reaches the host before the block");
    let o = run(d.cli().args(["block", "add", ATTACKER_IP, "--ttl", "1h"]));
    assert!(o.status.success(), "block add: {}", text(&o.stderr));
    assert!(!lab.ping(), "XDP drops the blocked source");

    // The process monitor sees execs and, through whichever file hook this kernel allows (the
    // syscall tracepoints, through tracefs, where fentry is refused), a write under a watched
    // directory.
    let hook = d
        .log()
        .lines()
        .find(|l| l.contains("process probes attached"))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no `process probes attached` line:\n{}", d.log()));
    println!("{hook}");
    let count = |metrics: &str, kind: &str| -> u64 {
        let prefix = format!("ironpost_process_monitor_events_total{{kind=\"{kind}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok())
            .unwrap_or(0)
    };
    wait_for(15, "an exec and a watched-file write reported", || {
        std::fs::write(watched.path().join("unit-test"), b"x").unwrap();
        let o = Command::new("/bin/true").status().unwrap();
        assert!(o.success());
        let (code, metrics) = lab_get(&lab, &d, "/metrics");
        assert_eq!(code, 200);
        (count(&metrics, "exec") > 0 && count(&metrics, "file_open") > 0).then_some(())
    });
}
