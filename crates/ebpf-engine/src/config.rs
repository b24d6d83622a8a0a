//! `[ebpf]` section: interface, XDP attach mode, map sizes, static filter rules
//! (`[[ebpf.rules]]`, seed 002) and the network detectors (`[ebpf.syn_flood]`,
//! `[ebpf.port_scan]`).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use ironpost_core::Protocol;
use ironpost_core::config::{Issues, Validate, key, secs};
use ironpost_core::net::Cidr;
use serde::{Deserialize, Serialize};

use crate::maps::{ALLOWLIST_MAX_ENTRIES, MAX_MATCH_RULES};
use crate::rules;

/// How the XDP program is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpMode {
    /// In the driver: fastest; the NIC driver must support XDP.
    Native,
    /// Generic (skb) mode: works on every interface, veth included.
    #[default]
    Skb,
    /// Offloaded to the NIC (SmartNICs only).
    Hw,
}

/// What a filter rule does with matching packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    Drop,
    /// Pass, and report the packet as a `PacketEvent`.
    Monitor,
}

/// One `[[ebpf.rules]]` entry. Read through [`RawFilterRule`] so that a bad address, port or
/// protocol is reported with the rule's `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawFilterRule")]
pub struct FilterRule {
    pub id: String,
    #[serde(default)]
    pub description: String,
    /// Source address or CIDR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_ip: Option<Cidr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_ip: Option<Cidr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
    /// `tcp`, `udp`, `icmp`, `icmpv6` or an IP protocol number (seed 002 writes `protocol = 6`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    pub action: RuleAction,
}

/// A protocol written as a name or an IANA number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawProtocol {
    Name(String),
    Number(i64),
}

/// `[[ebpf.rules]]` as written: values are checked in `TryFrom` so errors can name the rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilterRule {
    id: String,
    #[serde(default)]
    description: String,
    src_ip: Option<String>,
    dst_ip: Option<String>,
    dst_port: Option<i64>,
    protocol: Option<RawProtocol>,
    action: String,
}

impl TryFrom<RawFilterRule> for FilterRule {
    type Error = String;

    fn try_from(r: RawFilterRule) -> Result<Self, String> {
        let id = r.id;
        let bad = |field: &str, msg: String| format!("rule `{id}`: {field}: {msg}");
        let cidr = |field: &str, v: Option<String>| {
            v.map(|t| {
                t.parse::<Cidr>()
                    .map_err(|e| bad(field, format!("{e} (expected an IP address or CIDR)")))
            })
            .transpose()
        };
        let src_ip = cidr("src_ip", r.src_ip)?;
        let dst_ip = cidr("dst_ip", r.dst_ip)?;
        let dst_port = r
            .dst_port
            .map(|p| {
                u16::try_from(p)
                    .map_err(|_| bad("dst_port", format!("{p} is not a port (0-65535)")))
            })
            .transpose()?;
        let protocol = r
            .protocol
            .map(|p| match p {
                RawProtocol::Name(n) => n
                    .parse::<Protocol>()
                    .map_err(|e| bad("protocol", e.to_string())),
                RawProtocol::Number(n) => {
                    u8::try_from(n).map(Protocol::from_number).map_err(|_| {
                        bad(
                            "protocol",
                            format!("{n} is not an IP protocol number (0-255)"),
                        )
                    })
                }
            })
            .transpose()?;
        let action = match r.action.as_str() {
            "drop" => RuleAction::Drop,
            "monitor" => RuleAction::Monitor,
            other => return Err(bad("action", format!("`{other}` is not drop or monitor"))),
        };
        Ok(FilterRule {
            id,
            description: r.description,
            src_ip,
            dst_ip,
            dst_port,
            protocol,
            action,
        })
    }
}

/// `[ebpf.syn_flood]`: SYN flood detection per destination address, from the kernel's
/// per-destination TCP counters (see [`crate::SynFloodDetector`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SynFloodConfig {
    pub enabled: bool,
    /// Sliding window over which SYNs are counted. It is also the alert cooldown: at most one
    /// alert per destination per window.
    #[serde(rename = "window_secs", with = "secs")]
    pub window: Duration,
    /// SYNs without ACK to one destination within the window that raise an alert (together
    /// with `ratio`).
    pub threshold: u64,
    /// Share of SYN-only segments among all TCP segments to the destination within the window,
    /// in (0, 1], at or above which the SYNs count as a flood (a busy server that completes its
    /// handshakes stays near 0.1–0.3).
    pub ratio: f64,
    /// Destinations whose window is kept at once; beyond it the least recently active one is
    /// forgotten (counted as evicted).
    pub max_tracked: usize,
}

impl Default for SynFloodConfig {
    fn default() -> Self {
        SynFloodConfig {
            enabled: true,
            window: Duration::from_secs(10),
            threshold: 100,
            ratio: 0.8,
            max_tracked: 10_000,
        }
    }
}

/// `[ebpf.port_scan]`: distinct destination ports per source address within a window (see
/// [`crate::PortScanDetector`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortScanConfig {
    pub enabled: bool,
    /// Sliding window over which distinct ports are counted; also the alert cooldown: at most
    /// one alert per source per window.
    #[serde(rename = "window_secs", with = "secs")]
    pub window: Duration,
    /// Distinct destination ports probed by one source within the window that raise an alert.
    pub port_threshold: u16,
    /// Sources whose ports are kept at once; beyond it the least recently active one is
    /// forgotten (counted as evicted).
    pub max_tracked: usize,
}

impl Default for PortScanConfig {
    fn default() -> Self {
        PortScanConfig {
            enabled: true,
            window: Duration::from_secs(60),
            port_threshold: 20,
            max_tracked: 10_000,
        }
    }
}

/// Longest detector window.
const MAX_WINDOW: Duration = Duration::from_secs(3600);
/// Largest `max_tracked` of a detector.
pub const MAX_TRACKED: usize = 1_000_000;
/// Largest `port_threshold`: a source keeps up to this many ports, checked linearly per event.
pub const MAX_PORT_THRESHOLD: u16 = 1024;

fn check_window(window: Duration, at: String, issues: &mut Issues) {
    if window < Duration::from_secs(1) || window > MAX_WINDOW {
        issues.push(
            at,
            format!(
                "{} s must be between 1 and {} seconds",
                window.as_secs(),
                MAX_WINDOW.as_secs()
            ),
        );
    }
}

fn check_max_tracked(n: usize, at: String, issues: &mut Issues) {
    if !(1..=MAX_TRACKED).contains(&n) {
        issues.push(at, format!("{n} must be between 1 and {MAX_TRACKED}"));
    }
}

impl Validate for SynFloodConfig {
    fn validate(&self, prefix: &str, issues: &mut Issues) {
        check_window(self.window, key(prefix, "window_secs"), issues);
        if !(1..=1_000_000_000).contains(&self.threshold) {
            issues.push(
                key(prefix, "threshold"),
                format!("{} must be between 1 and 1000000000", self.threshold),
            );
        }
        // `!(x > 0.0)` also rejects NaN.
        if !(self.ratio > 0.0 && self.ratio <= 1.0) {
            issues.push(
                key(prefix, "ratio"),
                format!("{} must be in (0, 1], e.g. 0.8", self.ratio),
            );
        }
        check_max_tracked(self.max_tracked, key(prefix, "max_tracked"), issues);
    }
}

impl Validate for PortScanConfig {
    fn validate(&self, prefix: &str, issues: &mut Issues) {
        check_window(self.window, key(prefix, "window_secs"), issues);
        if !(2..=MAX_PORT_THRESHOLD).contains(&self.port_threshold) {
            issues.push(
                key(prefix, "port_threshold"),
                format!(
                    "{} must be between 2 and {MAX_PORT_THRESHOLD}",
                    self.port_threshold
                ),
            );
        }
        check_max_tracked(self.max_tracked, key(prefix, "max_tracked"), issues);
    }
}

/// `[ebpf]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EbpfConfig {
    pub enabled: bool,
    /// Interface the XDP program is attached to.
    pub interface: String,
    /// More interfaces the same program watches, in the same `xdp_mode`, with the same
    /// blocklists, rules, counters and detectors (e.g. a container's host-side veth, whose
    /// traffic to its neighbours crosses a Docker bridge and never reaches `interface`). Each is
    /// attached when it exists and re-attached within a second when it appears again; these
    /// attachments are never pinned: they end with the daemon. At most 16, distinct from
    /// `interface`.
    pub extra_interfaces: Vec<String>,
    pub xdp_mode: XdpMode,
    /// Size in bytes of the ring buffer carrying packet events to userspace (power of two, ≥ 4096).
    pub ring_buffer_size: u32,
    /// Capacity of each blocklist map (IPv4 and IPv6).
    pub blocklist_max_entries: u32,
    /// Source addresses or CIDRs that are always passed, even when a blocklist entry or a rule
    /// matches them (at most 1024 per address family).
    pub allowlist: Vec<Cidr>,
    /// A directory on a bpffs mount under which the XDP link and the blocklist, allowlist and
    /// hit-counter maps are pinned, in `<pin_path>/<interface>/`, so that the program keeps
    /// dropping blocked sources (TTLs enforced by the kernel) while the daemon is stopped,
    /// killed or upgraded; the next daemon adopts them. Empty (`""`): nothing is pinned and the
    /// program lives as long as the daemon. When the path is not on a bpffs mount (or the kernel
    /// lacks XDP links, < 5.9) the daemon attaches unpinned and says so in its health.
    #[serde(
        default = "default_pin_path",
        deserialize_with = "pin_path_de",
        serialize_with = "pin_path_ser"
    )]
    pub pin_path: Option<PathBuf>,
    /// On a clean stop: `false` leaves the pinned program attached and enforcing (an upgrade
    /// or restart has no gap); `true` detaches it and removes its pins (the host is left
    /// without Ironpost's filter). Without pinning the program is always detached at stop.
    pub detach_on_stop: bool,
    /// Packet events the kernel may send per second, per CPU (token bucket refill rate), so that
    /// a flood cannot starve userspace. Suppressed events are counted.
    pub events_per_second: u32,
    /// Token bucket capacity: events that may be sent in a burst, per CPU.
    pub events_burst: u32,
    pub syn_flood: SynFloodConfig,
    pub port_scan: PortScanConfig,
    pub rules: Vec<FilterRule>,
}

impl Default for EbpfConfig {
    fn default() -> Self {
        EbpfConfig {
            enabled: false,
            interface: "eth0".into(),
            extra_interfaces: Vec::new(),
            xdp_mode: XdpMode::Skb,
            ring_buffer_size: 256 * 1024,
            blocklist_max_entries: 10_000,
            allowlist: Vec::new(),
            pin_path: default_pin_path(),
            detach_on_stop: false,
            events_per_second: 1_000,
            events_burst: 1_000,
            syn_flood: SynFloodConfig::default(),
            port_scan: PortScanConfig::default(),
            rules: Vec::new(),
        }
    }
}

/// The default `pin_path`.
pub const DEFAULT_PIN_PATH: &str = "/sys/fs/bpf/ironpost";

fn default_pin_path() -> Option<PathBuf> {
    Some(PathBuf::from(DEFAULT_PIN_PATH))
}

/// `pin_path = ""` turns pinning off.
fn pin_path_de<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let p = PathBuf::deserialize(d)?;
    Ok((!p.as_os_str().is_empty()).then_some(p))
}

fn pin_path_ser<S: serde::Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    p.as_deref()
        .unwrap_or(std::path::Path::new(""))
        .serialize(s)
}

impl EbpfConfig {
    /// Where this interface's link and maps are pinned: `<pin_path>/<interface>`.
    pub fn pin_dir(&self) -> Option<PathBuf> {
        self.pin_path
            .as_ref()
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| p.join(&self.interface))
    }
}

/// Linux interface names are at most 15 bytes (IFNAMSIZ - 1).
const MAX_IFNAME: usize = 15;
/// At most this many `extra_interfaces`.
pub const MAX_EXTRA_INTERFACES: usize = 16;

fn is_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_IFNAME
        && !name.contains(['/', ' ', ':'])
        && name != "."
        && name != ".."
}
/// Upper bound of `events_per_second` and `events_burst`; keeps the kernel's token arithmetic
/// (nano-tokens in a u64) far from overflow.
pub const MAX_EVENT_RATE: u32 = 1_000_000;

impl Validate for EbpfConfig {
    fn validate(&self, prefix: &str, issues: &mut Issues) {
        if !is_ifname(&self.interface) {
            issues.push(
                key(prefix, "interface"),
                "must be a Linux interface name (1-15 bytes, no `/`, `:` or space)",
            );
        }
        if self.extra_interfaces.len() > MAX_EXTRA_INTERFACES {
            issues.push(
                key(prefix, "extra_interfaces"),
                format!(
                    "{} interfaces: at most {MAX_EXTRA_INTERFACES}",
                    self.extra_interfaces.len()
                ),
            );
        }
        let mut seen = HashSet::new();
        for (i, name) in self.extra_interfaces.iter().enumerate() {
            let at = format!("{}[{i}]", key(prefix, "extra_interfaces"));
            if !is_ifname(name) {
                issues.push(
                    at,
                    format!(
                        "`{name}` must be a Linux interface name (1-15 bytes, no `/`, `:` or space)"
                    ),
                );
            } else if *name == self.interface {
                issues.push(at, format!("`{name}` is already `interface`"));
            } else if !seen.insert(name.as_str()) {
                issues.push(at, format!("`{name}` is listed twice"));
            }
        }
        let rb = self.ring_buffer_size;
        if rb < 4096 || !rb.is_power_of_two() || rb > (1 << 30) {
            issues.push(
                key(prefix, "ring_buffer_size"),
                format!(
                    "{rb} must be a power of two between 4096 and 1073741824 bytes (e.g. 262144)"
                ),
            );
        }
        if !(1..=10_000_000).contains(&self.blocklist_max_entries) {
            issues.push(
                key(prefix, "blocklist_max_entries"),
                "must be between 1 and 10000000",
            );
        }
        for (name, v) in [
            ("events_per_second", self.events_per_second),
            ("events_burst", self.events_burst),
        ] {
            if !(1..=MAX_EVENT_RATE).contains(&v) {
                issues.push(
                    key(prefix, name),
                    format!("{v} must be between 1 and {MAX_EVENT_RATE}"),
                );
            }
        }
        // Empty: pinning off (what an empty IRONPOST_EBPF_PIN_PATH says too).
        if let Some(p) = &self.pin_path
            && !p.as_os_str().is_empty()
            && !p.is_absolute()
        {
            issues.push(
                key(prefix, "pin_path"),
                format!(
                    "`{}` must be an absolute path on a bpffs mount (e.g. /sys/fs/bpf/ironpost)",
                    p.display()
                ),
            );
        }
        for v4 in [true, false] {
            let n = self
                .allowlist
                .iter()
                .filter(|c| c.0.addr().is_ipv4() == v4)
                .count();
            if n > ALLOWLIST_MAX_ENTRIES as usize {
                issues.push(
                    key(prefix, "allowlist"),
                    format!(
                        "{n} IPv{} entries: at most {ALLOWLIST_MAX_ENTRIES} per address family",
                        if v4 { 4 } else { 6 }
                    ),
                );
            }
        }
        self.syn_flood.validate(&key(prefix, "syn_flood"), issues);
        self.port_scan.validate(&key(prefix, "port_scan"), issues);
        let match_rules = self
            .rules
            .iter()
            .filter(|r| !rules::is_source_only(r))
            .count();
        if match_rules > MAX_MATCH_RULES {
            issues.push(
                key(prefix, "rules"),
                format!(
                    "{match_rules} rules use dst_ip, dst_port or protocol: at most {MAX_MATCH_RULES} \
                     (rules with only src_ip have no such limit)"
                ),
            );
        }
        let mut ids = HashSet::new();
        for (i, r) in self.rules.iter().enumerate() {
            let at = |field: &str| format!("{}[{i}].{field}", key(prefix, "rules"));
            if r.id.trim().is_empty() {
                issues.push(at("id"), "must not be empty");
            } else if !ids.insert(r.id.as_str()) {
                issues.push(at("id"), format!("duplicate rule id `{}`", r.id));
            }
            if r.src_ip.is_none()
                && r.dst_ip.is_none()
                && r.dst_port.is_none()
                && r.protocol.is_none()
            {
                issues.push(
                    format!("{}[{i}]", key(prefix, "rules")),
                    "matches every packet: set at least one of src_ip, dst_ip, dst_port, protocol",
                );
            }
            if r.dst_port.is_some()
                && !matches!(r.protocol, None | Some(Protocol::Tcp) | Some(Protocol::Udp))
            {
                issues.push(at("dst_port"), "needs protocol tcp or udp (or none)");
            }
            if let (Some(s), Some(d)) = (r.src_ip, r.dst_ip)
                && s.0.addr().is_ipv4() != d.0.addr().is_ipv4()
            {
                issues.push(
                    at("dst_ip"),
                    "mixes IPv4 and IPv6 with src_ip: the rule could never match",
                );
            }
        }
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
