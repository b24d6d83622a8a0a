//! Field extraction from authentication messages: remote address, port, user names and the
//! outcome, for sshd (also `sshd-session`/`sshd-auth`, OpenSSH ≥ 9.8), sudo, su, and PAM
//! `pam_*(service:type)` lines of any program.
//!
//! Runs only when the app is one of those or the message starts with `pam_`; postfix smtpd,
//! dovecot, proftpd, and the vsftpd / MySQL shapes of any line are read by `service.rs`. Matching is by message prefix and substring search, never by
//! regex. Every extracted name is a slice of the message (kept as a `Span`); user names may be
//! empty or contain spaces (`Invalid user  from …`, `Invalid user a b from …`), so the address
//! is located from the right.

use std::net::IpAddr;

use super::auth_tokens::{
    find, ip_token, key_description, last_from, opt_port_tail, parse_ip, port, port_prefix, rfind,
};
use super::record::{AuthFields, Outcome, Span};
use super::service;

/// Extracts what an auth line says. `app` is the record's program name (a path is reduced to
/// its last component).
pub(crate) fn extract(app: Option<&str>, message: &str) -> AuthFields {
    let program = app.map(|a| match a.bytes().rposition(|c| c == b'/') {
        Some(i) => &a[i + 1..],
        None => a,
    });
    let mut x = Extract {
        msg: message,
        out: AuthFields::default(),
        sshd: matches!(program, Some("sshd" | "sshd-session" | "sshd-auth")),
    };
    match program {
        Some("sshd" | "sshd-session" | "sshd-auth") => x.sshd(message),
        Some("sudo") => x.sudo(message),
        Some("su") => x.su(message),
        Some("smtpd") => service::postfix(message, &mut x.out),
        Some("dovecot") => match find(message, "pam_unix(dovecot:") {
            Some(i) => x.pam(&message[i..]),
            None => service::dovecot(message, &mut x.out),
        },
        Some("proftpd") => service::proftpd(message, &mut x.out),
        _ if message.starts_with("pam_") => x.pam(message),
        _ => service::other(message, &mut x.out),
    }
    x.out
}

/// What a line without a program says (`Format::Raw`): only the service shapes that are told by
/// their fixed text (`service::other`); no user names.
pub(crate) fn extract_raw(message: &str) -> AuthFields {
    let mut out = AuthFields::default();
    service::other(message, &mut out);
    out
}

struct Extract<'m> {
    msg: &'m str,
    out: AuthFields,
    /// The line is sshd's, which never sets PAM's `ruser` (see [`Extract::pam_kv`]).
    sshd: bool,
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
        // `error: PAM: Authentication failure for …` (auth-pam.c).
        let m = match m.strip_prefix("PAM: ") {
            Some(r) if r.starts_with(['A', 'a', 'U']) => r,
            _ => m,
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
                } else if let Some(r) = m
                    .strip_prefix("Authentication failure for ")
                    .or_else(|| m.strip_prefix("Authentication error for "))
                    .or_else(|| m.strip_prefix("Authentication failed for "))
                {
                    self.pam_for(r);
                }
            }
            Some(b'a') => {
                if let Some(r) = m
                    .strip_prefix("authentication failure for ")
                    .or_else(|| m.strip_prefix("authentication error for "))
                {
                    self.pam_for(r);
                }
            }
            Some(b'I') => {
                if let Some(r) = m.strip_prefix("Invalid user ") {
                    // `Invalid user NAME from IP port N` (`port` absent before OpenSSH 7.5).
                    self.user_from_end(r, Outcome::InvalidUser, |t| opt_port_tail(t, false));
                } else if let Some(r) = m.strip_prefix("Illegal user ") {
                    self.user_from_end(r, Outcome::InvalidUser, |t| opt_port_tail(t, false));
                }
            }
            Some(b'i') => {
                if let Some(r) = m.strip_prefix("input_userauth_request: invalid user ") {
                    self.user(r.strip_suffix(" [preauth]").unwrap_or(r));
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
                } else if let Some(r) = m.strip_prefix("Disconnecting ") {
                    self.user_change(r);
                }
            }
            Some(b'R') => {
                if let Some(r) = m.strip_prefix("Received disconnect from ") {
                    self.received_disconnect(r);
                } else if let Some(r) = m.strip_prefix("ROOT LOGIN REFUSED FROM ") {
                    // auth.c: `ROOT LOGIN REFUSED FROM %.200s port %d`.
                    if let Some((ip, rest)) = ip_token(r)
                        && let Some(p) = opt_port_tail(rest, false)
                    {
                        self.out.src_ip = Some(ip);
                        self.out.port = p;
                        self.out.outcome = Some(Outcome::Failure);
                    }
                }
            }
            Some(b'm') => {
                if let Some(r) = m.strip_prefix("maximum authentication attempts exceeded for ") {
                    let r = r.strip_prefix("invalid user ").unwrap_or(r);
                    self.user_from_end(r, Outcome::MaxAttempts, |t| opt_port_tail(t, true));
                }
            }
            Some(b'U') => {
                // `User NAME from HOST not allowed because REASON` first: the reason is sshd's
                // own and ends the line, while NAME is the account's and may itself begin like
                // the PAM message (found by the `log_auth` fuzz target). A PAM line ends with
                // the host, so it never ends with one of those reasons.
                if let Some(r) = m.strip_prefix("User ")
                    && self.user_not_allowed(r)
                {
                    // Read as sshd's own message.
                } else if let Some(r) =
                    m.strip_prefix("User not known to the underlying authentication module for ")
                {
                    self.pam_for(r);
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
                // `Bad protocol version identification 'BANNER' from IP port N`: the banner is
                // the client's, the address ends the line.
                if let Some(r) = m.strip_prefix("Bad protocol version identification ") {
                    self.addr_from_end(r, |t| opt_port_tail(t, false));
                }
            }
            Some(b'r') => {
                if let Some(r) = m.strip_prefix("reverse mapping checking getaddrinfo for ") {
                    // `… for HOST [IP] failed - POSSIBLE BREAK-IN ATTEMPT!`
                    if let Some(r) = r.strip_suffix("] failed - POSSIBLE BREAK-IN ATTEMPT!")
                        && let Some(i) = rfind(r, " [")
                    {
                        self.out.src_ip = parse_ip(&r[i + 2..]);
                    }
                } else if let Some(r) = m.strip_prefix("refused connect from ") {
                    // tcp_wrappers: `refused connect from NAME (IP)`.
                    if let Some(r) = r.strip_suffix(')')
                        && let Some(i) = rfind(r, " (")
                        && let Some(ip) = parse_ip(&r[i + 2..])
                    {
                        self.out.src_ip = Some(ip);
                        self.out.outcome = Some(Outcome::Failure);
                    }
                }
            }
            Some(b'P') => {
                // `PAM %d more authentication failure%s;` (sshd's auth-pam.c: singular for one)
                if m.starts_with("PAM ")
                    && let Some(i) = find(m, " more authentication failure")
                {
                    let rest = &m[i + " more authentication failure".len()..];
                    if let Some(kv) = rest.strip_prefix("s; ").or_else(|| rest.strip_prefix("; ")) {
                        // A summary of failures already logged one by one: no outcome, so
                        // they are not counted twice.
                        self.pam_kv(kv);
                    }
                }
            }
            _ => {}
        }
    }

    /// `METHOD for [invalid user ]NAME from IP port N ssh2[: EXTRA]` (after `Failed `/
    /// `Accepted `; auth.c `auth_log`). The name is the client's and may hold anything, ` from
    /// 1.2.3.4 port 5 ssh2` included; after the address sshd writes only ` port N ssh2` and, for
    /// public and host keys, `: TYPE FINGERPRINT` (or a certificate's description). So every
    /// ` from ` followed by an address, a port and a tail of that shape is a candidate: exactly
    /// one is taken; several (a certificate ID and a name both crafted) leave the address unset.
    fn method_for(&mut self, r: &'m str, outcome: Outcome) {
        let Some(sp) = memchr::memchr(b' ', r.as_bytes()) else {
            return;
        };
        let method = &r[..sp];
        let Some(r) = r[sp..].strip_prefix(" for ") else {
            return;
        };
        let (invalid, r) = match r.strip_prefix("invalid user ") {
            Some(r) => (true, r),
            None => (false, r),
        };
        let keyed = matches!(method, "publickey" | "hostbased");
        let tail_ok = |t: &str| -> Option<u16> {
            let (port, t) = port_prefix(t)?;
            let t = t.strip_prefix(" ssh2").unwrap_or(t);
            let t = t.strip_suffix(" [preauth]").unwrap_or(t);
            if t.is_empty() {
                return Some(port);
            }
            let extra = t.strip_prefix(": ")?;
            (keyed && key_description(extra)).then_some(port)
        };
        let mut found: Option<(usize, IpAddr, u16)> = None;
        let mut ambiguous = false;
        let mut from = 0;
        // An empty name (`for invalid user  from IP`) leaves ` from IP` at 0.
        while let Some(j) = find(&r[from..], " from ") {
            let i = from + j;
            if let Some((ip, rest)) = ip_token(&r[i + 6..])
                && let Some(port) = tail_ok(rest)
            {
                ambiguous |= found.is_some();
                found = Some((i, ip, port));
            }
            from = i + 1;
        }
        // fail2ban (normal mode) does not count `Failed publickey` for an existing user: clients
        // offer their keys one after another, and each refusal is logged.
        let outcome = match (outcome, method, invalid) {
            (Outcome::Failure, "publickey", false) => Outcome::PubkeyProbe,
            (o, ..) => o,
        };
        self.out.outcome = Some(outcome);
        if let (Some((i, ip, port)), false) = (found, ambiguous) {
            self.user(&r[..i]);
            self.out.src_ip = Some(ip);
            self.out.port = Some(port);
        }
    }

    /// `NAME from IP<tail>`: the address is the last ` from ` whose remainder is the address and
    /// a tail `tail` accepts (returning the port, if the tail has one) up to the end of the
    /// message. sshd writes the name first and only fixed text after the address, so a name
    /// holding ` from 1.2.3.4` cannot move it. Returns whether an address was found.
    fn user_from_end(
        &mut self,
        r: &'m str,
        outcome: Outcome,
        tail: impl Fn(&str) -> Option<Option<u16>>,
    ) -> bool {
        let Some((i, ip, port)) = last_from(r, &tail) else {
            return false;
        };
        self.user(&r[..i]);
        self.out.src_ip = Some(ip);
        self.out.port = port;
        self.out.outcome = Some(outcome);
        true
    }

    /// `… from IP<tail>` without a user (see [`Self::user_from_end`]).
    fn addr_from_end(&mut self, r: &str, tail: impl Fn(&str) -> Option<Option<u16>>) {
        if let Some((_, ip, port)) = last_from(r, &tail) {
            self.out.src_ip = Some(ip);
            self.out.port = port;
        }
    }

    /// `[illegal user ]NAME from HOST[ via HOST]` (auth-pam.c, after `PAM: Authentication
    /// failure for` and its variants).
    fn pam_for(&mut self, r: &'m str) {
        let r = r
            .strip_prefix("illegal user ")
            .or_else(|| r.strip_prefix("invalid user "))
            .unwrap_or(r);
        let found = self.user_from_end(r, Outcome::Failure, |t| {
            let t = t.strip_suffix(" [preauth]").unwrap_or(t);
            let t = match t.strip_prefix(" via ") {
                Some(v) if !v.is_empty() && !v.contains(' ') => "",
                _ => t,
            };
            t.is_empty().then_some(None)
        });
        if !found {
            // A host name (UseDNS): the failure still counts for the user; no address.
            self.out.outcome = Some(Outcome::Failure);
        }
    }

    /// `NAME from HOST not allowed because REASON` (auth.c `allowed_user`, fixed reasons), or
    /// `NAME not allowed because account is locked`. False when the line ends with no such
    /// reason (then it is not this message).
    fn user_not_allowed(&mut self, r: &'m str) -> bool {
        const REASONS: [&str; 5] = [
            "not listed in AllowUsers",
            "listed in DenyUsers",
            "not in any group",
            "a group is listed in DenyGroups",
            "none of user's groups are listed in AllowGroups",
        ];
        let r = r.strip_suffix(" [preauth]").unwrap_or(r);
        let Some(i) = rfind(r, " not allowed because ") else {
            return false;
        };
        let reason = &r[i + " not allowed because ".len()..];
        let head = &r[..i];
        if REASONS.contains(&reason) {
            self.user_from_end(head, Outcome::Failure, |t| t.is_empty().then_some(None));
        } else if reason == "account is locked" {
            self.user(head);
            self.out.outcome = Some(Outcome::Failure);
        } else {
            return false;
        }
        true
    }

    /// `(invalid|authenticating) user NAME IP port N: Change of username or service not
    /// allowed: (A,S) -> (B,S) [preauth]` (auth2.c): the client chose NAME, A and B, so the
    /// address is taken only when exactly one `IP port N: Change of username` occurs.
    fn user_change(&mut self, r: &'m str) {
        const MARK: &str = ": Change of username or service not allowed: ";
        let Some(body) = r
            .strip_prefix("invalid user ")
            .or_else(|| r.strip_prefix("authenticating user "))
        else {
            return;
        };
        // `… NAME IP port N: Too many authentication failures [preauth]` (OpenSSH 8+): sshd's
        // own reason, anchored at the end, so the address is the token before ` port N`.
        if let Some(head) = body
            .strip_suffix(" [preauth]")
            .unwrap_or(body)
            .strip_suffix(": Too many authentication failures")
        {
            if let Some(p) = rfind(head, " port ")
                && let Some((port, "")) = port_prefix(&head[p..])
                && let Some(s) = memchr::memrchr(b' ', &head.as_bytes()[..p])
                && let Some(ip) = parse_ip(&head[s + 1..p])
            {
                self.user(&head[..s]);
                self.out.src_ip = Some(ip);
                self.out.port = Some(port);
                self.out.outcome = Some(Outcome::MaxAttempts);
            }
            return;
        }
        let mut found = None;
        let mut count = 0;
        let mut from = 0;
        while let Some(j) = find(&body[from..], MARK) {
            let end = from + j;
            // Back from the mark: ` IP port N`.
            if let Some(p) = rfind(&body[..end], " port ")
                && let Some((port, "")) = port_prefix(&body[p..end])
                && let Some(s) = memchr::memrchr(b' ', &body.as_bytes()[..p])
                && let Some(ip) = parse_ip(&body[s + 1..p])
            {
                count += 1;
                found = Some((s, ip, port));
            }
            from = end + 1;
        }
        if let (1, Some((s, ip, port))) = (count, found) {
            self.user(&body[..s]);
            self.out.src_ip = Some(ip);
            self.out.port = Some(port);
            self.out.outcome = Some(Outcome::Failure);
        }
    }

    /// `IP port N:CODE: REASON` (packet.c; older: `IP: CODE: REASON`). The reason is the
    /// client's; the address comes first. fail2ban counts code 3 ending in `Auth fail` (JSch's
    /// failed login) and nothing else.
    fn received_disconnect(&mut self, r: &str) {
        let Some((ip, rest)) = ip_token(r) else {
            return;
        };
        let (port, rest) = match port_prefix(rest) {
            Some((p, rest)) => (Some(p), rest.strip_prefix(':')),
            // The old `IP: CODE:` form: `ip_token` took the colon with the address.
            None => (
                None,
                r[..r.len() - rest.len()].ends_with(':').then_some(rest),
            ),
        };
        let Some(rest) = rest else {
            return;
        };
        let rest = rest.trim_start_matches(' ');
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let code = &rest[..digits];
        let reason = &rest[digits..];
        let reason = reason.strip_suffix(" [preauth]").unwrap_or(reason);
        self.out.src_ip = Some(ip);
        self.out.port = port;
        self.out.outcome = Some(if code == "3" && reason.ends_with(": Auth fail") {
            Outcome::Failure
        } else {
            Outcome::Disconnect
        });
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

    /// `logname=L uid=N euid=N tty=T ruser=R rhost=H  user=U` (pam_unix), read in order:
    /// `logname`, `uid`, `euid` and `tty` are the system's; `user` may be a client's choice (sshd
    /// hands PAM the login name) and so may `ruser` for some services (rsh). So the address is
    /// the value right after the first ` ruser=VALUE`, and `user` is the rest of the line. Text
    /// holding ` rhost=` of its own makes that ambiguous: the address is then left unset —
    /// except in sshd's lines, whose `ruser` is always empty (OpenSSH never sets `PAM_RUSER`),
    /// so their first ` ruser= rhost=` is sshd's own whatever the login name holds.
    fn pam_kv(&mut self, kv: &'m str) {
        let Some(i) = find(kv, " ruser=").or_else(|| kv.starts_with("ruser=").then_some(0)) else {
            return;
        };
        let after = &kv[i + if i == 0 && kv.starts_with('r') { 6 } else { 7 }..];
        let sp = memchr::memchr(b' ', after.as_bytes()).unwrap_or(after.len());
        let ruser = &after[..sp];
        let Some(rest) = after[sp..].strip_prefix(" rhost=") else {
            return;
        };
        let sshd_own = self.sshd && ruser.is_empty();
        if !sshd_own && find(rest, " rhost=").is_some() {
            return;
        }
        let hend = memchr::memchr(b' ', rest.as_bytes()).unwrap_or(rest.len());
        let rhost = &rest[..hend];
        // pam_unix writes `rhost=%s %s%s` with ` user=NAME` or nothing: any other text after
        // the value means `ruser` held a space (and a `rhost=` of its own).
        let tail = &rest[hend..];
        let user = match tail.strip_prefix(' ') {
            None | Some("") => None,
            Some(t) => match t.strip_prefix(" user=").or_else(|| t.strip_prefix("user=")) {
                Some(u) => Some(u.trim_end_matches(' ')),
                None => return,
            },
        };
        if !rhost.is_empty() {
            self.out.src_ip = parse_ip(rhost);
        }
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
