//! The running pipeline on an auditd log (`auditd_paths`): records joined by serial, a Sigma
//! `service: auditd` rule (SigmaHQ's own, and one of ours on the joined `CommandLine`) alerting
//! once per event, the joins without `EOE` counted.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use ironpost_core::{AlertEvent, Module, metrics};
use ironpost_log_pipeline::config::{LogPipelineConfig, SourceKind, StartAt};
use ironpost_log_pipeline::pipeline::{LogPipeline, PipelineOutputs};
use tokio::sync::mpsc;

const OURS: &str = "title: Echo Hello Through sh
id: auditd-e2e-hello
logsource:
    product: linux
    service: auditd
detection:
    sel:
        type: EXECVE
        CommandLine|contains: 'hello world'
    condition: sel
level: high
";

fn counter(reg: &metrics::prometheus::Registry, name: &str, label: Option<&str>) -> f64 {
    reg.gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter())
        .filter(|m| label.is_none_or(|l| m.get_label().iter().any(|p| p.value() == l)))
        .map(|m| m.get_counter().get_value())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigma_auditd_rules_alert_on_joined_events() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("ours.yml"), OURS).unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let discovery = manifest
        .join("../../testdata/sigmahq/rules/linux/auditd/execve/lnx_auditd_user_discovery.yml");
    std::fs::copy(&discovery, rules.join("discovery.yml")).unwrap();
    let log = dir.path().join("audit.log");
    // The real capture (no EOE records), then an event written as auditd writes it to
    // audit.log, with its EOE: `id` run by root.
    let mut text =
        std::fs::read_to_string(manifest.join("tests/fixtures/auditd/debian12_execve.log"))
            .unwrap();
    text.push_str(concat!(
        "type=SYSCALL msg=audit(1796660940.100:40): arch=c000003e syscall=59 success=yes exit=0 a0=55d0 a1=55d1 a2=55d2 a3=0 items=2 ppid=700 pid=801 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm=\"id\" exe=\"/usr/bin/id\" subj=unconfined key=(null)\n",
        "type=EXECVE msg=audit(1796660940.100:40): argc=1 a0=\"id\"\n",
        "type=CWD msg=audit(1796660940.100:40): cwd=\"/root\"\n",
        "type=PATH msg=audit(1796660940.100:40): item=0 name=\"/usr/bin/id\" inode=5 dev=fe:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\n",
        "type=EOE msg=audit(1796660940.100:40): \n",
    ));
    std::fs::write(&log, text).unwrap();
    let cfg = LogPipelineConfig {
        enabled: true,
        sources: vec![SourceKind::File],
        watch_paths: vec![log.clone()],
        auditd_paths: vec![log.clone()],
        rules_dir: rules,
        file_start_at: StartAt::Beginning,
        ..LogPipelineConfig::default()
    };
    let registry = metrics::new_registry();
    let (atx, mut alerts) = mpsc::channel::<AlertEvent>(100);
    let (ltx, mut logs) = mpsc::channel(100);
    let mut p = LogPipeline::new(
        cfg,
        dir.path().join("data"),
        &registry,
        PipelineOutputs {
            alerts: atx,
            logs: ltx,
        },
    );
    p.start().await.unwrap();
    let mut got = Vec::new();
    for _ in 0..2 {
        // 30 s: a bound on waiting, not a measurement.
        let a = tokio::time::timeout(Duration::from_secs(30), alerts.recv())
            .await
            .expect("an alert within 30 s")
            .unwrap();
        got.push(a);
    }
    got.sort_by(|a, b| a.rule_id.cmp(&b.rule_id));
    assert_eq!(
        got[0].rule_id, "9a0d8ca0-2385-4020-b6c6-cb6153ca56f3",
        "{got:?}"
    );
    assert_eq!(
        got[0].entities.user.as_deref(),
        Some("0"),
        "raw format: the uid"
    );
    assert_eq!(got[1].rule_id, "auditd-e2e-hello", "{got:?}");
    assert_eq!(
        got[1].entities.user.as_deref(),
        Some("root"),
        "enriched: the name"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while counter(&registry, "ironpost_log_parsed_total", Some("auditd")) < 9.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all events joined in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The captured events had no EOE; the written one had.
    let forced = counter(
        &registry,
        "ironpost_log_auditd_dropped_total",
        Some("forced_flush"),
    );
    assert_eq!(forced, 8.0);
    let ev = logs.recv().await.unwrap();
    assert!(ev.message.starts_with("type="), "{}", ev.message);
    p.stop().await.unwrap();
    // One alert per rule and event, though several views of an event match.
    assert!(alerts.try_recv().is_err());
}
