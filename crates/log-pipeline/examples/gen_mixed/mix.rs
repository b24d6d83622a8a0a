//! A deterministic mixed log corpus with ground truth: sshd, sudo, postfix/dovecot SASL (syslog,
//! RFC 3164) and nginx access lines (combined format) interleaved in time order over one day
//! (2026-11-20, 00:00 to 23:53 UTC), from attackers and benign sources with known addresses in
//! the benchmarking range 198.18.0.0/15 (benign in 198.18.0.0/16, attackers in 198.19.0.0/16).
//!
//! Each attacker is one source doing one kind of attack ([`Kind`]), shaped to cross the threshold
//! of the library rule ([`Kind::rule`], `rules/`) that detects it. Benign sources include the near
//! misses a detector must not alert on:
//!
//! - ssh users who mistype their password twice before logging in (2 failures, at most 3 such
//!   sessions a day per address: below 5 in 10 min and 20 in 24 h);
//! - a phone with a stale mail password retrying every 5-6 minutes for two hours (postfix and
//!   dovecot: at most 2 failures in any 10 minutes);
//! - web users who mistype a login once or twice (at most 3 login POSTs in 10 minutes);
//! - crawlers (Googlebot, Bingbot) fetching hundreds of valid pages in a few minutes, with a few
//!   404s;
//! - a browser on a page with a dozen broken links (12 404s in a minute, below 50);
//! - sudo users whose commands are all granted.
//!
//! Sudo abusers are local users, not addresses: the truth lists them by user name.
//! The generator is a pure function of (lines, seed): the same arguments give the same bytes.

use std::fmt::Write as _;

/// Bumped whenever the output for the same (lines, seed) changes.
pub(crate) const MIX_VERSION: u32 = 1;

/// The corpus spans [0, SPAN) seconds of that day.
const SPAN: i64 = 86_000;

/// splitmix64: small, fast, and written out here so the corpus never depends on a crate's
/// algorithm choice.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo).max(1) as u64) as i64
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// What an attacker does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// 6-12 failed ssh passwords within a few minutes.
    SshBruteForce,
    /// 22 failed ssh passwords an hour apart (never 5 in 10 minutes).
    SshSlowBruteForce,
    /// 6-10 `Invalid user` probes within a few minutes.
    SshInvalidUser,
    /// A handful of requests with a scanner's user agent.
    WebScanner,
    /// Requests for `../../etc/passwd` and the like.
    WebPathTraversal,
    /// 12-20 login POSTs within 10 minutes.
    WebLoginBruteforce,
    /// 60-90 requests for missing pages within 40 seconds.
    Web4xxBurst,
    /// 6-10 failed SASL logins at postfix within 10 minutes.
    PostfixSasl,
    /// 6-10 failed IMAP/POP3 logins at dovecot within 10 minutes.
    DovecotAuth,
    /// A local user refused by sudo (a user, not an address).
    SudoAbuse,
}

impl Kind {
    pub(crate) const ALL: [Kind; 10] = [
        Kind::SshBruteForce,
        Kind::SshSlowBruteForce,
        Kind::SshInvalidUser,
        Kind::WebScanner,
        Kind::WebPathTraversal,
        Kind::WebLoginBruteforce,
        Kind::Web4xxBurst,
        Kind::PostfixSasl,
        Kind::DovecotAuth,
        Kind::SudoAbuse,
    ];

    /// The library rule (`rules/<id>.yaml`) that must alert on this attacker.
    pub(crate) fn rule(self) -> &'static str {
        match self {
            Kind::SshBruteForce => "ssh_brute_force",
            Kind::SshSlowBruteForce => "ssh_brute_force_slow",
            Kind::SshInvalidUser => "ssh_invalid_user",
            Kind::WebScanner => "web_scanner_user_agent",
            Kind::WebPathTraversal => "web_path_traversal",
            Kind::WebLoginBruteforce => "web_login_bruteforce",
            Kind::Web4xxBurst => "web_4xx_burst",
            Kind::PostfixSasl => "postfix_sasl_failure",
            Kind::DovecotAuth => "dovecot_auth_failure",
            Kind::SudoAbuse => "sudo_failure",
        }
    }
}

/// One attacker: an address (a user name for [`Kind::SudoAbuse`]) and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attacker {
    pub(crate) source: String,
    pub(crate) kind: Kind,
}

/// Who is who in a generated corpus.
#[derive(Debug, Clone, Default)]
pub(crate) struct Truth {
    pub(crate) lines: usize,
    pub(crate) seed: u64,
    pub(crate) attackers: Vec<Attacker>,
    /// Benign addresses (every address in the corpus that is not an attacker's).
    pub(crate) benign_sources: Vec<String>,
    /// Benign sudo users.
    pub(crate) benign_users: Vec<String>,
    /// Near-miss episodes generated, by name.
    pub(crate) near_misses: Vec<(&'static str, usize)>,
}

impl Truth {
    /// The truth as JSON (for `gen_mixed`'s `.truth.json`).
    pub(crate) fn to_json(&self) -> String {
        let mut s = format!(
            "{{\"version\":{MIX_VERSION},\"lines\":{},\"seed\":{},\"attackers\":[",
            self.lines, self.seed
        );
        for (i, a) in self.attackers.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(
                s,
                "{sep}{{\"source\":\"{}\",\"kind\":\"{:?}\",\"rule\":\"{}\"}}",
                a.source,
                a.kind,
                a.kind.rule()
            );
        }
        let list = |v: &[String]| {
            v.iter()
                .map(|x| format!("\"{x}\""))
                .collect::<Vec<_>>()
                .join(",")
        };
        let _ = write!(
            s,
            "],\"benign_sources\":[{}],\"benign_users\":[{}],\"near_misses\":{{{}}}}}",
            list(&self.benign_sources),
            list(&self.benign_users),
            self.near_misses
                .iter()
                .map(|(k, n)| format!("\"{k}\":{n}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        s
    }
}

const MONTH_DAY: &str = "Nov 20";
const WEB_DATE: &str = "20/Nov/2026";

fn hms(t: i64) -> String {
    format!("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
}

fn benign_ip(i: usize) -> String {
    format!("198.18.{}.{}", i / 250, i % 250 + 1)
}

fn attacker_ip(i: usize) -> String {
    format!("198.19.{}.{}", i / 250, i % 250 + 1)
}

const USERS: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];
const GUESSES: &[&str] = &[
    "root", "admin", "test", "oracle", "ubuntu", "git", "postgres", "pi",
];
const PAGES: &[&str] = &[
    "/",
    "/about",
    "/blog/",
    "/blog/2026/11/release-notes",
    "/docs/install",
    "/docs/config",
    "/pricing",
    "/contact",
    "/static/app.js",
    "/static/style.css",
    "/img/logo.png",
    "/feed.xml",
    "/search?q=firewall",
    "/products/ironpost",
    "/careers",
    "/blog/page/2",
];
const MISSING: &[&str] = &[
    "/admin.php",
    "/.env",
    "/backup.zip",
    "/wp-admin/setup-config.php",
    "/config.json",
    "/phpmyadmin/",
    "/.git/config",
    "/old/index.php",
    "/db.sql",
    "/server-status",
    "/test.php",
    "/shell.php",
    "/admin/",
    "/.aws/credentials",
    "/info.php",
];
const BROWSERS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
];
const CRAWLERS: &[&str] = &[
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
];
const SCANNERS: &[&str] = &[
    "sqlmap/1.7.2#stable (https://sqlmap.org)",
    "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000003)",
    "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
    "WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)",
];
const TRAVERSALS: &[&str] = &[
    "/download?file=../../../../etc/passwd",
    "/static/..%2f..%2f..%2fetc%2fshadow",
    "/index.php?page=....//....//etc/passwd",
    "/cgi-bin/.%2e/.%2e/.%2e/etc/passwd",
];

struct Gen {
    rng: Rng,
    /// (second of the day, order of creation, line).
    events: Vec<(i64, u64, String)>,
    seq: u64,
}

impl Gen {
    fn push(&mut self, t: i64, line: String) {
        self.seq += 1;
        self.events.push((t.clamp(0, SPAN - 1), self.seq, line));
    }

    fn pid(&mut self) -> i64 {
        self.rng.range(1000, 60000)
    }

    fn port(&mut self) -> i64 {
        self.rng.range(32768, 61000)
    }

    fn syslog(&mut self, t: i64, host: &str, prog: &str, msg: &str) {
        let pid = self.pid();
        let line = format!("{MONTH_DAY} {} {host} {prog}[{pid}]: {msg}", hms(t));
        self.push(t, line);
    }

    fn web(&mut self, t: i64, ip: &str, method: &str, path: &str, status: u16, ua: &str) {
        let bytes = if status == 304 {
            0
        } else {
            self.rng.range(150, 40_000)
        };
        let line = format!(
            "{ip} - - [{WEB_DATE}:{} +0000] \"{method} {path} HTTP/1.1\" {status} {bytes} \"-\" \"{ua}\"",
            hms(t)
        );
        self.push(t, line);
    }

    fn ssh_fail(&mut self, t: i64, user: &str, ip: &str) {
        let port = self.port();
        self.syslog(
            t,
            "gw",
            "sshd",
            &format!("Failed password for {user} from {ip} port {port} ssh2"),
        );
    }

    /// A benign ssh login (after `mistypes` failed passwords), session and logout.
    fn ssh_session(&mut self, t: i64, user: &str, ip: &str, mistypes: usize) {
        let mut t = t;
        for _ in 0..mistypes {
            self.ssh_fail(t, user, ip);
            t += self.rng.range(3, 12);
        }
        let port = self.port();
        let how = if mistypes > 0 || self.rng.chance(30) {
            format!("Accepted password for {user} from {ip} port {port} ssh2")
        } else {
            format!(
                "Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 SHA256:Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4"
            )
        };
        self.syslog(t, "gw", "sshd", &how);
        self.syslog(
            t,
            "gw",
            "sshd",
            &format!("pam_unix(sshd:session): session opened for user {user}(uid=1000) by (uid=0)"),
        );
        let end = t + self.rng.range(30, 3000);
        self.syslog(
            end,
            "gw",
            "sshd",
            &format!("Received disconnect from {ip} port {port}:11: disconnected by user"),
        );
        self.syslog(
            end,
            "gw",
            "sshd",
            &format!("pam_unix(sshd:session): session closed for user {user}"),
        );
    }

    fn postfix_fail(&mut self, t: i64, ip: &str) {
        self.syslog(
            t,
            "mx",
            "postfix/submission/smtpd",
            &format!("warning: unknown[{ip}]: SASL LOGIN authentication failed: UGFzc3dvcmQ6"),
        );
    }

    fn dovecot_fail(&mut self, t: i64, ip: &str, user: &str) {
        let session = self.rng.next() % 1_000_000_000;
        let line = format!(
            "{MONTH_DAY} {} mx dovecot: imap-login: Disconnected (auth failed, 1 attempts in 4 secs): user=<{user}>, method=PLAIN, rip={ip}, lip=192.0.2.25, TLS, session=<s{session}>",
            hms(t)
        );
        self.push(t, line);
    }

    fn mail_ok(&mut self, t: i64, ip: &str, user: &str) {
        let id = self.rng.next() % 0xFFFFF;
        self.syslog(
            t,
            "mx",
            "postfix/submission/smtpd",
            &format!("connect from unknown[{ip}]"),
        );
        self.syslog(
            t + 1,
            "mx",
            "postfix/submission/smtpd",
            &format!("{id:05X}: client=unknown[{ip}], sasl_method=PLAIN, sasl_username={user}"),
        );
        self.syslog(t + 2, "mx", "postfix/submission/smtpd", &format!("disconnect from unknown[{ip}] ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=8"));
        let session = self.rng.next() % 1_000_000_000;
        let line = format!(
            "{MONTH_DAY} {} mx dovecot: imap-login: Login: user=<{user}>, method=PLAIN, rip={ip}, lip=192.0.2.25, mpid={}, TLS, session=<s{session}>",
            hms(t + 3),
            self.rng.range(1000, 60000)
        );
        self.push(t + 3, line);
    }

    fn sudo_ok(&mut self, t: i64, user: &str) {
        let cmd = *self.rng.pick(&[
            "/usr/bin/apt update",
            "/usr/bin/systemctl restart nginx",
            "/usr/bin/journalctl -u ssh",
            "/bin/cat /var/log/syslog",
        ]);
        self.syslog(
            t,
            "gw",
            "sudo",
            &format!("   {user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; COMMAND={cmd}"),
        );
        self.syslog(
            t,
            "gw",
            "sudo",
            &format!(
                "pam_unix(sudo:session): session opened for user root(uid=0) by {user}(uid=1000)"
            ),
        );
    }

    /// One benign background line at a random time: a page view, a cron run, a mail delivery.
    fn background(&mut self, benign: usize) {
        let t = self.rng.range(0, SPAN);
        let ip = benign_ip(self.rng.range(0, benign as i64) as usize);
        match self.rng.next() % 20 {
            0 => {
                let msg = "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)";
                self.syslog(t, "gw", "CRON", msg);
            }
            1 => {
                let id = self.rng.next() % 0xFFFFF;
                self.syslog(
                    t,
                    "mx",
                    "postfix/qmgr",
                    &format!(
                        "{id:05X}: from=<news@example.org>, size=4211, nrcpt=1 (queue active)"
                    ),
                );
            }
            2 => {
                let ua = *self.rng.pick(BROWSERS);
                self.web(t, &ip, "GET", "/img/logo.png", 304, ua);
            }
            3 if self.rng.chance(10) => {
                // An occasional missing favicon.
                let ua = *self.rng.pick(BROWSERS);
                self.web(t, &ip, "GET", "/favicon.ico", 404, ua);
            }
            _ => {
                let (ua, page) = (*self.rng.pick(BROWSERS), *self.rng.pick(PAGES));
                self.web(t, &ip, "GET", page, 200, ua);
            }
        }
    }
}

/// Generates about `lines` lines (exactly `lines` once they exceed what the attackers and the
/// near misses need; at least 20,000 make sense) with `seed`, in time order; and the truth.
pub(crate) fn generate(lines: usize, seed: u64) -> (Vec<String>, Truth) {
    let mut g = Gen {
        rng: Rng(seed ^ 0x1f0c_57a1_d00d_f00d),
        events: Vec::with_capacity(lines + 1024),
        seq: 0,
    };
    let per_kind = (lines / 40_000).max(4);
    let benign = (lines / 500).clamp(40, 5000);
    let mut truth = Truth {
        lines,
        seed,
        ..Truth::default()
    };
    // Attackers, spread over the day so no rule raises more than a few alerts a minute (the
    // per-rule rate limit is 60).
    let mut next_ip = 0;
    for kind in Kind::ALL {
        for i in 0..per_kind {
            let start = g.rng.range(0, SPAN - 4000);
            let source = if kind == Kind::SudoAbuse {
                format!("intruder{i}")
            } else {
                next_ip += 1;
                attacker_ip(next_ip)
            };
            attack(&mut g, kind, start, &source);
            truth.attackers.push(Attacker { source, kind });
        }
    }
    // Benign structured behaviour.
    let mut mistypers = 0;
    for i in 0..benign {
        let ip = benign_ip(i);
        let user = USERS[i % USERS.len()];
        match i % 5 {
            // ssh users: 6 sessions a day, the first 2 with two mistyped passwords for some.
            0 => {
                for s in 0..6 {
                    let t = g.rng.range(s * 14_000, (s + 1) * 14_000 - 3000);
                    let mistypes = if s < 2 && i % 10 == 0 { 2 } else { 0 };
                    mistypers += usize::from(mistypes > 0);
                    g.ssh_session(t, user, &ip, mistypes);
                }
            }
            // Mail users: a few deliveries and logins.
            1 => {
                for _ in 0..4 {
                    let t = g.rng.range(0, SPAN - 10);
                    g.mail_ok(t, &ip, user);
                }
            }
            // Web users logging in, a third of them mistyping once or twice.
            2 => {
                let t = g.rng.range(0, SPAN - 600);
                let tries = 1 + (i / 5) % 3;
                for k in 0..tries {
                    let ua = BROWSERS[k % BROWSERS.len()];
                    g.web(t + k as i64 * 20, &ip, "POST", "/wp-login.php", 200, ua);
                }
                g.web(t + 70, &ip, "GET", "/wp-admin/", 200, BROWSERS[0]);
            }
            _ => {}
        }
    }
    truth
        .near_misses
        .push(("ssh_user_mistyping_twice", mistypers));
    truth
        .near_misses
        .push(("web_login_mistyped", benign / 5 * 2 / 3));
    // Crawlers: hundreds of valid pages in a few minutes, a few missing.
    let crawlers = (benign / 100).max(2);
    for c in 0..crawlers {
        let ip = benign_ip(benign + c);
        let ua = CRAWLERS[c % CRAWLERS.len()];
        for round in 0..4 {
            let t0 = g.rng.range(round * 20_000, (round + 1) * 20_000 - 600);
            for k in 0..300 {
                let page = *g.rng.pick(PAGES);
                let status = if k % 40 == 39 { 404 } else { 200 };
                g.web(t0 + k / 2, &ip, "GET", page, status, ua);
            }
        }
    }
    truth
        .near_misses
        .push(("crawler_burst_of_valid_pages", crawlers * 4));
    // A page with a dozen broken links, viewed now and then.
    let broken = (benign / 100).max(2);
    for b in 0..broken {
        let ip = benign_ip(benign + crawlers + b);
        let t = g.rng.range(0, SPAN - 60);
        g.web(t, &ip, "GET", "/blog/old-post", 200, BROWSERS[1]);
        for k in 0..12 {
            g.web(
                t + 1 + k / 4,
                &ip,
                "GET",
                &format!("/img/old/{k}.jpg"),
                404,
                BROWSERS[1],
            );
        }
    }
    truth.near_misses.push(("page_with_broken_links", broken));
    // Phones with a stale mail password: a failure every 5-6 minutes for two hours, at postfix
    // and dovecot in turn.
    let phones = (benign / 200).max(2);
    for p in 0..phones {
        let ip = benign_ip(benign + crawlers + broken + p);
        let mut t = g.rng.range(0, SPAN - 8000);
        for k in 0..22 {
            if k % 2 == 0 {
                g.postfix_fail(t, &ip);
            } else {
                g.dovecot_fail(t, &ip, USERS[p % USERS.len()]);
            }
            t += g.rng.range(300, 360);
        }
    }
    truth
        .near_misses
        .push(("phone_with_stale_mail_password", phones));
    // Sudo users whose commands are granted.
    for u in USERS {
        for _ in 0..6 {
            let t = g.rng.range(0, SPAN);
            g.sudo_ok(t, u);
        }
        truth.benign_users.push((*u).to_owned());
    }
    let used = benign + crawlers + broken + phones;
    truth.benign_sources = (0..used).map(benign_ip).collect();
    // Fill up to `lines` with background traffic of the first `benign` addresses.
    while g.events.len() < lines {
        g.background(benign);
    }
    g.events.sort_unstable_by_key(|(t, seq, _)| (*t, *seq));
    let out = g.events.into_iter().map(|(_, _, l)| l).collect();
    (out, truth)
}

fn attack(g: &mut Gen, kind: Kind, start: i64, source: &str) {
    let mut t = start;
    match kind {
        Kind::SshBruteForce => {
            for _ in 0..g.rng.range(6, 13) {
                let user = *g.rng.pick(GUESSES);
                g.ssh_fail(t, user, source);
                t += g.rng.range(2, 20);
            }
        }
        Kind::SshSlowBruteForce => {
            let mut t = g.rng.range(0, 3000);
            for _ in 0..22 {
                let user = *g.rng.pick(GUESSES);
                g.ssh_fail(t, user, source);
                t += g.rng.range(3500, 3700);
            }
        }
        Kind::SshInvalidUser => {
            for _ in 0..g.rng.range(6, 11) {
                let (user, port) = (*g.rng.pick(GUESSES), g.port());
                g.syslog(
                    t,
                    "gw",
                    "sshd",
                    &format!("Invalid user {user}x from {source} port {port}"),
                );
                t += g.rng.range(2, 30);
            }
        }
        Kind::WebScanner => {
            let ua = *g.rng.pick(SCANNERS);
            for _ in 0..g.rng.range(3, 9) {
                let path = *g.rng.pick(PAGES);
                g.web(t, source, "GET", path, 200, ua);
                t += g.rng.range(1, 5);
            }
        }
        Kind::WebPathTraversal => {
            for _ in 0..g.rng.range(1, 4) {
                let path = *g.rng.pick(TRAVERSALS);
                g.web(t, source, "GET", path, 400, "curl/8.5.0");
                t += g.rng.range(1, 10);
            }
        }
        Kind::WebLoginBruteforce => {
            for _ in 0..g.rng.range(12, 21) {
                g.web(
                    t,
                    source,
                    "POST",
                    "/wp-login.php",
                    200,
                    "python-requests/2.31.0",
                );
                t += g.rng.range(5, 25);
            }
        }
        Kind::Web4xxBurst => {
            for k in 0..g.rng.range(60, 91) {
                let path = *g.rng.pick(MISSING);
                g.web(t + k / 3, source, "GET", path, 404, "Mozilla/5.0");
            }
        }
        Kind::PostfixSasl => {
            for _ in 0..g.rng.range(6, 11) {
                g.postfix_fail(t, source);
                t += g.rng.range(5, 50);
            }
        }
        Kind::DovecotAuth => {
            for _ in 0..g.rng.range(6, 11) {
                let user = *g.rng.pick(GUESSES);
                g.dovecot_fail(t, source, user);
                t += g.rng.range(5, 50);
            }
        }
        Kind::SudoAbuse => {
            let msg = if g.rng.chance(50) {
                format!(
                    "   {source} : user NOT in sudoers ; TTY=pts/3 ; PWD=/tmp ; USER=root ; COMMAND=/bin/bash"
                )
            } else {
                format!(
                    "   {source} : 3 incorrect password attempts ; TTY=pts/3 ; PWD=/tmp ; USER=root ; COMMAND=/bin/sh"
                )
            };
            g.syslog(t, "gw", "sudo", &msg);
        }
    }
}
