//! Auth extraction table: real sshd (OpenSSH 7-9), sudo, su and PAM messages, each sent through
//! the full parser as `Nov 10 06:55:46 h APP[1]: MESSAGE`.

use ironpost_log_pipeline::parse::parse;
use ironpost_log_pipeline::{FieldSource, FieldValue};

use super::{ctx, render_auth};

/// (app, message, expected `render_auth`)
const CASES: &[(&str, &str, &str)] = &[
    // sshd: failures, every method, invalid users with odd names.
    (
        "sshd",
        "Failed password for root from 1.2.3.4 port 4242 ssh2",
        r#"auth{ip=1.2.3.4 port=4242 user="root" out=failure}"#,
    ),
    (
        "sshd",
        "Failed password for invalid user admin from 1.2.3.4 port 4242 ssh2",
        r#"auth{ip=1.2.3.4 port=4242 user="admin" out=failure}"#,
    ),
    (
        "sshd",
        "Failed password for invalid user  from 1.2.3.4 port 22 ssh2",
        r#"auth{ip=1.2.3.4 port=22 user="" out=failure}"#,
    ),
    (
        "sshd",
        "Failed publickey for git from 2001:db8::1 port 50000 ssh2: ECDSA SHA256:abc",
        r#"auth{ip=2001:db8::1 port=50000 user="git" out=failure}"#,
    ),
    (
        "sshd",
        "Failed none for invalid user test from 1.2.3.4 port 1 ssh2",
        r#"auth{ip=1.2.3.4 port=1 user="test" out=failure}"#,
    ),
    (
        "sshd",
        "Failed keyboard-interactive/pam for invalid user oracle from ::ffff:10.0.0.1 port 2 ssh2",
        r#"auth{ip=10.0.0.1 port=2 user="oracle" out=failure}"#,
    ),
    (
        "sshd",
        "Accepted password for alice from 1.2.3.4 port 4242 ssh2",
        r#"auth{ip=1.2.3.4 port=4242 user="alice" out=success}"#,
    ),
    (
        "sshd",
        "Accepted publickey for bob from 1.2.3.4 port 22 ssh2: RSA SHA256:Zm9vYmFy",
        r#"auth{ip=1.2.3.4 port=22 user="bob" out=success}"#,
    ),
    (
        "sshd",
        "Accepted password for root from fe80::1%eth0 port 22 ssh2",
        r#"auth{ip=fe80::1 port=22 user="root" out=success}"#,
    ),
    (
        "sshd",
        "Invalid user admin from 1.2.3.4 port 22",
        r#"auth{ip=1.2.3.4 port=22 user="admin" out=invalid_user}"#,
    ),
    (
        "sshd",
        "Invalid user admin from 1.2.3.4",
        r#"auth{ip=1.2.3.4 user="admin" out=invalid_user}"#,
    ),
    (
        "sshd",
        "Invalid user  from 1.2.3.4 port 22",
        r#"auth{ip=1.2.3.4 port=22 user="" out=invalid_user}"#,
    ),
    (
        "sshd",
        "Invalid user john smith from 1.2.3.4 port 22",
        r#"auth{ip=1.2.3.4 port=22 user="john smith" out=invalid_user}"#,
    ),
    (
        "sshd",
        "Invalid user from from 2001:db8::3 port 9",
        r#"auth{ip=2001:db8::3 port=9 user="from" out=invalid_user}"#,
    ),
    // Disconnects, with and without user, port, [preauth].
    (
        "sshd",
        "Connection closed by authenticating user root 1.2.3.4 port 22 [preauth]",
        r#"auth{ip=1.2.3.4 port=22 user="root" out=disconnect}"#,
    ),
    (
        "sshd",
        "Connection closed by invalid user oracle 1.2.3.4 port 22 [preauth]",
        r#"auth{ip=1.2.3.4 port=22 user="oracle" out=disconnect}"#,
    ),
    (
        "sshd",
        "Connection closed by 1.2.3.4 port 22 [preauth]",
        r#"auth{ip=1.2.3.4 port=22 out=disconnect}"#,
    ),
    (
        "sshd",
        "Connection closed by 1.2.3.4 [preauth]",
        r#"auth{ip=1.2.3.4 out=disconnect}"#,
    ),
    (
        "sshd",
        "Connection reset by 1.2.3.4 port 5 [preauth]",
        r#"auth{ip=1.2.3.4 port=5 out=disconnect}"#,
    ),
    (
        "sshd",
        "Disconnected from invalid user test 2001:db8::7 port 43 [preauth]",
        r#"auth{ip=2001:db8::7 port=43 user="test" out=disconnect}"#,
    ),
    (
        "sshd",
        "Disconnected from user alice 1.2.3.4 port 22",
        r#"auth{ip=1.2.3.4 port=22 user="alice" out=disconnect}"#,
    ),
    (
        "sshd",
        "Received disconnect from 1.2.3.4 port 22:11: Bye Bye [preauth]",
        r#"auth{ip=1.2.3.4 port=22 out=disconnect}"#,
    ),
    (
        "sshd",
        "Received disconnect from 1.2.3.4: 11: Bye Bye [preauth]",
        r#"auth{ip=1.2.3.4 out=disconnect}"#,
    ),
    (
        "sshd",
        "error: Received disconnect from 1.2.3.4: 3: com.jcraft.jsch.JSchException: Auth fail [preauth]",
        r#"auth{ip=1.2.3.4 out=disconnect}"#,
    ),
    (
        "sshd",
        "error: maximum authentication attempts exceeded for root from 1.2.3.4 port 22 ssh2 [preauth]",
        r#"auth{ip=1.2.3.4 port=22 user="root" out=max_attempts}"#,
    ),
    (
        "sshd",
        "error: maximum authentication attempts exceeded for invalid user admin from 1.2.3.4 port 22 ssh2 [preauth]",
        r#"auth{ip=1.2.3.4 port=22 user="admin" out=max_attempts}"#,
    ),
    (
        "sshd",
        "User root from 1.2.3.4 not allowed because not listed in AllowUsers",
        r#"auth{ip=1.2.3.4 user="root" out=failure}"#,
    ),
    // PAM inside sshd: rhost IPv4/IPv6, user present/absent, the summary line (no outcome).
    (
        "sshd",
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root",
        r#"auth{ip=1.2.3.4 user="root" out=failure}"#,
    ),
    (
        "sshd",
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4 ",
        r#"auth{ip=1.2.3.4 out=failure}"#,
    ),
    (
        "sshd",
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=2001:db8::9  user=root",
        r#"auth{ip=2001:db8::9 user="root" out=failure}"#,
    ),
    (
        "sshd",
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=scanner.example.net",
        r#"auth{out=failure}"#,
    ),
    (
        "sshd",
        "PAM 5 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root",
        r#"auth{ip=1.2.3.4 user="root"}"#,
    ),
    (
        "sshd",
        "pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)",
        r#"auth{user="alice"}"#,
    ),
    (
        "sshd",
        "pam_unix(sshd:session): session closed for user alice",
        r#"auth{user="alice"}"#,
    ),
    // Scanner noise: the address, no outcome.
    (
        "sshd",
        "Did not receive identification string from 1.2.3.4",
        "auth{ip=1.2.3.4}",
    ),
    (
        "sshd",
        "Did not receive identification string from 1.2.3.4 port 5",
        "auth{ip=1.2.3.4 port=5}",
    ),
    (
        "sshd",
        "Bad protocol version identification 'GET / HTTP/1.1' from 1.2.3.4 port 5",
        "auth{ip=1.2.3.4 port=5}",
    ),
    (
        "sshd",
        "reverse mapping checking getaddrinfo for 1-2-3-4.example.net [1.2.3.4] failed - POSSIBLE BREAK-IN ATTEMPT!",
        "auth{ip=1.2.3.4}",
    ),
    (
        "sshd",
        "Address 1.2.3.4 maps to x.example, but this does not map back to the address - POSSIBLE BREAK-IN ATTEMPT!",
        "auth{ip=1.2.3.4}",
    ),
    (
        "sshd",
        "Unable to negotiate with 1.2.3.4 port 5: no matching key exchange method found.",
        "auth{ip=1.2.3.4 port=5}",
    ),
    (
        "sshd",
        "Timeout before authentication for 1.2.3.4 port 5",
        "auth{ip=1.2.3.4 port=5}",
    ),
    (
        "sshd",
        "Connection from 1.2.3.4 port 5 on 10.0.0.1 port 22 rdomain \"\"",
        "auth{ip=1.2.3.4 port=5}",
    ),
    (
        "sshd",
        "input_userauth_request: invalid user test [preauth]",
        r#"auth{user="test"}"#,
    ),
    ("sshd", "Server listening on 0.0.0.0 port 22.", ""),
    // OpenSSH 9.8+ per-session binary, and a tag that is a path.
    (
        "sshd-session",
        "Failed password for root from 1.2.3.4 port 1 ssh2",
        r#"auth{ip=1.2.3.4 port=1 user="root" out=failure}"#,
    ),
    (
        "/usr/sbin/sshd",
        "Invalid user a from 1.2.3.4",
        r#"auth{ip=1.2.3.4 user="a" out=invalid_user}"#,
    ),
    // sudo.
    (
        "sudo",
        "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id",
        r#"auth{user="alice" target="root" out=success}"#,
    ),
    (
        "sudo",
        "   carol : TTY=unknown ; PWD=/ ; USER=postgres ; COMMAND=/bin/ls",
        r#"auth{user="carol" target="postgres" out=success}"#,
    ),
    (
        "sudo",
        "alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id",
        r#"auth{user="alice" target="root" out=failure}"#,
    ),
    (
        "sudo",
        "bob : user NOT in sudoers ; TTY=pts/1 ; PWD=/ ; USER=root ; COMMAND=/bin/sh",
        r#"auth{user="bob" target="root" out=failure}"#,
    ),
    (
        "sudo",
        "pam_unix(sudo:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=alice",
        r#"auth{user="alice" target="alice" out=failure}"#,
    ),
    (
        "sudo",
        "pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)",
        r#"auth{user="root"}"#,
    ),
    (
        "sudo",
        "unable to resolve host h: Name or service not known",
        "",
    ),
    // su (util-linux and shadow-utils wordings).
    (
        "su",
        "FAILED SU (to root) bob on pts/0",
        r#"auth{user="bob" target="root" out=failure}"#,
    ),
    (
        "su",
        "(to root) bob on pts/0",
        r#"auth{user="bob" target="root" out=success}"#,
    ),
    (
        "su",
        "pam_unix(su:auth): authentication failure; logname=bob uid=1000 euid=0 tty=pts/0 ruser=bob rhost=  user=root",
        r#"auth{user="bob" target="root" out=failure}"#,
    ),
    (
        "su",
        "Successful su for root by bob",
        r#"auth{user="bob" target="root" out=success}"#,
    ),
    (
        "su",
        "FAILED su for postgres by bob",
        r#"auth{user="bob" target="postgres" out=failure}"#,
    ),
    (
        "su",
        "+ pts/0 bob:root",
        r#"auth{user="bob" target="root" out=success}"#,
    ),
    (
        "su",
        "- pts/0 bob:root",
        r#"auth{user="bob" target="root" out=failure}"#,
    ),
    // PAM from any program; other programs are not looked at.
    (
        "login",
        "pam_unix(login:auth): authentication failure; logname=LOGIN uid=0 euid=0 tty=/dev/tty1 ruser= rhost=  user=alice",
        r#"auth{user="alice" out=failure}"#,
    ),
    (
        "cron",
        "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
        r#"auth{user="root"}"#,
    ),
    (
        "nginx",
        "Failed password for root from 1.2.3.4 port 1 ssh2",
        "",
    ),
];

#[test]
fn auth_table() {
    let ctx = ctx();
    let mut failures = Vec::new();
    for (app, msg, expected) in CASES {
        let line = format!("Nov 10 06:55:46 h {app}[1]: {msg}");
        let rec = parse(line.as_bytes(), &ctx);
        assert_eq!(rec.app.as_deref(), Some(*app), "{line}");
        let got = render_auth(&rec);
        if got != *expected {
            failures.push(format!(
                "{app}: {msg}\n  expected: {expected}\n  got:      {got}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn auth_fields_are_answered_as_typed_fields() {
    let line = b"<38>1 2026-11-10T06:55:46Z sshgw sshd 24200 - [meta source_ip=\"1.2.3.4\"] Failed password for invalid user a b from ::ffff:1.2.3.4 port 4242 ssh2";
    let mut rec = parse(line, &ctx());
    rec.source = Some("syslog_udp");
    let ip: std::net::IpAddr = "1.2.3.4".parse().unwrap();
    assert_eq!(rec.field("src_ip"), Some(FieldValue::Ip(ip)));
    assert_eq!(rec.field("user"), Some(FieldValue::Str("a b")));
    assert_eq!(rec.field("port"), Some(FieldValue::Num(4242.0)));
    assert_eq!(rec.field("outcome"), Some(FieldValue::Str("failure")));
    assert_eq!(rec.field("pid"), Some(FieldValue::Num(24200.0)));
    for alias in ["process", "program", "app", "app_name"] {
        assert_eq!(rec.field(alias), Some(FieldValue::Str("sshd")), "{alias}");
    }
    assert_eq!(rec.field("host"), Some(FieldValue::Str("sshgw")));
    assert_eq!(rec.field("hostname"), Some(FieldValue::Str("sshgw")));
    assert_eq!(rec.field("severity"), Some(FieldValue::Str("info")));
    assert_eq!(rec.field("facility"), Some(FieldValue::Str("auth")));
    assert_eq!(rec.field("source"), Some(FieldValue::Str("syslog_udp")));
    assert_eq!(rec.field("meta.source_ip"), Some(FieldValue::Ip(ip)));
    assert_eq!(rec.field("msgid"), None);
    assert_eq!(rec.field("target_user"), None);
    assert_eq!(rec.field("meta"), None);
    assert_eq!(rec.field("source_ip"), None);
    assert_eq!(rec.message(), rec.field("message").unwrap().to_text());
    assert_eq!(rec.timestamp_micros(), Some(1_794_293_746_000_000));
}

#[test]
fn json_keys_answer_names_the_record_has_no_builtin_for() {
    let rec = parse(
        br#"{"msg":"hello","user":"svc","client":{"ip":"2001:db8::1"}}"#,
        &ctx(),
    );
    assert_eq!(rec.field("user"), Some(FieldValue::Str("svc")));
    assert_eq!(
        rec.field("client.ip"),
        Some(FieldValue::Ip("2001:db8::1".parse().unwrap()))
    );
    assert_eq!(rec.field("src_ip"), None);
}
