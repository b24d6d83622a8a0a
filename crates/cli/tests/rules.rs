//! `ironpost-cli rules validate|test` on the rule fixtures of the log-pipeline crate.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{cli, run, text};

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
