//! Protected peers: addresses the responder never blocks on unverified (spoofable or
//! forgeable) evidence, because a forged packet or log line naming them would otherwise let an
//! outsider cut this host off from what it depends on.
//!
//! - **Established TCP peers**: remote addresses of ESTABLISHED sockets in `/proc/net/tcp` and
//!   `/proc/net/tcp6` of the daemon's network namespace, now or within `protected_peer_ttl_secs`
//!   (re-read every [`PEER_POLL`], and again at decision time when the address is not known, at
//!   most every [`MIN_REFRESH`]). Bounded at [`MAX_PEERS`] addresses; beyond that, new peers
//!   are counted, not remembered.
//! - **Servers this host queries over UDP**: connected UDP sockets (state 01 in
//!   `/proc/net/udp{,6}`) whose remote port is 53 (DNS) or 123 (NTP); chronyd and
//!   systemd-timesyncd keep such sockets to the servers they actually use.
//! - **DNS resolvers**: `nameserver` lines of `/etc/resolv.conf`.
//! - **NTP servers**: `server`/`pool`/`peer` lines of `/etc/chrony/chrony.conf`, of chrony's
//!   `sources.d/*.sources` and `conf.d/*.conf`, of `/etc/ntp.conf` and `/etc/ntpsec/ntp.conf`;
//!   `NTP=`/`FallbackNTP=` of `/etc/systemd/timesyncd.conf`. IP literals directly; host names
//!   are resolved best-effort by a background task ([`resolve_names`], a timeout per name),
//!   never on the decision path. A pool name resolves to different members than the daemon
//!   uses, which is why the connected UDP sockets above matter.
//! - **Infrastructure**: the configured `response.infrastructure` CIDRs.
//!
//! Default gateways, loopback, this host's addresses and the allowlists are never blocked at
//! all (`response.rs`, `Allowlist`), whatever the evidence.
//!
//! Every file here is hostile input: reads are bounded ([`MAX_FILE_BYTES`], [`MAX_LINES`]), a bad
//! line is an error counted per source and reported with its file and line, never fatal. The
//! paths are injectable ([`PeerFiles`]) so tests feed their own.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ironpost_core::net::Cidr;

/// How often the socket tables are re-read.
pub(crate) const PEER_POLL: Duration = Duration::from_secs(3);
/// Decision-time re-reads of the socket tables are at least this far apart.
pub(crate) const MIN_REFRESH: Duration = Duration::from_millis(200);
/// At most this many learned peers (established TCP, connected UDP servers).
pub(crate) const MAX_PEERS: usize = 65_536;
/// Largest host configuration file read.
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Largest socket table read (about 150 bytes a socket: some 400,000 sockets).
const MAX_PROC_BYTES: u64 = 64 * 1024 * 1024;
/// Most lines read from one file.
const MAX_LINES: usize = 500_000;
/// Most host names taken from the NTP configuration for resolution.
pub(crate) const MAX_NAMES: usize = 32;
/// Timeout of one name's resolution.
pub(crate) const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// Kernel socket state numbers (include/net/tcp_states.h): ESTABLISHED; a connected UDP
/// socket reports the same value.
const TCP_ESTABLISHED: u8 = 0x01;

/// What a configuration file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NtpSyntax {
    /// chrony, ntpd and ntpsec: `server|pool|peer ADDRESS [options]`.
    ServerLines,
    /// systemd-timesyncd: `NTP=` and `FallbackNTP=` with space-separated servers.
    Timesyncd,
}

/// The files protected peers come from. [`PeerFiles::system`] is the host's; tests give their own.
#[derive(Debug, Clone)]
pub(crate) struct PeerFiles {
    /// `/proc/net/tcp`-format tables (the daemon's namespace).
    pub(crate) tcp: Vec<PathBuf>,
    /// `/proc/net/udp`-format tables.
    pub(crate) udp: Vec<PathBuf>,
    pub(crate) resolv_conf: PathBuf,
    /// NTP configuration files.
    pub(crate) ntp: Vec<(PathBuf, NtpSyntax)>,
    /// Directories whose `*.sources` and `*.conf` files hold chrony `server` lines.
    pub(crate) ntp_dirs: Vec<PathBuf>,
}

impl PeerFiles {
    pub(crate) fn system() -> Self {
        PeerFiles {
            tcp: vec!["/proc/net/tcp".into(), "/proc/net/tcp6".into()],
            udp: vec!["/proc/net/udp".into(), "/proc/net/udp6".into()],
            resolv_conf: "/etc/resolv.conf".into(),
            ntp: vec![
                ("/etc/chrony/chrony.conf".into(), NtpSyntax::ServerLines),
                ("/etc/chrony.conf".into(), NtpSyntax::ServerLines),
                ("/etc/ntp.conf".into(), NtpSyntax::ServerLines),
                ("/etc/ntpsec/ntp.conf".into(), NtpSyntax::ServerLines),
                ("/etc/systemd/timesyncd.conf".into(), NtpSyntax::Timesyncd),
            ],
            ntp_dirs: vec![
                "/etc/chrony/sources.d".into(),
                "/etc/chrony/conf.d".into(),
                "/etc/systemd/timesyncd.conf.d".into(),
            ],
        }
    }
}

/// One bad line (or unreadable file) in a peer source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerError {
    /// `proc_net`, `resolv_conf` or `ntp`: the metric label.
    pub(crate) source: &'static str,
    pub(crate) path: PathBuf,
    /// 0 when the file as a whole failed.
    pub(crate) line: usize,
    pub(crate) message: String,
}

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
        }
    }
}

/// Reads at most `max` bytes of `path` line by line (lines cut at 4 KiB). Missing files are empty.
fn lines(path: &Path, max: u64, source: &'static str, errors: &mut Vec<PeerError>) -> Vec<String> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            errors.push(PeerError {
                source,
                path: path.to_owned(),
                line: 0,
                message: format!("cannot read: {e}"),
            });
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    let mut reader = BufReader::new(file.take(max));
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut reader).take(4096).read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                errors.push(PeerError {
                    source,
                    path: path.to_owned(),
                    line: out.len() + 1,
                    message: format!("cannot read: {e}"),
                });
                break;
            }
        }
        if !buf.ends_with(b"\n") && buf.len() >= 4096 {
            // Skip the rest of an overlong line in bounded pieces; its first 4 KiB stand for it
            // (and fail to parse).
            let mut rest = Vec::new();
            loop {
                rest.clear();
                match (&mut reader).take(4096).read_until(b'\n', &mut rest) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if rest.ends_with(b"\n") => break,
                    Ok(_) => {}
                }
            }
        }
        out.push(String::from_utf8_lossy(&buf).trim_end().to_owned());
        if out.len() >= MAX_LINES {
            errors.push(PeerError {
                source,
                path: path.to_owned(),
                line: out.len(),
                message: format!("more than {MAX_LINES} lines; the rest is ignored"),
            });
            break;
        }
    }
    out
}

/// Parses an address of a `/proc/net/{tcp,udp}{,6}` table: `HEX:PORT`, where the address is
/// the kernel's `%08X` of each 32-bit word as stored in memory (network byte order read as a
/// native integer; so on little-endian hosts each word's bytes appear reversed). IPv4-mapped
/// IPv6 addresses come back as IPv4, the form alerts carry.
pub(crate) fn parse_proc_addr(field: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    if !addr.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
        Some(w.to_ne_bytes())
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(b)).to_canonical()
        }
        _ => return None,
    };
    Some((ip, port))
}

/// One socket of a table: (remote address, remote port, state).
pub(crate) fn parse_proc_line(line: &str) -> Option<(IpAddr, u16, u8)> {
    let mut f = line.split_whitespace();
    let _slot = f.next()?.strip_suffix(':')?;
    let _local = parse_proc_addr(f.next()?)?;
    let (ip, port) = parse_proc_addr(f.next()?)?;
    let state = u8::from_str_radix(f.next()?, 16).ok()?;
    Some((ip, port, state))
}

/// Remote addresses in a table that match `keep(port, state)`. The header line is skipped;
/// other unparseable lines are errors.
fn read_table(
    path: &Path,
    keep: impl Fn(u16, u8) -> bool,
    out: &mut Vec<IpAddr>,
    errors: &mut Vec<PeerError>,
) {
    for (i, line) in lines(path, MAX_PROC_BYTES, "proc_net", errors)
        .iter()
        .enumerate()
    {
        if (i == 0 && line.trim_start().starts_with("sl")) || line.trim().is_empty() {
            continue;
        }
        match parse_proc_line(line) {
            Some((ip, port, state)) => {
                if keep(port, state) && !ip.is_unspecified() && !ip.is_loopback() {
                    out.push(ip);
                }
            }
            None => errors.push(PeerError {
                source: "proc_net",
                path: path.to_owned(),
                line: i + 1,
                message: "not a socket table line".into(),
            }),
        }
    }
}

/// An address literal as configuration files write it: IPv6 may carry a zone (`fe80::1%eth0`)
/// or brackets.
fn ip_literal(s: &str) -> Option<IpAddr> {
    let s = s.trim_start_matches('[').trim_end_matches(']');
    let s = s.split('%').next()?;
    s.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// Whether `s` could be a DNS name (letters, digits, `-`, `.`; 1..=253 bytes).
fn host_name(s: &str) -> bool {
    (1..=253).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && s.bytes().any(|b| b.is_ascii_alphabetic())
}

/// `nameserver` addresses of a resolv.conf.
pub(crate) fn parse_resolv_conf(
    path: &Path,
    text: &[String],
    errors: &mut Vec<PeerError>,
) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for (i, line) in text.iter().enumerate() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let mut w = line.split_whitespace();
        if w.next() != Some("nameserver") {
            continue;
        }
        match w.next().and_then(ip_literal) {
            Some(ip) => out.push(ip),
            None => errors.push(PeerError {
                source: "resolv_conf",
                path: path.to_owned(),
                line: i + 1,
                message: "nameserver without a valid IP address".into(),
            }),
        }
    }
    out
}

/// NTP servers of one file: IP literals and host names.
pub(crate) fn parse_ntp(
    path: &Path,
    syntax: NtpSyntax,
    text: &[String],
    errors: &mut Vec<PeerError>,
) -> (Vec<IpAddr>, Vec<String>) {
    let (mut ips, mut names) = (Vec::new(), Vec::new());
    let mut add = |token: &str, line: usize, errors: &mut Vec<PeerError>| {
        if let Some(ip) = ip_literal(token) {
            ips.push(ip);
        } else if host_name(token) {
            names.push(token.to_ascii_lowercase());
        } else {
            errors.push(PeerError {
                source: "ntp",
                path: path.to_owned(),
                line,
                message: format!(
                    "`{}` is neither an IP address nor a host name",
                    token.chars().take(64).collect::<String>()
                ),
            });
        }
    };
    for (i, line) in text.iter().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        match syntax {
            NtpSyntax::ServerLines => {
                let mut w = line.split_whitespace();
                if matches!(w.next(), Some("server" | "pool" | "peer")) {
                    match w.next() {
                        Some(t) => add(t, i + 1, errors),
                        None => errors.push(PeerError {
                            source: "ntp",
                            path: path.to_owned(),
                            line: i + 1,
                            message: "server line without an address".into(),
                        }),
                    }
                }
            }
            NtpSyntax::Timesyncd => {
                let Some((k, v)) = line.split_once('=') else {
                    continue;
                };
                if matches!(k.trim(), "NTP" | "FallbackNTP") {
                    for t in v.split_whitespace() {
                        add(t, i + 1, errors);
                    }
                }
            }
        }
    }
    (ips, names)
}

/// What the configuration files say: resolvers, NTP servers and names to resolve.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct HostServers {
    pub(crate) resolvers: Vec<IpAddr>,
    pub(crate) ntp: Vec<IpAddr>,
    pub(crate) ntp_names: Vec<String>,
}

/// Reads the resolver and NTP configuration.
pub(crate) fn read_host_servers(files: &PeerFiles, errors: &mut Vec<PeerError>) -> HostServers {
    let mut out = HostServers::default();
    let text = lines(&files.resolv_conf, MAX_FILE_BYTES, "resolv_conf", errors);
    out.resolvers = parse_resolv_conf(&files.resolv_conf, &text, errors);
    let mut ntp_files = files.ntp.clone();
    for dir in &files.ntp_dirs {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        // Bounded: a directory with thousands of files is not a configuration.
        let mut entries: Vec<PathBuf> = rd.flatten().take(256).map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let syntax = if dir.ends_with("timesyncd.conf.d") {
                NtpSyntax::Timesyncd
            } else {
                NtpSyntax::ServerLines
            };
            if matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("sources" | "conf")
            ) {
                ntp_files.push((p, syntax));
            }
        }
    }
    for (path, syntax) in &ntp_files {
        let text = lines(path, MAX_FILE_BYTES, "ntp", errors);
        let (ips, names) = parse_ntp(path, *syntax, &text, errors);
        out.ntp.extend(ips);
        for n in names {
            if out.ntp_names.len() < MAX_NAMES && !out.ntp_names.contains(&n) {
                out.ntp_names.push(n);
            }
        }
    }
    out
}

/// Resolves NTP host names, each within [`RESOLVE_TIMEOUT`]; names that fail are skipped.
pub(crate) async fn resolve_names(names: &[String]) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for n in names.iter().take(MAX_NAMES) {
        let lookup = tokio::net::lookup_host((n.as_str(), 123));
        if let Ok(Ok(addrs)) = tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
            out.extend(addrs.map(|a| a.ip().to_canonical()));
        }
    }
    out
}

/// The protected-peer table.
#[derive(Debug)]
pub(crate) struct Peers {
    files: PeerFiles,
    ttl: Duration,
    infrastructure: Vec<Cidr>,
    servers: HashMap<IpAddr, &'static str>,
    resolved: HashSet<IpAddr>,
    /// Learned peers and when they were last seen.
    learned: HashMap<IpAddr, (Instant, &'static str)>,
    last_read: Option<Instant>,
    /// Learned peers not remembered because the table was full (since the last take).
    pub(crate) overflow: u64,
    /// Errors of the last reads, for the caller to count and report.
    pub(crate) errors: Vec<PeerError>,
}

impl Peers {
    pub(crate) fn new(files: PeerFiles, ttl: Duration, infrastructure: Vec<Cidr>) -> Self {
        Peers {
            files,
            ttl,
            infrastructure,
            servers: HashMap::new(),
            resolved: HashSet::new(),
            learned: HashMap::new(),
            last_read: None,
            overflow: 0,
            errors: Vec::new(),
        }
    }

    /// Re-reads resolv.conf and the NTP configuration; returns the names to resolve.
    pub(crate) fn refresh_servers(&mut self) -> Vec<String> {
        let hs = read_host_servers(&self.files, &mut self.errors);
        self.servers.clear();
        for ip in hs.ntp {
            self.servers.insert(ip, "NTP server");
        }
        for ip in hs.resolvers {
            self.servers.insert(ip, "DNS resolver");
        }
        hs.ntp_names
    }

    /// Replaces the addresses resolved from NTP host names.
    pub(crate) fn set_resolved(&mut self, ips: Vec<IpAddr>) {
        self.resolved = ips.into_iter().collect();
    }

    /// Re-reads the socket tables: peers seen now are refreshed, peers not seen for longer than
    /// the TTL forgotten.
    pub(crate) fn refresh_sockets(&mut self, now: Instant) {
        self.last_read = Some(now);
        let ttl = self.ttl;
        self.learned
            .retain(|_, (seen, _)| now.saturating_duration_since(*seen) <= ttl);
        let mut tcp = Vec::new();
        for p in &self.files.tcp {
            read_table(p, |_, st| st == TCP_ESTABLISHED, &mut tcp, &mut self.errors);
        }
        let mut udp = Vec::new();
        for p in &self.files.udp {
            read_table(
                p,
                |port, st| st == TCP_ESTABLISHED && matches!(port, 53 | 123),
                &mut udp,
                &mut self.errors,
            );
        }
        let tagged = tcp
            .into_iter()
            .map(|ip| (ip, "established TCP peer"))
            .chain(udp.into_iter().map(|ip| (ip, "DNS or NTP server in use")));
        for (ip, why) in tagged {
            if self.learned.len() >= MAX_PEERS && !self.learned.contains_key(&ip) {
                self.overflow += 1;
                continue;
            }
            self.learned.insert(ip, (now, why));
        }
    }

    /// Why `ip` must not be blocked on unverified evidence, if it must not. An address not known
    /// yet triggers a fresh read of the socket tables (at most every [`MIN_REFRESH`]), so a
    /// connection opened a moment ago counts.
    pub(crate) fn protects(&mut self, ip: &IpAddr, now: Instant) -> Option<&'static str> {
        let ip = ip.to_canonical();
        if let Some(r) = self.known(&ip, now) {
            return Some(r);
        }
        if self
            .last_read
            .is_none_or(|t| now.saturating_duration_since(t) >= MIN_REFRESH)
        {
            self.refresh_sockets(now);
            return self.known(&ip, now);
        }
        None
    }

    fn known(&self, ip: &IpAddr, now: Instant) -> Option<&'static str> {
        if let Some(r) = self.servers.get(ip) {
            return Some(r);
        }
        if self.resolved.contains(ip) {
            return Some("NTP server (resolved from its host name)");
        }
        if self.infrastructure.iter().any(|c| c.contains(ip)) {
            return Some("infrastructure");
        }
        self.learned
            .get(ip)
            .filter(|(seen, _)| now.saturating_duration_since(*seen) <= self.ttl)
            .map(|(_, why)| *why)
    }

    pub(crate) fn learned_len(&self) -> usize {
        self.learned.len()
    }
}

#[cfg(test)]
#[path = "peers_tests.rs"]
mod tests;
