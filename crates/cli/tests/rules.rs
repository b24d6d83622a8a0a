//! `ironpost-cli rules validate|test|list|coverage` on the rule fixtures of the log-pipeline
//! crate and on the rule library in the repository's `rules/`.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{cli, run, text};

fn library() -> String {
    format!("{}/../../rules", env!("CARGO_MANIFEST_DIR"))
}

fn fixtures(sub: &str) -> String {
    format!(
        "{}/../log-pipeline/tests/fixtures/rules/{sub}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn validate_lists_every_unsupported_rule_with_its_reason() {
    let o = run(cli().args(["rules", "validate", "--dir", &fixtures("sigma")]));
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(
        text(&o.stdout).contains("0 rejected"),
        "{}",
        text(&o.stdout)
    );

    let o = run(cli().args([
        "rules",
        "validate",
        "--output",
        "json",
        "--dir",
        &fixtures("sigma_unsupported"),
    ]));
    assert_eq!(o.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rejected = v["rejected"].as_array().unwrap();
    assert!(rejected.len() >= 5, "{v}");
    assert!(
        rejected
            .iter()
            .all(|r| !r["reason"].as_str().unwrap().is_empty() && r["file"].is_string())
    );
    assert!(
        rejected
            .iter()
            .any(|r| r["reason"].as_str().unwrap().contains("aggregation")),
        "{v}"
    );
}

#[test]
fn test_prints_matches_and_extracted_fields() {
    let mut c = cli()
        .args([
            "rules",
            "test",
            "--output",
            "json",
            "--rule",
            &fixtures("ssh_brute_force.yaml"),
            "--stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(
            b"Nov 20 10:00:00 web1 sshd[12]: Failed password for root from 198.18.6.1 port 4000 ssh2\n\
              Nov 20 10:00:01 web1 cron[1]: (root) CMD (true)\n\
              <38>1 2026-11-20T10:00:02Z web1 sshd 13 - - Failed password for invalid user bob from 2001:db8::7 port 22 ssh2\n",
        )
        .unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o.stdout));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let m = v["matched"].as_array().unwrap();
    assert_eq!(m.len(), 2, "{v}");
    assert_eq!(m[0]["line"], 1);
    assert_eq!(m[0]["fields"]["src_ip"], "198.18.6.1");
    assert_eq!(m[0]["fields"]["user"], "root");
    assert_eq!(m[1]["line"], 3);
    assert_eq!(m[1]["format"], "rfc5424");
    assert_eq!(m[1]["fields"]["src_ip"], "2001:db8::7");
}

#[test]
fn test_dir_holds_every_library_rule_to_its_samples() {
    let o = run(cli().args(["rules", "test", "--dir", &library()]));
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(
        text(&o.stdout).contains("all as expected"),
        "{}",
        text(&o.stdout)
    );

    let o = run(cli().args(["rules", "test", "--output", "json", "--dir", &library()]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rules = std::fs::read_dir(library())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "yaml")
        })
        .count();
    assert_eq!(v["rules"], rules, "{v}");
    assert_eq!(v["ok"], true);
}

#[test]
fn test_dir_fails_on_a_sample_that_matches_wrongly_or_a_rule_without_samples() {
    let d = tempfile::tempdir().unwrap();
    std::fs::copy(
        format!("{}/ssh_brute_force.yaml", library()),
        d.path().join("ssh_brute_force.yaml"),
    )
    .unwrap();
    std::fs::copy(
        format!("{}/sudo_failure.yaml", library()),
        d.path().join("sudo_failure.yaml"),
    )
    .unwrap();
    std::fs::create_dir(d.path().join("tests")).unwrap();
    // The positive is right; the "near miss" does match.
    std::fs::write(
        d.path().join("tests/ssh_brute_force.log"),
        "+ Nov 20 10:00:01 gw sshd[1]: Failed password for root from 203.0.113.9 port 1 ssh2\n\
         - Nov 20 10:00:02 gw sshd[2]: Failed password for bob from 203.0.113.9 port 2 ssh2\n",
    )
    .unwrap();
    let o = run(cli().args([
        "rules",
        "test",
        "--output",
        "json",
        "--dir",
        d.path().to_str().unwrap(),
    ]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let m = v["mismatches"].as_array().unwrap();
    assert_eq!(m.len(), 1, "{v}");
    assert_eq!(m[0]["line"], 2);
    assert_eq!(m[0]["matched"], serde_json::json!(["ssh_brute_force"]));
    let problems = v["problems"].to_string();
    assert!(
        problems.contains("sudo_failure") && problems.contains("no sample file"),
        "{v}"
    );
}

#[test]
fn list_shows_every_rule_with_mode_and_tags() {
    let o = run(cli().args(["rules", "list", "--output", "json", "--dir", &library()]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rules = v.as_array().unwrap();
    let get = |id: &str| {
        rules
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id}: {v}"))
    };
    assert_eq!(get("ssh_brute_force")["sshd_mode"], "normal");
    assert_eq!(get("ssh_preauth_flood")["sshd_mode"], "ddos");
    assert_eq!(get("ssh_negotiation_failure")["sshd_mode"], "aggressive");
    assert_eq!(get("ssh_brute_force")["threshold"]["timeframe_secs"], 600);
    assert!(
        get("new_local_user")["tags"]
            .to_string()
            .contains("attack.t1136.001")
    );

    let o = run(cli().args(["rules", "list", "--dir", &library()]));
    let out = text(&o.stdout);
    assert!(
        out.starts_with("ID") && out.contains("web_path_traversal"),
        "{out}"
    );
    assert!(out.contains(&format!("{} rule(s)", rules.len())), "{out}");
}

#[test]
fn coverage_counts_matching_lines_alerts_and_lines_matching_nothing() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("auth.log");
    let mut lines = String::new();
    for i in 0..6 {
        lines.push_str(&format!(
            "Nov 20 10:00:0{i} gw sshd[{i}]: Failed password for root from 203.0.113.9 port 4{i} ssh2\n"
        ));
    }
    for i in 0..3 {
        lines.push_str(&format!(
            "Nov 20 10:01:0{i} gw sshd[9]: Did not receive identification string from 203.0.113.40 port 6{i}\n"
        ));
    }
    lines.push_str("Nov 20 10:02:00 gw useradd[7]: new user: name=mallory, UID=1002, GID=1002, home=/home/mallory, shell=/bin/bash, from=/dev/pts/1\n");
    lines.push_str("Nov 20 10:02:01 gw cron[8]: (root) CMD (true)\n");
    lines.push_str("203.0.113.5 - - [20/Nov/2026:10:02:02 +0000] \"GET / HTTP/1.1\" 200 612 \"-\" \"Mozilla/5.0\"\n");
    std::fs::write(&log, lines).unwrap();
    let coverage = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "rules",
            "coverage",
            "--output",
            "json",
            "--dir",
            &library(),
            "--file",
            log.to_str().unwrap(),
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let o = run(cli().args(&args));
        assert!(o.status.success(), "{}", text(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let v = coverage(&[]);
    assert_eq!(v["lines"], 12, "{v}");
    assert_eq!(v["unmatched_lines"], 2, "{v}");
    assert_eq!(v["formats"]["combined"], 1, "{v}");
    let rule = |v: &serde_json::Value, id: &str| {
        v["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
    };
    let brute = rule(&v, "ssh_brute_force").unwrap();
    assert_eq!(
        (brute["matched_lines"].clone(), brute["alerts"].clone()),
        (6.into(), 1.into())
    );
    assert_eq!(brute["first_line"], 1);
    let slow = rule(&v, "ssh_brute_force_slow").unwrap();
    assert_eq!(
        (slow["matched_lines"].clone(), slow["alerts"].clone()),
        (6.into(), 0.into())
    );
    assert_eq!(rule(&v, "ssh_preauth_flood").unwrap()["matched_lines"], 3);
    assert_eq!(rule(&v, "new_local_user").unwrap()["alerts"], 1);
    assert!(
        v["silent_rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "web_path_traversal")
    );

    // In sshd mode normal the pre-auth rule does not run: its lines match nothing.
    let v = coverage(&["--sshd-mode", "normal"]);
    assert!(rule(&v, "ssh_preauth_flood").is_none(), "{v}");
    assert_eq!(v["unmatched_lines"], 5, "{v}");

    let o = run(cli().args([
        "rules",
        "coverage",
        "--dir",
        &library(),
        "--file",
        log.to_str().unwrap(),
    ]));
    let out = text(&o.stdout);
    assert!(
        out.contains("12 line(s)") && out.contains("2 matched none"),
        "{out}"
    );
}

/// Sigma distinct counts and `near` show in `rules list --output json`.
#[test]
fn list_shows_distinct_counts_and_near() {
    let d = tempfile::tempdir().unwrap();
    let rule = |id: &str, condition: &str| {
        format!(
            "title: {id}\nid: {id}\nlogsource:\n    product: linux\n    service: sshd\ndetection:\n    a:\n        - 'Failed password'\n    b:\n        - 'Accepted password'\n    timeframe: 10m\n    condition: '{condition}'\n"
        )
    };
    std::fs::write(
        d.path().join("distinct.yml"),
        rule("many-users", "a | count(user) by src_ip > 3"),
    )
    .unwrap();
    std::fs::write(d.path().join("near.yml"), rule("fail-then-ok", "a near b")).unwrap();
    let dir = d.path().to_str().unwrap();
    let o = run(cli().args(["rules", "list", "--output", "json", "--dir", dir]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let get = |id: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id}: {v}"))
            .clone()
    };
    let t = &get("many-users")["threshold"];
    assert_eq!(
        (t["count"].clone(), t["distinct"].clone()),
        (4.into(), "user".into())
    );
    assert!(t["near_parts"].is_null(), "{t}");
    let t = &get("fail-then-ok")["threshold"];
    assert_eq!(
        (t["count"].clone(), t["near_parts"].clone()),
        (2.into(), 2.into())
    );
    assert!(t["distinct"].is_null(), "{t}");
}
