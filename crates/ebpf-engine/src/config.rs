//! `[ebpf]` section: interface, XDP attach mode, map sizes and static filter rules
//! (`[[ebpf.rules]]`, seed 002).

use std::collections::HashSet;

use ironpost_core::Protocol;
use ironpost_core::config::{Issues, Validate, key};
use ironpost_core::net::Cidr;
use serde::{Deserialize, Serialize};

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
            rules: Vec::new(),
        }
    }
}

/// Linux interface names are at most 15 bytes (IFNAMSIZ - 1).
const MAX_IFNAME: usize = 15;

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
        let mut cfg = EbpfConfig::default();
        cfg.ring_buffer_size = 256;
        cfg.interface = "a-very-long-interface-name".into();
        cfg.rules = vec![
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
        ];
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
