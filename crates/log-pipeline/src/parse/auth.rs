//! Field extraction from authentication messages: remote address, port, user names and the
//! outcome, for sshd (also `sshd-session`/`sshd-auth`, OpenSSH ≥ 9.8), sudo, su, and PAM
//! `pam_*(service:type)` lines of any program.
//!
//! Runs only when the app is one of those or the message starts with `pam_`: one string match
//! per line for everything else. Matching is by message prefix and substring search, never by
//! regex. Every extracted name is a slice of the message (kept as a `Span`); user names may be
//! empty or contain spaces (`Invalid user  from …`, `Invalid user a b from …`), so the address
//! is located from the right.

use std::net::{IpAddr, Ipv4Addr};

use super::record::{AuthFields, Outcome, Span};

/// Extracts what an auth line says. `app` is the record's program name (a path is reduced to
/// its last component).
pub(crate) fn extract(app: Option<&str>, message: &str) -> AuthFields {
    let mut x = Extract {
        msg: message,
        out: AuthFields::default(),
    };
    let program = app.map(|a| match a.bytes().rposition(|c| c == b'/') {
        Some(i) => &a[i + 1..],
        None => a,
    });
    match program {
        Some("sshd" | "sshd-session" | "sshd-auth") => x.sshd(message),
        Some("sudo") => x.sudo(message),
        Some("su") => x.su(message),
        _ if message.starts_with("pam_") => x.pam(message),
        _ => {}
    }
    x.out
}

struct Extract<'m> {
    msg: &'m str,
    out: AuthFields,
}

impl<'m> Extract<'m> {
    fn span(&self, sub: &'m str) -> Span {
        // Every name handed here is a slice of `self.msg`: its offset is the address difference.
        let start = (sub.as_ptr() as usize).wrapping_sub(self.msg.as_ptr() as usize);
        debug_assert!(start + sub.len() <= self.msg.len());
        // Messages longer than 4 GiB do not reach here (lines are capped at 64 KiB); if one
        // did, the span would point nowhere and `Record::user` would answer `None`.
        let clamp = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Span {
            start: clamp(start),
            end: clamp(start + sub.len()),
        }
    }

    fn user(&mut self, name: &'m str) {
        self.out.user = Some(self.span(name));
    }

    fn target(&mut self, name: &'m str) {
        self.out.target_user = Some(self.span(name));
    }

    fn sshd(&mut self, msg: &'m str) {
        let m = match msg.as_bytes().first() {
            Some(b'e') => msg.strip_prefix("error: ").unwrap_or(msg),
            Some(b'f') => msg.strip_prefix("fatal: ").unwrap_or(msg),
            _ => msg,
        };
        // Dispatch on the first byte: one comparison instead of a chain of prefix tests.
        match m.as_bytes().first() {
            Some(b'p') if m.starts_with("pam_") => self.pam(m),
            Some(b'F') => {
                if let Some(r) = m.strip_prefix("Failed ") {
                    self.method_for(r, Outcome::Failure);
                }
            }
            Some(b'A') => {
                if let Some(r) = m.strip_prefix("Accepted ") {
                    self.method_for(r, Outcome::Success);
                } else if let Some(r) = m.strip_prefix("Address ") {
                    // `IP maps to HOST, but this does not map back to the address - …`
                    if let Some(i) = find(r, " maps to ") {
                        self.out.src_ip = parse_ip(&r[..i]);
                    }
                }
            }
            Some(b'I') => {
                if let Some(r) = m.strip_prefix("Invalid user ") {
                    self.user_from(r, Some(Outcome::InvalidUser));
                }
            }
            Some(b'C' | b'D') => {
                if let Some(r) = m
                    .strip_prefix("Connection closed by ")
                    .or_else(|| m.strip_prefix("Disconnected from "))
                    .or_else(|| m.strip_prefix("Connection reset by "))
                {
                    self.closed(r);
                } else if let Some(r) = m
                    .strip_prefix("Did not receive identification string from ")
                    .or_else(|| m.strip_prefix("Connection from "))
                {
                    self.ip_port(r);
                }
            }
            Some(b'R') => {
                if let Some(r) = m.strip_prefix("Received disconnect from ")
                    && self.ip_port(r)
                {
                    self.out.outcome = Some(Outcome::Disconnect);
                }
            }
            Some(b'm') => {
                if let Some(r) = m.strip_prefix("maximum authentication attempts exceeded for ") {
                    let r = r.strip_prefix("invalid user ").unwrap_or(r);
                    self.user_from(r, Some(Outcome::MaxAttempts));
                }
            }
            Some(b'U') => {
                if let Some(r) = m.strip_prefix("User ") {
                    if find(r, " not allowed because ").is_some() {
                        self.user_from(r, Some(Outcome::Failure));
                    }
                } else if let Some(r) = m.strip_prefix("Unable to negotiate with ") {
                    self.ip_port(r);
                }
            }
            Some(b'T' | b'b') => {
                if let Some(r) = m
                    .strip_prefix("Timeout before authentication for ")
                    .or_else(|| m.strip_prefix("banner exchange: Connection from "))
                {
                    self.ip_port(r);
                }
            }
            Some(b'B') => {
                if m.starts_with("Bad protocol version identification ")
                    && let Some(i) = rfind(m, " from ")
                {
                    self.ip_port(&m[i + 6..]);
                }
            }
            Some(b'r') => {
                // `reverse mapping checking getaddrinfo for HOST [IP] failed - POSSIBLE BREAK-IN ATTEMPT!`
                if let Some(r) = m.strip_prefix("reverse mapping checking getaddrinfo for ")
                    && let Some(i) = find(r, " [")
                    && let Some(j) = memchr::memchr(b']', &r.as_bytes()[i..])
                {
                    self.out.src_ip = parse_ip(&r[i + 2..i + j]);
                }
            }
            Some(b'i') => {
                if let Some(r) = m.strip_prefix("input_userauth_request: invalid user ") {
                    self.user(r.strip_suffix(" [preauth]").unwrap_or(r));
                }
            }
            Some(b'P') => {
                if let Some(r) = m.strip_prefix("PAM: Authentication failure for ") {
                    // `[illegal user ]NAME from HOST` (sshd's own PAM message)
                    let r = r.strip_prefix("illegal user ").unwrap_or(r);
                    if let Some(i) = rfind(r, " from ") {
                        self.user(&r[..i]);
                        self.out.src_ip = parse_ip(&r[i + 6..]);
                        self.out.outcome = Some(Outcome::Failure);
                    }
                } else if m.starts_with("PAM ")
                    && let Some(i) = find(m, " more authentication failures; ")
                {
                    // A summary of failures already logged one by one: no outcome, so they
                    // are not counted twice.
                    self.pam_kv(&m[i + " more authentication failures; ".len()..]);
                }
            }
            _ => {}
        }
    }

    /// `METHOD for [invalid user ]NAME from IP port N ssh2…` (after `Failed `/`Accepted `;
    /// methods have no spaces: `password`, `keyboard-interactive/pam`).
    fn method_for(&mut self, r: &'m str, outcome: Outcome) {
        if let Some(i) = memchr::memchr(b' ', r.as_bytes())
            && let Some(r) = r[i..].strip_prefix(" for ")
        {
            let r = r.strip_prefix("invalid user ").unwrap_or(r);
            self.user_from(r, Some(outcome));
        }
    }

    /// `NAME from IP[ port N]…`, the `from` found from the right so that names with spaces
    /// (or the word `from`) stay whole. Returns whether an address was found.
    fn user_from(&mut self, r: &'m str, outcome: Option<Outcome>) -> bool {
        let mut end = r.len();
        // An empty name (`Invalid user  from IP`) leaves ` from IP`: found at 0.
        while let Some(i) = rfind(&r[..end], " from ") {
            let after = &r[i + 6..];
            if let Some((ip, rest)) = ip_token(after) {
                self.user(&r[..i]);
                self.out.src_ip = Some(ip);
                self.out.port = port(rest);
                self.out.outcome = outcome;
                return true;
            }
            if i == 0 {
                break;
            }
            end = i;
        }
        false
    }

    /// `[authenticating user NAME |invalid user NAME |user NAME ]IP[ port N][ [preauth]]`.
    fn closed(&mut self, r: &'m str) {
        let r = r.strip_suffix(" [preauth]").unwrap_or(r);
        let r = match rfind(r, " port ") {
            Some(i) if port(&r[i..]).is_some() => {
                self.out.port = port(&r[i..]);
                &r[..i]
            }
            _ => r,
        };
        let (head, ip) = match memchr::memrchr(b' ', r.as_bytes()) {
            Some(i) => (Some(&r[..i]), &r[i + 1..]),
            None => (None, r),
        };
        let Some(ip) = parse_ip(ip) else {
            self.out.port = None;
            return;
        };
        self.out.src_ip = Some(ip);
        self.out.outcome = Some(Outcome::Disconnect);
        if let Some(h) = head {
            let name = h
                .strip_prefix("authenticating user ")
                .or_else(|| h.strip_prefix("invalid user "))
                .or_else(|| h.strip_prefix("user "));
            if let Some(name) = name {
                self.user(name);
            }
        }
    }

    /// `IP[ port N]…`; returns whether an address was found.
    fn ip_port(&mut self, r: &str) -> bool {
        match ip_token(r) {
            Some((ip, rest)) => {
                self.out.src_ip = Some(ip);
                self.out.port = port(rest);
                true
            }
            None => false,
        }
    }

    /// `pam_MODULE(SERVICE:TYPE): …`
    fn pam(&mut self, m: &'m str) {
        let Some(i) = find(m, "): ") else {
            return;
        };
        let rest = &m[i + 3..];
        if let Some(kv) = rest.strip_prefix("authentication failure; ") {
            self.pam_kv(kv);
            self.out.outcome = Some(Outcome::Failure);
        } else if let Some(r) = rest
            .strip_prefix("session opened for user ")
            .or_else(|| rest.strip_prefix("session closed for user "))
        {
            let end = memchr::memchr2(b' ', b'(', r.as_bytes()).unwrap_or(r.len());
            self.user(&r[..end]);
        }
    }

    /// `logname= uid=0 euid=0 tty=ssh ruser= rhost=IP  user=NAME`
    fn pam_kv(&mut self, kv: &'m str) {
        // Looks up the three keys it needs instead of splitting every pair. A key starts the
        // text or follows a space (`user=` is not the end of `ruser=`).
        let value = |key: &str| -> Option<&'m str> {
            let mut from = 0;
            loop {
                let i = from + find(&kv[from..], key)?;
                if i == 0 || kv.as_bytes()[i - 1] == b' ' {
                    let v = &kv[i + key.len()..];
                    return Some(&v[..v.bytes().position(|c| c == b' ').unwrap_or(v.len())]);
                }
                from = i + 1;
            }
        };
        if let Some(rhost) = value("rhost=").filter(|v| !v.is_empty()) {
            self.out.src_ip = parse_ip(rhost);
        }
        let ruser = value("ruser=").unwrap_or_default();
        let user = value("user=");
        if !ruser.is_empty() {
            self.user(ruser);
            if let Some(u) = user {
                self.target(u);
            }
        } else if let Some(u) = user {
            self.user(u);
        }
    }

    /// `NAME : [REASON ; ]TTY=… ; PWD=… ; USER=… ; COMMAND=…`
    fn sudo(&mut self, m: &'m str) {
        if m.starts_with("pam_") {
            return self.pam(m);
        }
        let Some((who, rest)) = m.split_once(" : ") else {
            return;
        };
        if !rest.contains("TTY=") && !rest.contains("COMMAND=") {
            return;
        }
        self.user(who.trim());
        let mut segments = rest.split(" ; ");
        let first = segments.next().unwrap_or_default();
        let is_key = |s: &str| {
            ["TTY=", "PWD=", "USER=", "GROUP=", "ENV=", "COMMAND="]
                .iter()
                .any(|k| s.starts_with(k))
        };
        // A leading segment that is not KEY=VALUE is the reason for a refusal.
        self.out.outcome = Some(if is_key(first) {
            Outcome::Success
        } else {
            Outcome::Failure
        });
        if let Some(u) = std::iter::once(first)
            .chain(segments)
            .find_map(|s| s.strip_prefix("USER="))
        {
            self.target(u);
        }
    }

    fn su(&mut self, m: &'m str) {
        if m.starts_with("pam_") {
            return self.pam(m);
        }
        // util-linux: `FAILED SU (to root) bob on pts/0`, `(to root) bob on pts/0`
        let (r, outcome) = match m.strip_prefix("FAILED SU ") {
            Some(r) => (r, Outcome::Failure),
            None => (m, Outcome::Success),
        };
        if let Some(r) = r.strip_prefix("(to ")
            && let Some((target, r)) = r.split_once(") ")
        {
            let who = r.rsplit_once(" on ").map_or(r, |(w, _)| w);
            self.user(who);
            self.target(target);
            self.out.outcome = Some(outcome);
            return;
        }
        // shadow-utils: `Successful su for root by bob`, `FAILED su for root by bob`,
        // and the older `+ pts/0 bob:root` / `- pts/0 bob:root`.
        let (r, outcome) = if let Some(r) = m.strip_prefix("Successful su for ") {
            (r, Outcome::Success)
        } else if let Some(r) = m.strip_prefix("FAILED su for ") {
            (r, Outcome::Failure)
        } else {
            let (r, outcome) = if let Some(r) = m.strip_prefix("+ ") {
                (r, Outcome::Success)
            } else if let Some(r) = m.strip_prefix("- ") {
                (r, Outcome::Failure)
            } else {
                return;
            };
            if let Some((_tty, pair)) = r.split_once(' ')
                && let Some((who, target)) = pair.split_once(':')
            {
                self.user(who);
                self.target(target);
                self.out.outcome = Some(outcome);
            }
            return;
        };
        if let Some((target, who)) = r.split_once(" by ") {
            self.user(who);
            self.target(target);
            self.out.outcome = Some(outcome);
        }
    }
}

/// An address: IPv4 or IPv6, optionally in brackets or with a `%zone`; IPv4-mapped IPv6 is
/// returned as IPv4 so that both spellings of one client group together.
fn parse_ip(s: &str) -> Option<IpAddr> {
    if let Some(v4) = parse_ipv4(s.as_bytes()) {
        return Some(IpAddr::V4(v4));
    }
    let s = s
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(s);
    let s = s.split_once('%').map_or(s, |(a, _)| a);
    if s.len() < 2 || !(s.as_bytes()[0].is_ascii_hexdigit() || s.as_bytes()[0] == b':') {
        return None;
    }
    s.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// Dotted-quad IPv4 (the common case, about three times faster than the general parser):
/// four decimal octets of 1-3 digits, at most 255, without leading zeros (as `Ipv4Addr`'s
/// parser, which rejects `010.0.0.1` rather than guessing octal).
fn parse_ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let (mut i, mut v, mut digits) = (0, 0u32, 0);
    for &c in b {
        match c {
            b'0'..=b'9' if digits < 3 && !(digits == 1 && v == 0) => {
                v = v * 10 + u32::from(c - b'0');
                digits += 1;
            }
            b'.' if digits > 0 && i < 3 => {
                octets[i] = u8::try_from(v).ok()?;
                (i, v, digits) = (i + 1, 0, 0);
            }
            _ => return None,
        }
    }
    if i != 3 || digits == 0 {
        return None;
    }
    octets[3] = u8::try_from(v).ok()?;
    Some(Ipv4Addr::from(octets))
}

/// Position of the first `needle` in `h`. `str::find` sets up a Two-Way searcher per call,
/// which costs more than the search itself on a log message; this scans with `memchr` for the
/// needle's first non-space byte (spaces are everywhere) and compares.
fn find(h: &str, needle: &str) -> Option<usize> {
    let (hb, nb) = (h.as_bytes(), needle.as_bytes());
    let k = nb.iter().position(|&c| c != b' ')?;
    let mut from = k;
    while let Some(j) = memchr::memchr(nb[k], hb.get(from..)?) {
        let start = from + j - k;
        if same(hb.get(start..)?, nb) {
            return Some(start);
        }
        from += j + 1;
    }
    None
}

/// Whether `h` starts with `needle`: a plain loop, as needles are a few bytes and a `memcmp`
/// call costs more than the comparison.
fn same(h: &[u8], needle: &[u8]) -> bool {
    h.len() >= needle.len() && h.iter().zip(needle).all(|(a, b)| a == b)
}

/// Position of the last `needle` in `h` (see [`find`]).
fn rfind(h: &str, needle: &str) -> Option<usize> {
    let (hb, nb) = (h.as_bytes(), needle.as_bytes());
    let k = nb.iter().position(|&c| c != b' ')?;
    let mut end = hb.len().checked_sub(nb.len() - k - 1)?;
    while let Some(j) = memchr::memrchr(nb[k], &hb[..end]) {
        if let Some(start) = j.checked_sub(k)
            && same(&hb[start..], nb)
        {
            return Some(start);
        }
        end = j;
    }
    None
}

/// The address at the start of `s` (up to a space; a trailing `:` or `,` is punctuation), and
/// what follows it.
fn ip_token(s: &str) -> Option<(IpAddr, &str)> {
    let end = s.bytes().position(|c| c == b' ').unwrap_or(s.len());
    let tok = &s[..end];
    let bare = tok.strip_suffix([':', ',']);
    // IPv4 first, with its punctuation already off: the general parser is slow to fail.
    if let Some(v4) = parse_ipv4(bare.unwrap_or(tok).as_bytes()) {
        return Some((IpAddr::V4(v4), &s[end..]));
    }
    let ip = parse_ip(tok).or_else(|| parse_ip(bare?))?;
    Some((ip, &s[end..]))
}

/// ` port N` at the start of `s`.
fn port(s: &str) -> Option<u16> {
    let r = s.strip_prefix(" port ")?;
    let end = r
        .bytes()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(r.len());
    r[..end].parse().ok()
}
