//! Address and outcome extraction for the other services the rule library covers: postfix
//! smtpd's SASL failures, dovecot's login processes, proftpd, vsftpd's own log, and MySQL /
//! MariaDB's `Access denied` line. Called by [`super::auth::extract`] for these programs (and for
//! lines without a program, where the vsftpd and MySQL shapes are recognised by their text).
//!
//! As for sshd, the address is taken only from the position the service's grammar gives it, and
//! where a client-chosen text (a user name) comes first, the address is located from the fixed
//! text that follows it, so a name that spells an address cannot move it. No regex.

use super::auth_tokens::{find, parse_ip, rfind};
use super::record::{AuthFields, Outcome};

/// postfix smtpd: `warning: HOST[IP]: SASL METHOD authentication failed: …`. HOST is smtpd's
/// reverse lookup (`unknown` when it does not verify) and comes first; the client's text (the
/// base64 challenge, the reason) comes after `]: `.
pub(super) fn postfix(msg: &str, out: &mut AuthFields) {
    let m = msg.strip_prefix("warning: ").unwrap_or(msg);
    let Some(end) = find(m, "]: ") else {
        return;
    };
    let head = &m[..end];
    let Some(open) = memchr::memrchr(b'[', head.as_bytes()) else {
        return;
    };
    // The host name has no spaces; anything else is not smtpd's `HOST[IP]`.
    if head[..open].contains(' ') {
        return;
    }
    let Some(ip) = parse_ip(&head[open + 1..]) else {
        return;
    };
    let rest = &m[end + 3..];
    out.src_ip = Some(ip);
    if rest.starts_with("SASL ") && find(rest, " authentication failed").is_some() {
        out.outcome = Some(Outcome::Failure);
    }
}

/// dovecot login processes: `imap-login: Disconnected (auth failed, N attempts in S secs):
/// user=<NAME>, method=M, rip=IP, lip=IP, …`. The user name is the client's and precedes `rip=`,
/// and dovecot writes only its own fields after it, so the last `, rip=` is dovecot's. (PAM lines
/// behind an `auth: ` / `auth-worker(N): ` prefix go to the PAM reader instead.)
pub(super) fn dovecot(msg: &str, out: &mut AuthFields) {
    let Some(i) = rfind(msg, ", rip=") else {
        return;
    };
    let rest = &msg[i + 6..];
    let end = memchr::memchr(b',', rest.as_bytes()).unwrap_or(rest.len());
    let Some(ip) = parse_ip(&rest[..end]) else {
        return;
    };
    out.src_ip = Some(ip);
    if find(msg, "(auth failed, ").is_some() {
        out.outcome = Some(Outcome::Failure);
    }
}

/// proftpd: `SERVER (HOST[IP]) - USER NAME (Login failed): …`, `… - USER NAME: no such user
/// found from …`, `… - Maximum login attempts (N) exceeded`. The session prefix is proftpd's and
/// comes first: the address is inside the first `[…]) - `.
pub(super) fn proftpd(msg: &str, out: &mut AuthFields) {
    let Some(end) = find(msg, "]) - ") else {
        return;
    };
    let head = &msg[..end];
    let Some(open) = memchr::memrchr(b'[', head.as_bytes()) else {
        return;
    };
    // `SERVER (HOST` before the bracket: one space, before the parenthesis.
    match find(&head[..open], " (") {
        Some(p) if !head[..p].contains(' ') && !head[p + 2..open].contains(' ') => {}
        _ => return,
    }
    let Some(ip) = parse_ip(&head[open + 1..]) else {
        return;
    };
    out.src_ip = Some(ip);
    let rest = &msg[end + 5..];
    if find(rest, " (Login failed): ").is_some()
        || find(rest, ": no such user found from ").is_some()
        || rest.starts_with("Maximum login attempts (")
    {
        out.outcome = Some(Outcome::Failure);
    }
}

/// Lines without a program of their own (vsftpd.log, MySQL's error log) or from any program:
/// the two shapes are told by their fixed text, anchored at the end of the line.
pub(super) fn other(msg: &str, out: &mut AuthFields) {
    // vsftpd.log: `… [pid N] [NAME] FAIL LOGIN: Client "IP"`; NAME is the client's.
    if let Some(r) = msg.strip_suffix('"')
        && let Some(i) = rfind(r, "] FAIL LOGIN: Client \"")
    {
        if let Some(ip) = parse_ip(&r[i + 22..]) {
            out.src_ip = Some(ip);
            out.outcome = Some(Outcome::Failure);
        }
        return;
    }
    // MySQL / MariaDB: `Access denied for user 'NAME'@'HOST' (using password: YES)`; NAME is the
    // client's, the fixed tail after HOST is the server's.
    let tail = if msg.ends_with(" (using password: YES)") {
        " (using password: YES)".len()
    } else if msg.ends_with(" (using password: NO)") {
        " (using password: NO)".len()
    } else {
        return;
    };
    let Some(r) = msg[..msg.len() - tail].strip_suffix('\'') else {
        return;
    };
    let Some(at) = rfind(r, "'@'") else {
        return;
    };
    if find(&r[..at], "Access denied for user '").is_none() {
        return;
    }
    out.outcome = Some(Outcome::Failure);
    // `localhost` and other host names leave the address unset.
    out.src_ip = parse_ip(&r[at + 3..]);
}

#[cfg(test)]
mod tests {
    use super::super::auth::extract;
    use std::net::IpAddr;

    fn ip(app: Option<&str>, msg: &str) -> Option<IpAddr> {
        extract(app, msg).src_ip
    }

    fn failed(app: Option<&str>, msg: &str) -> bool {
        extract(app, msg).outcome.map(|o| o.as_str()) == Some("failure")
    }

    #[test]
    fn postfix_sasl() {
        let m = "warning: unknown[203.0.113.5]: SASL LOGIN authentication failed: UGFzc3dvcmQ6";
        assert_eq!(ip(Some("postfix/smtpd"), m), "203.0.113.5".parse().ok());
        assert!(failed(Some("postfix/submission/smtpd"), m));
        // The challenge text after the address cannot move it.
        let m = "warning: mx.example[2001:db8::5]: SASL PLAIN authentication failed: x[198.51.100.1]: y";
        assert_eq!(ip(Some("postfix/smtpd"), m), "2001:db8::5".parse().ok());
        assert!(!failed(
            Some("postfix/smtpd"),
            "connect from unknown[203.0.113.5]"
        ));
        assert_eq!(
            ip(Some("postfix/smtpd"), "lost connection after AUTH"),
            None
        );
    }

    #[test]
    fn dovecot_login_and_pam() {
        let m = "imap-login: Disconnected (auth failed, 3 attempts in 12 secs): user=<bob>, method=PLAIN, rip=203.0.113.13, lip=192.0.2.1, TLS, session=<abc>";
        assert_eq!(ip(Some("dovecot"), m), "203.0.113.13".parse().ok());
        assert!(failed(Some("dovecot"), m));
        // A user name holding `, rip=` comes before dovecot's own.
        let m = "pop3-login: Aborted login (auth failed, 1 attempts in 2 secs): user=<x, rip=198.51.100.9, lip=1>, method=PLAIN, rip=203.0.113.14, lip=192.0.2.1";
        assert_eq!(ip(Some("dovecot"), m), "203.0.113.14".parse().ok());
        let m = "auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=bob rhost=203.0.113.15";
        assert_eq!(ip(Some("dovecot"), m), "203.0.113.15".parse().ok());
        assert!(failed(Some("dovecot"), m));
        let m = "imap-login: Login: user=<bob>, method=PLAIN, rip=203.0.113.13, lip=192.0.2.1";
        assert!(!failed(Some("dovecot"), m));
    }

    #[test]
    fn proftpd_sessions() {
        let m = "ftp.example.com (client.example.net[203.0.113.9]) - USER bob (Login failed): Incorrect password";
        assert_eq!(ip(Some("proftpd"), m), "203.0.113.9".parse().ok());
        assert!(failed(Some("proftpd"), m));
        let m = "ftp.example.com (203.0.113.9[203.0.113.9]) - USER x]) - [198.51.100.1]) - : no such user found from 203.0.113.9 [203.0.113.9] to 192.0.2.1:21";
        assert_eq!(ip(Some("proftpd"), m), "203.0.113.9".parse().ok());
        let m = "ftp.example.com (203.0.113.9[203.0.113.9]) - USER bob: Login successful.";
        assert!(!failed(Some("proftpd"), m));
    }

    #[test]
    fn vsftpd_and_mysql_without_a_program() {
        let m =
            "Fri Nov 20 10:00:00 2026 [pid 2345] [bob] FAIL LOGIN: Client \"::ffff:203.0.113.8\"";
        assert_eq!(ip(None, m), "203.0.113.8".parse().ok());
        assert!(failed(None, m));
        let m =
            "[pid 2] [a] FAIL LOGIN: Client \"198.51.100.1\"] FAIL LOGIN: Client \"203.0.113.8\"";
        assert_eq!(ip(None, m), "203.0.113.8".parse().ok());
        let m = "Access denied for user 'root'@'203.0.113.12' (using password: YES)";
        assert_eq!(ip(Some("mariadbd"), m), "203.0.113.12".parse().ok());
        assert!(failed(None, m));
        let m = "Access denied for user 'x'@'198.51.100.1' (using password: YES)'@'203.0.113.12' (using password: NO)";
        assert_eq!(ip(None, m), "203.0.113.12".parse().ok());
        let m = "Access denied for user 'root'@'localhost' (using password: NO)";
        assert_eq!(ip(None, m), None);
        assert!(failed(None, m));
        assert!(!failed(
            None,
            "[pid 2] [bob] OK LOGIN: Client \"203.0.113.8\""
        ));
    }
}
