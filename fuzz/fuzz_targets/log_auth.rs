//! Fuzz target: the sshd/sudo/su/PAM extractor. Arbitrary bytes as a whole message must not
//! panic and may only yield user names inside the message; the same bytes as the client's part
//! of real sshd lines (login name, PAM `user`, disconnect reason, banner) must never change the
//! address sshd's grammar places.
//!
//! Run with `make fuzz FUZZ_TARGETS=log_auth` (see docs/fuzzing.md).

#![no_main]

use std::net::IpAddr;

use ironpost_log_pipeline::parse::{ParseContext, parse};
use libfuzzer_sys::fuzz_target;

const APPS: [&str; 6] = [
    "sshd",
    "sshd-session",
    "sudo",
    "su",
    "login",
    "/usr/sbin/sshd",
];

fuzz_target!(|data: &[u8]| {
    let ctx = ParseContext::new(1_796_083_200_000_000, 0);
    let (app, msg) = match data.split_first() {
        Some((b, rest)) => (APPS[usize::from(*b) % APPS.len()], rest),
        None => ("sshd", data),
    };
    let mut line = format!("Nov 10 06:55:46 h {app}[1]: ").into_bytes();
    line.extend_from_slice(msg);
    let rec = parse(&line, &ctx);
    for name in [rec.user(), rec.target_user()].into_iter().flatten() {
        let (m, n) = (rec.message.as_ptr() as usize, name.as_ptr() as usize);
        assert!(n >= m && n + name.len() <= m + rec.message.len());
    }

    // The client's text, on one line as sshd would log it.
    let text: String = String::from_utf8_lossy(msg)
        .chars()
        .filter(|c| !matches!(c, '\n' | '\r' | '\0'))
        .collect();
    let real: IpAddr = "198.18.7.9".parse().unwrap();
    for template in [
        format!("Failed password for invalid user {text} from {real} port 22 ssh2"),
        format!(
            "Failed publickey for invalid user {text} from {real} port 22 ssh2: RSA SHA256:q83vEjRW"
        ),
        format!("Invalid user {text} from {real} port 22"),
        format!("Connection closed by invalid user {text} {real} port 22 [preauth]"),
        format!("Received disconnect from {real} port 22:11: {text} [preauth]"),
        format!("User {text} from {real} not allowed because not listed in AllowUsers"),
        format!(
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={real}  user={text}"
        ),
    ] {
        let l = format!("Nov 10 06:55:46 h sshd[1]: {template}");
        let r = parse(l.as_bytes(), &ctx);
        assert_eq!(r.auth().src_ip, Some(real), "{template}");
    }
});
