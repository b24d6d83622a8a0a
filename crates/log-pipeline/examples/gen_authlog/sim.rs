//! The simulation behind `gen_authlog`: one internet-facing sshd, its attackers and its users,
//! as a deterministic event stream (same seed, same bytes), rendered line for line in four
//! formats, plus the ground truth computed from the events themselves (not from the text).
//!
//! Also compiled into the log-pipeline parser tests (`tests/parse/corpus.rs`) through
//! `#[path]` (with `vocab.rs`), so the tests and the benchmarks read the same generator.
//!
//! Actors (each an independent process in simulated time; their sessions interleave):
//! - brute-force attackers: campaigns (mean 2.5 h) separated by idle spells (mean 5 h); in a
//!   campaign, connection after connection against one existing account, up to `MaxAuthTries`
//!   (6) password guesses each, 1-3 s apart;
//! - dictionary attackers: campaigns of connections every 3-9 s, each trying a name from a
//!   wordlist (mostly nonexistent accounts, some system accounts outside `AllowUsers`);
//! - scanners: thousands of addresses, a few of them coming back often, that grab the banner,
//!   fail key exchange, time out or try one user name;
//! - legitimate users: a handful of people and one backup job, each from their own addresses,
//!   by public key or password, with the odd mistyped password, and sessions that last.
//!
//! Every address comes from ranges reserved for benchmarking and documentation (198.18.0.0/15,
//! RFC 2544; 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, RFC 5737; 2001:db8::/32, RFC 3849):
//! the corpus names no real host. Time is kept in milliseconds and rendered to the second; the
//! ground truth uses the rendered seconds, as anything reading the text must.
//!
//! The random source is xoshiro256** seeded through splitmix64, written out here, so that the
//! output depends on nothing but this file, `vocab.rs` and the seed.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

#[path = "vocab.rs"]
mod vocab;
#[path = "write.rs"]
mod write;

use vocab::{BRUTE_TARGETS, Class, Kind, NOT_ALLOWED, RDNS, USERS, WORDLIST};
pub(crate) use write::generate;

/// Names this generator in the truth file (a cache written by another tool is not ours).
pub(crate) const GENERATOR: &str = "ironpost gen_authlog";
/// Changes whenever the same seed would give different output.
pub(crate) const GENERATOR_VERSION: u64 = 1;
/// 2026-11-03T21:47:13Z: a single-digit day, so RFC 3164 stamps are space-padded (`Nov  3`).
const START_MS: u64 = 1_793_742_433_000;
const HOST: &str = "bastion";
/// fail2ban's sshd defaults: `maxretry` 5 within `findtime` 600 s.
const MAX_RETRY: usize = 5;
const FIND_TIME_SECS: u64 = 600;

const SEC: u64 = 1000;
const MIN: u64 = 60 * SEC;
const HOUR: u64 = 60 * MIN;

/// The output formats, line for line the same events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `/var/log/auth.log` as rsyslog writes it: RFC 3164 without `<PRI>`.
    Rfc3164,
    /// RFC 3164 as sent over the wire, with `<PRI>`.
    Rfc3164Pri,
    /// RFC 5424; the line's address (if any) in SD `[meta source_ip="…"]`, else NIL SD.
    Rfc5424,
    /// One JSON object per line (`timestamp`, `host`, `process`, `pid`, `level`, `message`,
    /// `source_ip` when the line names an address).
    Jsonl,
}

impl Format {
    pub(crate) const ALL: [Format; 4] = [
        Format::Rfc3164,
        Format::Rfc3164Pri,
        Format::Rfc5424,
        Format::Jsonl,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Rfc3164 => "rfc3164",
            Format::Rfc3164Pri => "rfc3164pri",
            Format::Rfc5424 => "rfc5424",
            Format::Jsonl => "jsonl",
        }
    }

    /// Appended to the base path.
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Format::Rfc3164 => ".log",
            Format::Rfc3164Pri => ".pri.log",
            Format::Rfc5424 => ".rfc5424.log",
            Format::Jsonl => ".jsonl",
        }
    }
}

/// `BASE` + `suffix`.
pub(crate) fn with_suffix(base: &Path, suffix: &str) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// xoshiro256** (Blackman and Vigna), seeded by splitmix64.
struct Rng([u64; 4]);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let out = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform in `0..n` (multiply-shift; the bias is below 2^-40 for the sizes used here).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Exponentially distributed delay with the given mean.
    fn exp(&mut self, mean_ms: u64) -> u64 {
        (-(mean_ms as f64) * (1.0 - self.unit()).ln()) as u64
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[derive(Debug)]
struct Line {
    kind: Kind,
    class: Class,
    pid: u32,
    message: String,
    /// The address the line names, which a reader should extract (`None`: it names none).
    ip: Option<IpAddr>,
}

/// A line waiting for its time; ordered by (time, sequence) so that equal times keep the
/// order in which the session produced them.
#[derive(Debug)]
struct Pending {
    at: u64,
    seq: u64,
    line: Line,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Debug)]
enum Actor {
    Brute {
        ip: IpAddr,
        campaign_end: u64,
        user: &'static str,
    },
    Dictionary {
        ip: IpAddr,
        campaign_end: u64,
    },
    /// Poisson arrivals of one-attempt invalid-user connections from the scanner pool.
    ScannerLogin,
    /// Poisson arrivals of pre-authentication noise from the scanner pool.
    ScannerNoise,
    /// Poisson arrivals of logins, each by a random user from one of their addresses.
    Users,
}

/// One session being written: its lines are queued with absolute times.
struct Session<'s> {
    sim: &'s mut Sim,
    class: Class,
    pid: u32,
    at: u64,
}

impl Session<'_> {
    /// Queues a line `delay` ms after the previous one.
    fn line(&mut self, delay: u64, kind: Kind, ip: Option<IpAddr>, message: String) {
        self.at += delay;
        self.sim.seq += 1;
        self.sim.pending.push(Reverse(Pending {
            at: self.at,
            seq: self.sim.seq,
            line: Line {
                kind,
                class: self.class,
                pid: self.pid,
                message,
                ip,
            },
        }));
    }

    fn rng(&mut self) -> &mut Rng {
        &mut self.sim.rng
    }
}

struct Sim {
    rng: Rng,
    pid: u32,
    seq: u64,
    pending: BinaryHeap<Reverse<Pending>>,
    scanners: Vec<IpAddr>,
    user_ips: Vec<Vec<IpAddr>>,
    user_keys: Vec<String>,
}

impl Sim {
    fn session(&mut self, class: Class, at: u64) -> Session<'_> {
        // PIDs climb by a few per connection (other processes take some) and wrap as Linux's do.
        self.pid += self.rng.range(1, 7) as u32;
        if self.pid > 32_767 {
            self.pid = 300 + self.pid % 1000;
        }
        let pid = self.pid;
        Session {
            sim: self,
            class,
            pid,
            at,
        }
    }

    fn port(&mut self) -> u64 {
        self.rng.range(32_768, 60_999)
    }

    /// A new distinct address in 198.18.0.0/15, or (for some scanners) 2001:db8::/32.
    fn attacker_ip(&mut self, seen: &mut HashSet<IpAddr>, v6: bool) -> IpAddr {
        loop {
            let ip = if v6 {
                let low = self.rng.next_u64();
                let segs = [
                    0x2001,
                    0x0db8,
                    self.rng.below(0x1_0000) as u16,
                    self.rng.below(0x1_0000) as u16,
                    0,
                    0,
                    (low >> 16) as u16,
                    (low as u16) | 1,
                ];
                IpAddr::V6(Ipv6Addr::from(segs))
            } else {
                let host = self.rng.below(1 << 17) as u32;
                IpAddr::V4(Ipv4Addr::from(0xC612_0000 | host))
            };
            // Skip network and broadcast-looking addresses: nobody connects from x.x.x.0/255.
            let edge = matches!(ip, IpAddr::V4(v4) if matches!(v4.octets()[3], 0 | 255));
            if !edge && seen.insert(ip) {
                return ip;
            }
        }
    }

    fn reverse_name(&mut self, ip: IpAddr) -> String {
        let label = ip.to_string().replace(['.', ':'], "-");
        format!("{label}.{}", self.rng.pick(RDNS))
    }

    /// Up to six guesses at one existing account (`MaxAuthTries 6`).
    fn brute_connection(&mut self, at: u64, ip: IpAddr, user: &str) -> u64 {
        let port = self.port();
        let guesses = if self.rng.chance(0.75) {
            6
        } else {
            self.rng.range(1, 5)
        };
        let mut s = self.session(Class::Brute, at);
        let first = s.rng().range(300, 1200);
        s.line(
            first,
            Kind::PamAuthFailure,
            Some(ip),
            format!("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user={user}"),
        );
        for _ in 0..guesses {
            let d = s.rng().range(1000, 3000);
            s.line(
                d,
                Kind::FailedPassword,
                Some(ip),
                format!("Failed password for {user} from {ip} port {port} ssh2"),
            );
        }
        if guesses == 6 {
            s.line(
                5,
                Kind::MaxAuthExceeded,
                Some(ip),
                format!("error: maximum authentication attempts exceeded for {user} from {ip} port {port} ssh2 [preauth]"),
            );
            // OpenSSH before 8.0 wording; the newer one names user and address
            // (`Disconnecting authenticating user root IP port N: …`).
            s.line(
                0,
                Kind::TooManyFailures,
                None,
                "Disconnecting: Too many authentication failures [preauth]".into(),
            );
        } else {
            let d = s.rng().range(100, 900);
            s.line(
                d,
                Kind::ConnectionClosed,
                Some(ip),
                format!(
                    "Connection closed by authenticating user {user} {ip} port {port} [preauth]"
                ),
            );
        }
        // The summary of the failures after the first; only the plural wording is produced
        // (PAM writes "1 more authentication failure;" for two guesses).
        if guesses >= 3 {
            s.line(
                0,
                Kind::PamMoreFailures,
                Some(ip),
                format!("PAM {} more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user={user}", guesses - 1),
            );
        }
        if guesses == 6 {
            s.line(
                0,
                Kind::PamIgnoringMaxRetries,
                None,
                "PAM service(sshd) ignoring max retries; 6 > 3".into(),
            );
        }
        s.at
    }

    /// One connection trying one name from the wordlist with 1-3 passwords.
    fn invalid_user_connection(&mut self, class: Class, at: u64, ip: IpAddr, tries: u64) -> u64 {
        let port = self.port();
        let user = *self.rng.pick(WORDLIST);
        let rdns = match self.rng.below(10) {
            0 => Some(true),
            1 => Some(false),
            _ => None,
        };
        let name = self.reverse_name(ip);
        let mut s = self.session(class, at);
        match rdns {
            Some(true) => s.line(
                0,
                Kind::ReverseMapping,
                Some(ip),
                format!("reverse mapping checking getaddrinfo for {name} [{ip}] failed - POSSIBLE BREAK-IN ATTEMPT!"),
            ),
            Some(false) => s.line(
                0,
                Kind::AddressMapsTo,
                Some(ip),
                format!("Address {ip} maps to {name}, but this does not map back to the address - POSSIBLE BREAK-IN ATTEMPT!"),
            ),
            None => {}
        }
        let d = s.rng().range(50, 400);
        if NOT_ALLOWED.contains(&user) {
            s.line(
                d,
                Kind::UserNotAllowed,
                Some(ip),
                format!("User {user} from {ip} not allowed because not listed in AllowUsers"),
            );
        } else {
            s.line(
                d,
                Kind::InvalidUser,
                Some(ip),
                format!("Invalid user {user} from {ip} port {port}"),
            );
        }
        s.line(
            0,
            Kind::InputUserauthInvalid,
            None,
            format!("input_userauth_request: invalid user {user} [preauth]"),
        );
        for k in 0..tries {
            if k == 0 {
                let d = s.rng().range(10, 200);
                s.line(
                    d,
                    Kind::CheckPassUnknown,
                    None,
                    "pam_unix(sshd:auth): check pass; user unknown".into(),
                );
                s.line(
                    0,
                    Kind::PamAuthFailure,
                    Some(ip),
                    format!("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip} "),
                );
            }
            let d = s.rng().range(1500, 3500);
            s.line(
                d,
                Kind::FailedPasswordInvalid,
                Some(ip),
                format!("Failed password for invalid user {user} from {ip} port {port} ssh2"),
            );
        }
        let d = s.rng().range(100, 1000);
        match s.rng().below(20) {
            0..=9 => {
                s.line(
                    d,
                    Kind::ReceivedDisconnect,
                    Some(ip),
                    format!("Received disconnect from {ip} port {port}:11: Bye Bye [preauth]"),
                );
                s.line(
                    0,
                    Kind::Disconnected,
                    Some(ip),
                    format!("Disconnected from invalid user {user} {ip} port {port} [preauth]"),
                );
            }
            10..=16 => s.line(
                d,
                Kind::ConnectionClosed,
                Some(ip),
                format!("Connection closed by invalid user {user} {ip} port {port} [preauth]"),
            ),
            _ => s.line(
                d,
                Kind::ConnectionReset,
                Some(ip),
                format!("Connection reset by invalid user {user} {ip} port {port} [preauth]"),
            ),
        }
        s.at
    }

    /// Pre-authentication noise: banner grabs, protocol probes, old clients, timeouts.
    fn scanner_noise(&mut self, at: u64, ip: IpAddr) {
        let port = self.rng.range(1024, 65_535);
        let mut s = self.session(Class::Scanner, at);
        match s.rng().below(16) {
            0..=3 => s.line(
                0,
                Kind::NoIdentification,
                Some(ip),
                format!("Did not receive identification string from {ip} port {port}"),
            ),
            4..=6 => {
                s.line(
                    0,
                    Kind::KexClosed,
                    None,
                    "error: kex_exchange_identification: Connection closed by remote host".into(),
                );
                s.line(
                    0,
                    Kind::ConnectionClosed,
                    Some(ip),
                    format!("Connection closed by {ip} port {port}"),
                );
            }
            7 | 8 => {
                s.line(
                    0,
                    Kind::KexInvalidIdentifier,
                    None,
                    "error: kex_exchange_identification: client sent invalid protocol identifier \"GET / HTTP/1.1\"".into(),
                );
                s.line(
                    0,
                    Kind::BannerExchange,
                    Some(ip),
                    format!("banner exchange: Connection from {ip} port {port}: invalid format"),
                );
            }
            9 => s.line(
                0,
                Kind::BadProtocol,
                Some(ip),
                format!("Bad protocol version identification 'SSH-1.5-Server' from {ip} port {port}"),
            ),
            10 | 11 => s.line(
                0,
                Kind::NoMatchingKex,
                Some(ip),
                format!("Unable to negotiate with {ip} port {port}: no matching key exchange method found. Their offer: diffie-hellman-group14-sha1,diffie-hellman-group-exchange-sha1,diffie-hellman-group1-sha1 [preauth]"),
            ),
            12 => s.line(
                0,
                Kind::NoMatchingHostKey,
                Some(ip),
                format!("Unable to negotiate with {ip} port {port}: no matching host key type found. Their offer: ssh-rsa,ssh-dss [preauth]"),
            ),
            13 => {
                let d = s.rng().range(119_000, 120_000);
                s.line(
                    d,
                    Kind::Timeout,
                    Some(ip),
                    format!("Timeout before authentication for {ip} port {port}"),
                );
            }
            14 => s.line(
                0,
                Kind::ConnectionReset,
                Some(ip),
                format!("Connection reset by {ip} port {port} [preauth]"),
            ),
            _ => {
                let d = s.rng().range(200, 2000);
                s.line(
                    d,
                    Kind::ConnectionClosed,
                    Some(ip),
                    format!("Connection closed by {ip} port {port} [preauth]"),
                );
            }
        }
    }

    /// A login by a legitimate user from one of their addresses, its session and logout.
    fn user_login(&mut self, at: u64) {
        let u = self.rng.below(USERS.len() as u64) as usize;
        let (user, uid, by_key) = USERS[u];
        let ip = *self.rng.pick(&self.user_ips[u]);
        let key = self.user_keys[u].clone();
        let port = self.port();
        let typo = !by_key && self.rng.chance(0.08);
        // The deploy account is a CI job: short sessions. People stay a while.
        let stay = if user == "deploy" {
            self.rng.range(5 * SEC, 90 * SEC)
        } else {
            self.rng.exp(25 * MIN)
        };
        let mut s = self.session(Class::Legitimate, at);
        if typo {
            let d = s.rng().range(2000, 6000);
            s.line(
                d,
                Kind::PamAuthFailure,
                Some(ip),
                format!("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user={user}"),
            );
            let d = s.rng().range(20, 200);
            s.line(
                d,
                Kind::FailedPassword,
                Some(ip),
                format!("Failed password for {user} from {ip} port {port} ssh2"),
            );
        }
        if by_key {
            let d = s.rng().range(150, 900);
            s.line(
                d,
                Kind::AcceptedPublickey,
                Some(ip),
                format!(
                    "Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 SHA256:{key}"
                ),
            );
        } else {
            let d = s.rng().range(2000, 8000);
            s.line(
                d,
                Kind::AcceptedPassword,
                Some(ip),
                format!("Accepted password for {user} from {ip} port {port} ssh2"),
            );
        }
        s.line(
            5,
            Kind::SessionOpened,
            None,
            format!("pam_unix(sshd:session): session opened for user {user}(uid={uid}) by (uid=0)"),
        );
        s.line(
            stay,
            Kind::ReceivedDisconnect,
            Some(ip),
            format!("Received disconnect from {ip} port {port}:11: disconnected by user"),
        );
        s.line(
            0,
            Kind::Disconnected,
            Some(ip),
            format!("Disconnected from user {user} {ip} port {port}"),
        );
        s.line(
            1,
            Kind::SessionClosed,
            None,
            format!("pam_unix(sshd:session): session closed for user {user}"),
        );
    }

    /// A scanner address: 30 % of arrivals come from the 200 busiest, the rest from all.
    fn scanner_ip(&mut self) -> IpAddr {
        let n = if self.rng.chance(0.3) {
            200
        } else {
            self.scanners.len()
        };
        self.scanners[self.rng.below(n as u64) as usize]
    }

    /// Runs `actor` at `at`: queues its session (if any) and returns when it acts next.
    fn act(&mut self, actor: &mut Actor, at: u64) -> u64 {
        match actor {
            Actor::Brute {
                ip,
                campaign_end,
                user,
            } => {
                if at >= *campaign_end {
                    let start = at + self.rng.exp(5 * HOUR);
                    *campaign_end = start + self.rng.exp(150 * MIN);
                    *user = *self.rng.pick(BRUTE_TARGETS);
                    return start;
                }
                let end = self.brute_connection(at, *ip, user);
                if self.rng.chance(0.03) {
                    *user = *self.rng.pick(BRUTE_TARGETS);
                }
                // Reconnects right away, or after a short pause.
                end + self.rng.range(500, 6000)
            }
            Actor::Dictionary { ip, campaign_end } => {
                if at >= *campaign_end {
                    let start = at + self.rng.exp(8 * HOUR);
                    *campaign_end = start + self.rng.exp(2 * HOUR);
                    return start;
                }
                let tries = self.rng.range(1, 3);
                self.invalid_user_connection(Class::Dictionary, at, *ip, tries);
                at + self.rng.range(3000, 9000)
            }
            Actor::ScannerLogin => {
                let ip = self.scanner_ip();
                self.invalid_user_connection(Class::Scanner, at, ip, 1);
                at + self.rng.exp(3 * SEC)
            }
            Actor::ScannerNoise => {
                let ip = self.scanner_ip();
                self.scanner_noise(at, ip);
                at + self.rng.exp(4 * SEC)
            }
            Actor::Users => {
                self.user_login(at);
                at + self.rng.exp(3 * MIN)
            }
        }
    }
}

/// The generator's account of what it wrote, saved as `BASE.truth.json`.
#[derive(Debug)]
pub(crate) struct Truth {
    pub(crate) json: serde_json::Value,
}
