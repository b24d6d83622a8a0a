//! `[ebpf]` section: interface, XDP attach mode, map sizes and static filter rules
//! (`[[ebpf.rules]]`, seed 002).

use std::collections::HashSet;
use std::path::PathBuf;

use ironpost_core::Protocol;
use ironpost_core::config::{Issues, Validate, key};
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

/// One `[[ebpf.rules]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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

/// `[ebpf]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EbpfConfig {
    pub enabled: bool,
    /// Interface the XDP program is attached to.
    pub interface: String,
    pub xdp_mode: XdpMode,
    /// Size in bytes of the ring buffer carrying packet events to userspace (power of two, ≥ 4096).
    pub ring_buffer_size: u32,
    /// Capacity of each blocklist map (IPv4 and IPv6).
    pub blocklist_max_entries: u32,
    /// Source addresses or CIDRs that are always passed, even when a blocklist entry or a rule
    /// matches them (at most 1024 per address family).
    pub allowlist: Vec<Cidr>,
    /// A directory on a bpffs mount (e.g. `/sys/fs/bpf/ironpost`) where the blocklist, allowlist
    /// and hit-counter maps are pinned, so that blocks survive a daemon restart. Unset: the maps
    /// live as long as the daemon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_path: Option<PathBuf>,
    /// Packet events the kernel may send per second, per CPU (token bucket refill rate), so that
    /// a flood cannot starve userspace. Suppressed events are counted.
    pub events_per_second: u32,
    /// Token bucket capacity: events that may be sent in a burst, per CPU.
    pub events_burst: u32,
    pub rules: Vec<FilterRule>,
}

impl Default for EbpfConfig {
    fn default() -> Self {
        EbpfConfig {
            enabled: false,
            interface: "eth0".into(),
            xdp_mode: XdpMode::Skb,
            ring_buffer_size: 256 * 1024,
            blocklist_max_entries: 10_000,
            allowlist: Vec::new(),
            pin_path: None,
            events_per_second: 1_000,
            events_burst: 1_000,
            rules: Vec::new(),
        }
    }
}

/// Linux interface names are at most 15 bytes (IFNAMSIZ - 1).
const MAX_IFNAME: usize = 15;
/// Upper bound of `events_per_second` and `events_burst`; keeps the kernel's token arithmetic
/// (nano-tokens in a u64) far from overflow.
pub const MAX_EVENT_RATE: u32 = 1_000_000;

impl Validate for EbpfConfig {
    fn validate(&self, prefix: &str, issues: &mut Issues) {
        if self.interface.is_empty()
            || self.interface.len() > MAX_IFNAME
            || self.interface.contains(['/', ' '])
        {
            issues.push(
                key(prefix, "interface"),
                "must be a Linux interface name (1-15 bytes, no `/` or space)",
            );
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
        if let Some(p) = &self.pin_path
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
mod tests {
    use super::*;

    fn issues(cfg: &EbpfConfig) -> Vec<String> {
        let mut i = Issues::default();
        cfg.validate("ebpf", &mut i);
        i.into_vec()
            .into_iter()
            .map(|i| format!("{}: {}", i.key, i.message))
            .collect()
    }

    #[test]
    fn seed_002_rules_load() {
        let cfg: EbpfConfig = toml::from_str(
            r#"
enabled = true
interface = "eth0"
xdp_mode = "native"
ring_buffer_size = 262144
blocklist_max_entries = 10000

[[rules]]
id = "block_scanner"
description = "Block port scanner"
src_ip = "10.0.0.1"
action = "drop"

[[rules]]
id = "monitor_ssh"
description = "Monitor SSH traffic"
dst_port = 22
protocol = 6  # TCP
action = "monitor"
"#,
        )
        .unwrap();
        assert_eq!(cfg.xdp_mode, XdpMode::Native);
        assert_eq!(cfg.rules[1].protocol, Some(Protocol::Tcp));
        assert_eq!(cfg.rules[0].src_ip.unwrap().to_string(), "10.0.0.1");
        assert!(issues(&cfg).is_empty(), "{:?}", issues(&cfg));
    }

    #[test]
    fn rejects_dangerous_or_impossible_rules() {
        let cfg = EbpfConfig {
            ring_buffer_size: 256,
            interface: "a-very-long-interface-name".into(),
            rules: vec![
                FilterRule {
                    id: "all".into(),
                    description: String::new(),
                    src_ip: None,
                    dst_ip: None,
                    dst_port: None,
                    protocol: None,
                    action: RuleAction::Drop,
                },
                FilterRule {
                    id: "all".into(),
                    description: String::new(),
                    src_ip: None,
                    dst_ip: None,
                    dst_port: Some(22),
                    protocol: Some(Protocol::Icmp),
                    action: RuleAction::Drop,
                },
            ],
            ..EbpfConfig::default()
        };
        let got = issues(&cfg);
        for needle in [
            "ebpf.ring_buffer_size",
            "ebpf.interface",
            "ebpf.rules[0]: matches every packet",
            "ebpf.rules[1].id: duplicate",
            "ebpf.rules[1].dst_port",
        ] {
            assert!(
                got.iter().any(|g| g.starts_with(needle)),
                "{needle} not in {got:#?}"
            );
        }
    }

    #[test]
    fn kernel_knobs_load_and_are_checked() {
        let cfg: EbpfConfig = toml::from_str(
            r#"
allowlist = ["192.0.2.0/24", "2001:db8::1"]
pin_path = "/sys/fs/bpf/ironpost"
events_per_second = 50
events_burst = 200
"#,
        )
        .unwrap();
        assert_eq!(cfg.allowlist.len(), 2);
        assert_eq!(
            cfg.pin_path.as_deref(),
            Some(std::path::Path::new("/sys/fs/bpf/ironpost"))
        );
        assert!(issues(&cfg).is_empty(), "{:?}", issues(&cfg));

        let mut bad = EbpfConfig {
            pin_path: Some("relative/dir".into()),
            events_per_second: 0,
            events_burst: MAX_EVENT_RATE + 1,
            ..EbpfConfig::default()
        };
        bad.rules = (0..=MAX_MATCH_RULES)
            .map(|i| FilterRule {
                id: format!("r{i}"),
                description: String::new(),
                src_ip: None,
                dst_ip: None,
                dst_port: Some(1000 + i as u16),
                protocol: Some(Protocol::Tcp),
                action: RuleAction::Monitor,
            })
            .collect();
        let got = issues(&bad);
        for needle in [
            "ebpf.pin_path",
            "ebpf.events_per_second",
            "ebpf.events_burst",
            "ebpf.rules: 65 rules use dst_ip",
        ] {
            assert!(
                got.iter().any(|g| g.starts_with(needle)),
                "{needle} not in {got:#?}"
            );
        }
        // Source-only rules live in the LPM blocklist and are not limited to 64.
        bad.rules.iter_mut().for_each(|r| {
            r.src_ip = Some("10.0.0.1".parse().unwrap());
            r.dst_port = None;
            r.protocol = None;
        });
        assert!(!issues(&bad).iter().any(|g| g.starts_with("ebpf.rules:")));
    }

    #[test]
    fn xdp_mode_is_an_enum() {
        let err = toml::from_str::<EbpfConfig>("xdp_mode = \"turbo\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("native") && err.contains("skb") && err.contains("hw"),
            "{err}"
        );
    }
}
