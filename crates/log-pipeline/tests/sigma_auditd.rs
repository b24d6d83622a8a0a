//! Sigma `service: auditd` rules on joined auditd events: SigmaHQ's own `rules/linux/auditd`
//! (vendored in `testdata/sigmahq/`) and rules of ours, on records captured from a real auditd
//! (`fixtures/auditd/`, see its README) and on lines written in the same format.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ironpost_log_pipeline::parse::auditd_join::{AuditEvent, Joiner};
use ironpost_log_pipeline::rules::{RuleSet, load_dir, load_str};
use ironpost_log_pipeline::{FieldSource, ParseContext, parse};

fn sigmahq_rules() -> RuleSet {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/sigmahq/rules");
    RuleSet::compile(load_dir(&dir).rules).expect("the loaded SigmaHQ rules compile")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/auditd")
        .join(name)
}

fn join(text: &str) -> Vec<AuditEvent> {
    let mut j = Joiner::default();
    let mut out = Vec::new();
    for line in text.lines() {
        j.push_line(line.as_bytes(), &mut out)
            .expect("an audit record");
    }
    j.flush_all(&mut out);
    out
}

/// The titles of the rules matching any view of the event (one alert per rule and event).
fn titles(set: &RuleSet, e: &AuditEvent) -> BTreeSet<String> {
    let mut t = BTreeSet::new();
    let (mut fast, mut slow) = (Vec::new(), Vec::new());
    for v in e.views() {
        fast.clear();
        slow.clear();
        set.matches(&v, &mut fast);
        set.matches_exhaustive(&v, &mut slow);
        let a: Vec<&str> = fast.iter().map(|r| r.title.as_str()).collect();
        let b: Vec<&str> = slow.iter().map(|r| r.title.as_str()).collect();
        assert_eq!(a, b, "prefilter disagrees on {:?}", v.message());
        t.extend(a.into_iter().map(str::to_owned));
    }
    t
}

#[test]
fn real_capture_joins_into_its_commands() {
    let text = std::fs::read_to_string(fixture("debian12_execve.log")).expect("fixture");
    let events = join(&text);
    let lines: Vec<&str> = events
        .iter()
        .filter_map(|e| e.command_line.as_deref())
        .collect();
    assert!(
        lines.contains(&"sh -c echo \"hello world\" > /dev/null; /bin/ls -la /root >/dev/null"),
        "{lines:?}"
    );
    assert!(lines.contains(&"/bin/ls -la /root"), "{lines:?}");
    assert!(lines.contains(&"/usr/bin/id -u"), "{lines:?}");
    let sh = events
        .iter()
        .find(|e| {
            e.command_line
                .as_deref()
                .is_some_and(|c| c.starts_with("sh -c"))
        })
        .expect("the sh event");
    let v = sh.views().next().expect("a view");
    let f = |n: &str| v.field(n).map(|x| x.to_text().into_owned());
    assert_eq!(f("type").as_deref(), Some("SYSCALL"));
    assert_eq!(f("SYSCALL").as_deref(), Some("execve"));
    assert_eq!(f("exe").as_deref(), Some("/usr/bin/dash"));
    assert_eq!(f("key").as_deref(), Some("ironpost_test"));
    assert_eq!(f("User").as_deref(), Some("root"));
    assert_eq!(f("CurrentDirectory").as_deref(), Some("/tmp/auditcap"));
    assert_eq!(f("TargetFilename").as_deref(), Some("/usr/bin/sh"));
}

#[test]
fn sigmahq_auditd_rules_fire_on_joined_events() {
    let set = sigmahq_rules();
    // Debian 12 auditd 3.0.9 format, raw (no ENRICHED translations): SYSCALL as a number.
    let events = join(concat!(
        "type=SYSCALL msg=audit(1796660000.100:20): arch=c000003e syscall=59 success=yes exit=0 a0=55d0 a1=55d1 a2=55d2 a3=0 items=2 ppid=700 pid=701 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm=\"chattr\" exe=\"/usr/bin/chattr\" subj=unconfined key=(null)\n",
        "type=EXECVE msg=audit(1796660000.100:20): argc=3 a0=\"chattr\" a1=\"-i\" a2=2F6574632F612066696C65\n",
        "type=CWD msg=audit(1796660000.100:20): cwd=\"/root\"\n",
        "type=PATH msg=audit(1796660000.100:20): item=0 name=\"/usr/bin/chattr\" inode=1 dev=fe:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\n",
        "type=EOE msg=audit(1796660000.100:20): \n",
        "type=SYSCALL msg=audit(1796660000.200:21): arch=c000003e syscall=59 success=yes exit=0 a0=55d0 a1=55d1 a2=55d2 a3=0 items=2 ppid=800 pid=801 auid=4294967295 uid=33 gid=33 euid=33 suid=33 fsuid=33 egid=33 sgid=33 fsgid=33 tty=(none) ses=4294967295 comm=\"id\" exe=\"/usr/bin/id\" subj=unconfined key=(null)\n",
        "type=EXECVE msg=audit(1796660000.200:21): argc=1 a0=\"id\"\n",
        "type=EOE msg=audit(1796660000.200:21): \n",
        "type=SYSCALL msg=audit(1796660000.300:22): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=55d1 a2=241 a3=1b6 items=2 ppid=700 pid=702 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm=\"tee\" exe=\"/usr/bin/tee\" subj=unconfined key=(null)\n",
        "type=PATH msg=audit(1796660000.300:22): item=0 name=\"/etc/\" inode=2 dev=fe:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\n",
        "type=PATH msg=audit(1796660000.300:22): item=1 name=\"/etc/ld.so.preload\" inode=3 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\n",
        "type=EOE msg=audit(1796660000.300:22): \n",
    ));
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e.complete));
    let got: Vec<BTreeSet<String>> = events.iter().map(|e| titles(&set, e)).collect();
    assert!(
        got[0].contains("Remove Immutable File Attribute - Auditd"),
        "{:?}",
        got[0]
    );
    assert!(
        got[1].contains("System Owner or User Discovery - Linux"),
        "{:?}",
        got[1]
    );
    assert!(
        got[1].contains("Webshell Remote Command Execution"),
        "{:?}",
        got[1]
    );
    assert!(
        got[2].contains("Modification of ld.so.preload"),
        "{:?}",
        got[2]
    );
    assert!(!got[0].contains("Modification of ld.so.preload"));
    // The same text as a syslog line is not an auditd record: no auditd rule fires on it.
    let ctx = ParseContext::new(1_796_660_000_000_000, 0);
    let rec = parse(
        b"Dec  7 16:00:00 host app[1]: type=EXECVE msg=audit(1796660000.200:21): argc=1 a0=\"id\"",
        &ctx,
    );
    let mut out = Vec::new();
    set.matches(&rec, &mut out);
    assert!(
        out.iter().all(|r| !r.title.contains("Discovery")),
        "{:?}",
        out.iter().map(|r| &r.title).collect::<Vec<_>>()
    );
}

#[test]
fn our_auditd_rule_uses_joined_fields_and_generic_linux_rules_skip_auditd() {
    let yaml = "title: Hello Echo\nid: aud-1\nlogsource: {product: linux, service: auditd}\ndetection:\n    sel:\n        CommandLine|contains: 'hello world'\n        Image|endswith: '/dash'\n        CurrentDirectory: '/tmp/auditcap'\n    condition: sel\n---\ntitle: Any Linux Keyword\nid: aud-2\nlogsource: {product: linux}\ndetection:\n    kw:\n        - 'hello'\n        - 'execve'\n    condition: kw\n";
    let mut rules = Vec::new();
    for doc in yaml.split("---\n") {
        let loaded = load_str(doc, Some(Path::new("aud.yml")));
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        rules.extend(loaded.rules);
    }
    let set = RuleSet::compile(rules).expect("compiles");
    let text = std::fs::read_to_string(fixture("debian12_execve.log")).expect("fixture");
    let hits: Vec<BTreeSet<String>> = join(&text).iter().map(|e| titles(&set, e)).collect();
    let fired: Vec<&BTreeSet<String>> = hits.iter().filter(|t| !t.is_empty()).collect();
    assert_eq!(fired.len(), 1, "{hits:?}");
    assert_eq!(
        fired[0].iter().collect::<Vec<_>>(),
        vec!["Hello Echo"],
        "the keyword rule is for syslog-like records"
    );
}
