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
        r#"auth{ip=2001:db8::1 port=50000 user="git" out=pubkey_probe}"#,
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
        r#"auth{ip=1.2.3.4 out=failure}"#,
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
        "Disconnecting authenticating user root 1.2.3.4 port 4242: Too many authentication failures [preauth]",
        r#"auth{ip=1.2.3.4 port=4242 user="root" out=max_attempts}"#,
    ),
    (
        "sshd",
        "Disconnecting invalid user a 9.9.9.9 port 1 b 1.2.3.4 port 22: Too many authentication failures [preauth]",
        r#"auth{ip=1.2.3.4 port=22 user="a 9.9.9.9 port 1 b" out=max_attempts}"#,
    ),
    (
        "sshd",
        "PAM 1 more authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root",
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
    // fail2ban's normal mode, message by message (OpenSSH auth.c, auth2.c, auth-pam.c, packet.c).
    (
        "sshd",
        "ROOT LOGIN REFUSED FROM 1.2.3.4 port 22",
        r#"auth{ip=1.2.3.4 port=22 out=failure}"#,
    ),
    (
        "sshd",
        "User bob from 1.2.3.4 not allowed because listed in DenyUsers",
        r#"auth{ip=1.2.3.4 user="bob" out=failure}"#,
    ),
    (
        "sshd",
        "User bob from 1.2.3.4 not allowed because not in any group [preauth]",
        r#"auth{ip=1.2.3.4 user="bob" out=failure}"#,
    ),
    (
        "sshd",
        "User bob from 1.2.3.4 not allowed because a group is listed in DenyGroups",
        r#"auth{ip=1.2.3.4 user="bob" out=failure}"#,
    ),
    (
        "sshd",
        "User bob from 1.2.3.4 not allowed because none of user's groups are listed in AllowGroups",
        r#"auth{ip=1.2.3.4 user="bob" out=failure}"#,
    ),
    (
        "sshd",
        "User bob not allowed because account is locked",
        r#"auth{user="bob" out=failure}"#,
    ),
    (
        "sshd",
        "error: PAM: Authentication failure for root from 1.2.3.4",
        r#"auth{ip=1.2.3.4 user="root" out=failure}"#,
    ),
    (
        "sshd",
        "error: PAM: Authentication failure for illegal user admin from 1.2.3.4",
        r#"auth{ip=1.2.3.4 user="admin" out=failure}"#,
    ),
    (
        "sshd",
        "error: PAM: User not known to the underlying authentication module for illegal user x from 2001:db8::5",
        r#"auth{ip=2001:db8::5 user="x" out=failure}"#,
    ),
    (
        "sshd",
        "error: PAM: Authentication failure for root from scanner.example.net",
        r#"auth{out=failure}"#,
    ),
    (
        "sshd",
        "Failed keyboard-interactive/pam for root from 1.2.3.4 port 22 ssh2",
        r#"auth{ip=1.2.3.4 port=22 user="root" out=failure}"#,
    ),
    (
        "sshd",
        "Failed publickey for invalid user deploy from 1.2.3.4 port 22 ssh2: RSA SHA256:Zm9vYmFy",
        r#"auth{ip=1.2.3.4 port=22 user="deploy" out=failure}"#,
    ),
    (
        "sshd",
        "Connection reset by authenticating user root 1.2.3.4 port 22 [preauth]",
        r#"auth{ip=1.2.3.4 port=22 user="root" out=disconnect}"#,
    ),
    (
        "sshd",
        "Received disconnect from 1.2.3.4 port 22:11: disconnected by user",
        r#"auth{ip=1.2.3.4 port=22 out=disconnect}"#,
    ),
    (
        "sshd",
        "Received disconnect from 1.2.3.4 port 5:3: com.jcraft.jsch.JSchException: Auth fail [preauth]",
        r#"auth{ip=1.2.3.4 port=5 out=failure}"#,
    ),
    (
        "sshd",
        "Disconnecting invalid user a 1.2.3.4 port 22: Change of username or service not allowed: (a,ssh-connection) -> (b,ssh-connection) [preauth]",
        r#"auth{ip=1.2.3.4 port=22 user="a" out=failure}"#,
    ),
    (
        "sshd",
        "refused connect from host.example (1.2.3.4)",
        r#"auth{ip=1.2.3.4 out=failure}"#,
    ),
    (
        "sshd",
        "Failed publickey for git from 1.2.3.4 port 22 ssh2: RSA-CERT SHA256:Zm9v ID alice@example (serial 7) CA ED25519 SHA256:YmFy",
        r#"auth{ip=1.2.3.4 port=22 user="git" out=pubkey_probe}"#,
    ),
    (
        "sshd",
        "Postponed keyboard-interactive for root from 1.2.3.4 port 22 ssh2 [preauth]",
        "",
    ),
    // Injection: names, ruser, banners and reasons are the client's. The address is where
    // sshd's grammar puts it. The issue's line: a password failure has nothing after
    // `port N ssh2`, so the name is `x from 127.0.0.1 port 2 ssh2:` and the peer 10.10.1.2.
    (
        "sshd",
        "Failed password for invalid user x from 127.0.0.1 port 2 ssh2: from 10.10.1.2 port 5 ssh2",
        r#"auth{ip=10.10.1.2 port=5 user="x from 127.0.0.1 port 2 ssh2:" out=failure}"#,
    ),
    (
        "sshd",
        "Failed password for invalid user a from 9.9.9.9 port 1 ssh2 from 1.2.3.4 port 22 ssh2",
        r#"auth{ip=1.2.3.4 port=22 user="a from 9.9.9.9 port 1 ssh2" out=failure}"#,
    ),
    (
        "sshd",
        "Failed password for invalid user a from 9.9.9.9 port 1 ssh2: RSA SHA256:x from 1.2.3.4 port 22 ssh2",
        r#"auth{ip=1.2.3.4 port=22 user="a from 9.9.9.9 port 1 ssh2: RSA SHA256:x" out=failure}"#,
    ),
    (
        "sshd",
        "Failed publickey for invalid user a from 9.9.9.9 port 1 ssh2: RSA SHA256:x from 1.2.3.4 port 22 ssh2: RSA SHA256:y",
        r#"auth{ip=1.2.3.4 port=22 user="a from 9.9.9.9 port 1 ssh2: RSA SHA256:x" out=failure}"#,
    ),
    // Both the name and the certificate ID crafted: two candidates of the right shape, no address.
    (
        "sshd",
        "Failed publickey for invalid user a from 9.9.9.9 port 1 ssh2: RSA-CERT SHA256:x ID k from 1.2.3.4 port 22 ssh2: RSA-CERT SHA256:y ID z (serial 1) CA RSA SHA256:c",
        r#"auth{out=failure}"#,
    ),
    (
        "sshd",
        "Invalid user x from 9.9.9.9 port 1 from 1.2.3.4 port 22",
        r#"auth{ip=1.2.3.4 port=22 user="x from 9.9.9.9 port 1" out=invalid_user}"#,
    ),
    (
        "sshd",
        "Connection closed by invalid user x 9.9.9.9 port 1 1.2.3.4 port 22 [preauth]",
        r#"auth{ip=1.2.3.4 port=22 user="x 9.9.9.9 port 1" out=disconnect}"#,
    ),
    (
        "sshd",
        "maximum authentication attempts exceeded for invalid user x from 9.9.9.9 port 1 ssh2 from 1.2.3.4 port 22 ssh2 [preauth]",
        r#"auth{ip=1.2.3.4 port=22 user="x from 9.9.9.9 port 1 ssh2" out=max_attempts}"#,
    ),
    (
        "sshd",
        "Received disconnect from 1.2.3.4 port 22:11: bye from 9.9.9.9 port 1 [preauth]",
        r#"auth{ip=1.2.3.4 port=22 out=disconnect}"#,
    ),
    (
        "sshd",
        "Unable to negotiate with 1.2.3.4 port 5: no matching host key type found. Their offer: from 9.9.9.9 port 1 [preauth]",
        "auth{ip=1.2.3.4 port=5}",
    ),
    (
        "sshd",
        "Bad protocol version identification 'x from 9.9.9.9 port 1' from 1.2.3.4 port 5",
        "auth{ip=1.2.3.4 port=5}",
    ),
    (
        "sshd",
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=x rhost=9.9.9.9",
        r#"auth{ip=1.2.3.4 user="x rhost=9.9.9.9" out=failure}"#,
    ),
    (
        "sshd",
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser=a rhost=9.9.9.9 rhost=1.2.3.4  user=root",
        r#"auth{out=failure}"#,
    ),
    (
        "sshd",
        "User x from 9.9.9.9 not allowed because listed in DenyUsers from 1.2.3.4 not allowed because listed in DenyUsers",
        r#"auth{ip=1.2.3.4 user="x from 9.9.9.9 not allowed because listed in DenyUsers" out=failure}"#,
    ),
    // Found by the `log_auth` fuzz target: an account name that begins like PAM's
    // `User not known to the underlying authentication module for …` once hid the address.
    (
        "sshd",
        "User not known to the underlying authentication module for x from 9.9.9.r from 1.2.3.4 not allowed because not listed in AllowUsers",
        r#"auth{ip=1.2.3.4 user="not known to the underlying authentication module for x from 9.9.9.r" out=failure}"#,
    ),
    (
        "sshd",
        "User not known to the underlying authentication module for a not allowed because account is locked",
        r#"auth{user="not known to the underlying authentication module for a" out=failure}"#,
    ),
    (
        "sshd",
        "Disconnecting invalid user a 9.9.9.9 port 1: Change of username or service not allowed: (x 1.2.3.4 port 22: Change of username or service not allowed: (a,ssh-connection) -> (b,ssh-connection) [preauth]",
        "",
    ),
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

mod injection {
    //! Property: text the client chooses (login names, PAM `ruser`, banners, disconnect reasons,
    //! key offers) never changes the address extracted from an sshd line.

    use std::net::IpAddr;

    use ironpost_log_pipeline::parse::parse;
    use proptest::prelude::*;

    use super::ctx;

    /// Pieces an attacker would use, mixed with arbitrary printable text.
    fn hostile() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just(" from ".to_owned()),
            Just("from".to_owned()),
            Just("9.9.9.9".to_owned()),
            Just("2001:db8::bad".to_owned()),
            Just(" port ".to_owned()),
            Just("1".to_owned()),
            Just(" ssh2".to_owned()),
            Just(": ".to_owned()),
            Just("RSA SHA256:x".to_owned()),
            Just("RSA-CERT SHA256:x ID ".to_owned()),
            Just(" (serial 1) CA RSA SHA256:y".to_owned()),
            Just(" [preauth]".to_owned()),
            Just(" rhost=".to_owned()),
            Just("ruser=".to_owned()),
            Just("  user=".to_owned()),
            Just(" not allowed because listed in DenyUsers".to_owned()),
            Just(": Change of username or service not allowed: (".to_owned()),
            Just("invalid user ".to_owned()),
            Just(" ".to_owned()),
            "[ -~]{0,12}",
        ];
        proptest::collection::vec(piece, 0..10).prop_map(|v| v.concat())
    }

    fn real() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            (0u8..=255, 0u8..=255).prop_map(|(a, b)| IpAddr::from([198, 18, a, b])),
            (0u16..=0xffff).prop_map(|x| IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 7, x])),
        ]
    }

    fn extract(msg: &str) -> Option<IpAddr> {
        extract_from("sshd", msg)
    }

    fn extract_from(app: &str, msg: &str) -> Option<IpAddr> {
        let line = format!("Nov 10 06:55:46 h {app}[1]: {msg}");
        parse(line.as_bytes(), &ctx()).auth().src_ip
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn client_text_never_moves_the_address(
            ip in real(),
            port in 1u16..,
            user in hostile(),
            other in hostile(),
        ) {
            let exact = [
                format!("Failed password for {user} from {ip} port {port} ssh2"),
                format!("Failed password for invalid user {user} from {ip} port {port} ssh2"),
                format!("Failed keyboard-interactive/pam for invalid user {user} from {ip} port {port} ssh2"),
                format!("Failed publickey for invalid user {user} from {ip} port {port} ssh2: ED25519 SHA256:q83vEjRW"),
                format!("Accepted publickey for {user} from {ip} port {port} ssh2: RSA SHA256:q83vEjRW"),
                format!("Invalid user {user} from {ip} port {port}"),
                format!("error: maximum authentication attempts exceeded for invalid user {user} from {ip} port {port} ssh2 [preauth]"),
                format!("Connection closed by invalid user {user} {ip} port {port} [preauth]"),
                format!("Disconnected from authenticating user {user} {ip} port {port} [preauth]"),
                format!("Disconnecting authenticating user {user} {ip} port {port}: Too many authentication failures [preauth]"),
                format!("Received disconnect from {ip} port {port}:11: {other} [preauth]"),
                format!("Unable to negotiate with {ip} port {port}: no matching key exchange method found. Their offer: {other} [preauth]"),
                format!("Bad protocol version identification '{other}' from {ip} port {port}"),
                format!("User {user} from {ip} not allowed because not listed in AllowUsers"),
                format!("error: PAM: Authentication failure for illegal user {user} from {ip}"),
                format!("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user={user}"),
            ];
            for msg in &exact {
                prop_assert_eq!(extract(msg), Some(ip), "{}", msg);
            }
            // Text after the address that sshd would not write, or a `ruser` with spaces: the
            // address may be refused, never replaced.
            // A service whose `ruser` is the client's (rsh): a crafted `ruser` may make the
            // line ambiguous (no address), never name another address.
            let got = extract_from(
                "in.rshd",
                &format!("pam_unix(rsh:auth): authentication failure; logname= uid=0 euid=0 tty=rsh ruser={other} rhost={ip}  user={user}"),
            );
            prop_assert!(got.is_none() || got == Some(ip), "ruser {:?} → {:?}", other, got);
            let at_most = [
                format!("Failed publickey for {user} from {ip} port {port} ssh2: RSA-CERT SHA256:x ID {other} (serial 3) CA ED25519 SHA256:y"),
                format!("Disconnecting invalid user {user} {ip} port {port}: Change of username or service not allowed: ({user},ssh-connection) -> ({other},ssh-connection) [preauth]"),
            ];
            for msg in &at_most {
                let got = extract(msg);
                prop_assert!(got.is_none() || got == Some(ip), "{} → {:?}", msg, got);
            }
        }
    }
}
