//! Unit tests of the auditd joiner (`auditd_join.rs`).

use super::*;

const EXECVE: &[&str] = &[
    r#"type=SYSCALL msg=audit(1700000000.100:10): arch=c000003e syscall=59 success=yes exit=0 a0=55d0 a1=55d1 a2=55d2 a3=0 items=2 ppid=700 pid=701 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="chattr" exe="/usr/bin/chattr" subj=unconfined key="exec""#,
    r#"type=EXECVE msg=audit(1700000000.100:10): argc=3 a0="chattr" a1="-i" a2=2F746D702F612066696C65"#,
    r#"type=CWD msg=audit(1700000000.100:10): cwd="/root""#,
    r#"type=PATH msg=audit(1700000000.100:10): item=0 name="/usr/bin/chattr" inode=1 dev=fe:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0"#,
    r#"type=PROCTITLE msg=audit(1700000000.100:10): proctitle=6368617474720069002F746D702F612066696C65"#,
    r#"type=EOE msg=audit(1700000000.100:10): "#,
];

fn feed(j: &mut Joiner, lines: &[&str]) -> Vec<AuditEvent> {
    let mut out = Vec::new();
    for l in lines {
        j.push_line(l.as_bytes(), &mut out)
            .expect("an audit record");
    }
    out
}

fn field(v: &AuditView<'_>, name: &str) -> Option<String> {
    v.field(name).map(|f| f.to_text().into_owned())
}

#[test]
fn execve_event_joined_at_eoe() {
    let mut j = Joiner::default();
    let out = feed(&mut j, EXECVE);
    let [e] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert!(e.complete);
    assert_eq!(e.records.len(), 6);
    assert_eq!(e.command_line.as_deref(), Some("chattr -i /tmp/a file"));
    let views: Vec<_> = e.views().collect();
    assert_eq!(views.len(), 5, "EOE has no view");
    let execve = views
        .iter()
        .find(|v| v.record().kind == "EXECVE")
        .expect("an EXECVE view");
    assert_eq!(field(execve, "type").as_deref(), Some("EXECVE"));
    assert_eq!(field(execve, "a1").as_deref(), Some("-i"));
    assert_eq!(field(execve, "a2").as_deref(), Some("/tmp/a file"));
    assert_eq!(field(execve, "exe").as_deref(), Some("/usr/bin/chattr"));
    assert_eq!(field(execve, "process").as_deref(), Some("/usr/bin/chattr"));
    assert_eq!(field(execve, "CurrentDirectory").as_deref(), Some("/root"));
    assert_eq!(
        field(execve, "TargetFilename").as_deref(),
        Some("/usr/bin/chattr")
    );
    assert_eq!(field(execve, "SYSCALL").as_deref(), Some("execve"));
    assert_eq!(field(execve, "ParentProcessId").as_deref(), Some("700"));
    assert_eq!(field(execve, "user").as_deref(), Some("0"));
    assert_eq!(field(execve, "format").as_deref(), Some("auditd"));
    assert!(execve.message().starts_with("type=EXECVE"));
    let syscall = &views[0];
    assert_eq!(field(syscall, "a1").as_deref(), Some("55d1"), "a register");
    assert_eq!(j.stats().events, 1);
    assert_eq!(j.stats().forced, 0);
    assert_eq!(j.pending(), 0);
}

#[test]
fn proctitle_is_the_command_line_without_execve() {
    let mut j = Joiner::default();
    let out = feed(
        &mut j,
        &[
            EXECVE[0],
            r#"type=PROCTITLE msg=audit(1700000000.100:10): proctitle=2F62696E2F6C73002D6C61002F726F6F74"#,
            "type=EOE msg=audit(1700000000.100:10): ",
        ],
    );
    assert_eq!(out[0].command_line.as_deref(), Some("/bin/ls -la /root"));
}

#[test]
fn split_arguments_are_reassembled() {
    let mut j = Joiner::default();
    let out = feed(
        &mut j,
        &[
            r#"type=EXECVE msg=audit(1700000000.100:11): argc=2 a0="echo" a1_len=6 a1[0]=616263 a1[1]="def""#,
            "type=EOE msg=audit(1700000000.100:11): ",
        ],
    );
    assert_eq!(out[0].command_line.as_deref(), Some("echo abcdef"));
}

#[test]
fn interleaved_serials_stay_apart() {
    let other: Vec<String> = EXECVE
        .iter()
        .map(|l| {
            l.replace(":10)", ":11)")
                .replace("chattr", "touch")
                .replace("\"-i\"", "\"-t\"")
        })
        .collect();
    let mut lines = Vec::new();
    for (a, b) in EXECVE.iter().zip(&other) {
        lines.push(*a);
        lines.push(b.as_str());
    }
    let mut j = Joiner::default();
    let out = feed(&mut j, &lines);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].serial, 10);
    assert_eq!(
        out[0].command_line.as_deref(),
        Some("chattr -i /tmp/a file")
    );
    assert_eq!(out[1].serial, 11);
    assert_eq!(out[1].command_line.as_deref(), Some("touch -t /tmp/a file"));
    assert!(out.iter().all(|e| e.complete && e.records.len() == 6));
}

#[test]
fn missing_eoe_is_flushed_by_age_and_counted() {
    let mut j = Joiner::default();
    let out = feed(&mut j, &EXECVE[..5]);
    assert!(out.is_empty());
    assert_eq!(j.pending(), 1);
    // A record 3 s later (past the 2 s bound) closes the old event.
    let out = feed(
        &mut j,
        &[
            r#"type=SYSCALL msg=audit(1700000003.100:12): arch=c000003e syscall=2 success=no exit=-13 pid=9 comm="cat" exe="/usr/bin/cat" key=(null)"#,
        ],
    );
    assert_eq!(out.len(), 1);
    assert!(!out[0].complete);
    assert_eq!(
        out[0].command_line.as_deref(),
        Some("chattr -i /tmp/a file")
    );
    assert_eq!(j.stats().forced, 1);
    // The wall-clock bound and the end of input flush the rest.
    let mut out = Vec::new();
    j.flush_older_than(1_700_000_003_000_000, &mut out);
    assert!(out.is_empty());
    j.flush_all(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(j.stats().forced, 2);
    // Its EOE, arriving late, is counted and ignored.
    let out = feed(&mut j, &["type=EOE msg=audit(1700000003.100:12): "]);
    assert!(out.is_empty());
    assert_eq!(j.stats().orphan_eoe, 1);
}

#[test]
fn pending_and_record_bounds() {
    let limits = JoinLimits {
        max_pending: 4,
        max_records: 3,
        ..JoinLimits::default()
    };
    let mut j = Joiner::new(limits);
    let mut out = Vec::new();
    for serial in 0..10 {
        let l = format!("type=CWD msg=audit(1700000000.000:{serial}): cwd=\"/\"");
        j.push_line(l.as_bytes(), &mut out).expect("parses");
    }
    assert_eq!(j.pending(), 4);
    assert_eq!(out.len(), 6);
    assert_eq!(j.stats().pending_overflow, 6);
    for _ in 0..5 {
        j.push_line(b"type=CWD msg=audit(1700000000.000:9): cwd=\"/\"", &mut out)
            .expect("parses");
    }
    assert_eq!(j.stats().dropped_records, 3);
}

#[test]
fn user_space_records_are_events_alone_and_bad_lines_counted() {
    let mut j = Joiner::default();
    let out = feed(
        &mut j,
        &[
            "type=USER_LOGIN msg=audit(1700000000.500:90): pid=900 uid=0 auid=1000 ses=5 msg='op=login id=1000 exe=\"/usr/sbin/sshd\" hostname=? addr=203.0.113.9 terminal=/dev/pts/1 res=success'\x1dUID=\"root\" AUID=\"alice\" ID=\"alice\"",
        ],
    );
    let [e] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert!(e.complete);
    let v = e.views().next().expect("a view");
    assert_eq!(field(&v, "user").as_deref(), Some("root"));
    assert_eq!(field(&v, "AUID").as_deref(), Some("alice"));
    assert_eq!(field(&v, "addr").as_deref(), Some("203.0.113.9"));
    assert!(matches!(v.field("src_ip"), Some(FieldValue::Ip(_))));
    let out = feed(
        &mut j,
        &[
            "type=USER_AUTH msg=audit(1700000001.000:91): pid=901 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:authentication grantors=? acct=\"alice\" exe=\"/usr/sbin/sshd\" hostname=203.0.113.9 addr=203.0.113.9 terminal=ssh res=failed'\x1dUID=\"root\" AUID=\"unset\"",
        ],
    );
    let v = out[0].views().next().expect("a view");
    assert_eq!(field(&v, "user").as_deref(), Some("alice"), "PAM's account");
    assert_eq!(field(&v, "res").as_deref(), Some("failed"));
    let mut out = Vec::new();
    assert!(
        j.push_line(b"Nov 10 06:55:46 host sshd[1]: hi", &mut out)
            .is_err()
    );
    assert!(j.push_line(&vec![b'x'; 20_000], &mut out).is_err());
    assert_eq!(j.stats().rejected_lines, 2);
}
