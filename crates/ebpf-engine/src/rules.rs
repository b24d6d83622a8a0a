//! Turns `[[ebpf.rules]]` into what the kernel program evaluates.
//!
//! A rule that constrains only the source address becomes a blocklist entry (a single address in
//! its family's host hash map, a shorter prefix in its LPM trie; no limit but
//! `blocklist_max_entries`). A rule that also constrains `dst_ip`, `dst_port` or `protocol`
//! becomes a [`MatchRule`]: the kernel checks up to [`MAX_MATCH_RULES`] of them linearly, in
//! order, after the allowlist and blocklist lookups. Kernel rule ids are `u32`s; [`compile`]
//! numbers config rules 1..=n in file order and keeps the names, so events can carry the rule's
//! string id.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use ironpost_core::Protocol;
use ironpost_core::net::Cidr;

use crate::config::{FilterRule, RuleAction};
use crate::maps::{
    MATCH_DST, MATCH_DST_PORT, MATCH_PROTO, MATCH_SRC, MAX_MATCH_RULES, RawMatchRule, action_code,
};

/// A rule evaluated linearly by the kernel after the allowlist and blocklist lookups.
/// Every `Some` field must match; at least one should be set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchRule {
    /// Non-zero; reported in events and counted in the hit counters.
    pub rule_id: u32,
    pub action: RuleAction,
    pub src: Option<Cidr>,
    pub dst: Option<Cidr>,
    /// Matches TCP and UDP destination ports only.
    pub dst_port: Option<u16>,
    pub protocol: Option<Protocol>,
}

/// `[[ebpf.rules]]` split into blocklist entries and match rules, with kernel ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompiledRules {
    /// Source-only rules: (source CIDR, rule id, action).
    pub blocks: Vec<(Cidr, u32, RuleAction)>,
    pub match_rules: Vec<MatchRule>,
    /// Kernel rule id → the rule's `id` in the config.
    pub names: BTreeMap<u32, String>,
    /// The first id not used by config rules (for blocks added at run time).
    pub next_rule_id: u32,
}

/// Whether a rule is only a source CIDR (and so belongs in the blocklist maps).
pub(crate) fn is_source_only(r: &FilterRule) -> bool {
    r.src_ip.is_some() && r.dst_ip.is_none() && r.dst_port.is_none() && r.protocol.is_none()
}

/// Numbers `rules` 1..=n in order and splits them. Validation (`EbpfConfig::validate`) has
/// already rejected rules that match everything and more than [`MAX_MATCH_RULES`] match rules.
pub fn compile(rules: &[FilterRule]) -> CompiledRules {
    let mut out = CompiledRules {
        next_rule_id: 1,
        ..CompiledRules::default()
    };
    for r in rules {
        let id = out.next_rule_id;
        out.next_rule_id += 1;
        out.names.insert(id, r.id.clone());
        match r.src_ip {
            Some(src) if is_source_only(r) => out.blocks.push((src, id, r.action)),
            _ => out.match_rules.push(MatchRule {
                rule_id: id,
                action: r.action,
                src: r.src_ip,
                dst: r.dst_ip,
                dst_port: r.dst_port,
                protocol: r.protocol,
            }),
        }
    }
    out
}

/// The 16-byte (v4-mapped for IPv4) network and mask of a CIDR, as four words holding
/// network-order bytes, the layout the kernel compares packet addresses in.
fn net_and_mask(cidr: Cidr) -> ([u32; 4], [u32; 4]) {
    let (addr, prefix) = match cidr.0 {
        IpNet::V4(n) => (n.network().to_ipv6_mapped(), u32::from(n.prefix_len()) + 96),
        IpNet::V6(n) => (n.network(), u32::from(n.prefix_len())),
    };
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    let net = u128::from_be_bytes(addr.octets()) & mask;
    (words(net), words(mask))
}

fn words(v: u128) -> [u32; 4] {
    let b = v.to_be_bytes();
    std::array::from_fn(|i| {
        u32::from_ne_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
    })
}

fn family(c: Option<Cidr>) -> Option<u8> {
    c.map(|c| match c.0.addr() {
        IpAddr::V4(_) => 4,
        IpAddr::V6(_) => 6,
    })
}

impl MatchRule {
    pub(crate) fn to_raw(&self) -> RawMatchRule {
        let mut raw = RawMatchRule {
            rule_id: self.rule_id,
            action: action_code(self.action),
            ip_version: family(self.src).or(family(self.dst)).unwrap_or(0),
            ..RawMatchRule::default()
        };
        if let Some(src) = self.src {
            raw.flags |= MATCH_SRC;
            (raw.src_net, raw.src_mask) = net_and_mask(src);
        }
        if let Some(dst) = self.dst {
            raw.flags |= MATCH_DST;
            (raw.dst_net, raw.dst_mask) = net_and_mask(dst);
        }
        if let Some(port) = self.dst_port {
            raw.flags |= MATCH_DST_PORT;
            raw.dst_port = port;
        }
        if let Some(p) = self.protocol {
            raw.flags |= MATCH_PROTO;
            raw.proto = p.number();
        }
        raw
    }
}

const _: () = assert!(MAX_MATCH_RULES == 64, "keep in step with bpf/xdp_filter.h");

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        id: &str,
        src: Option<&str>,
        dst_port: Option<u16>,
        proto: Option<Protocol>,
    ) -> FilterRule {
        FilterRule {
            id: id.into(),
            description: String::new(),
            src_ip: src.map(|s| s.parse().unwrap()),
            dst_ip: None,
            dst_port,
            protocol: proto,
            action: RuleAction::Drop,
        }
    }

    #[test]
    fn source_only_rules_go_to_the_blocklist_others_to_match_rules() {
        let c = compile(&[
            rule("scanner", Some("10.0.0.1"), None, None),
            rule("ssh", None, Some(22), Some(Protocol::Tcp)),
            rule("net_ssh", Some("10.1.0.0/16"), Some(22), None),
        ]);
        assert_eq!(
            c.blocks,
            vec![("10.0.0.1".parse().unwrap(), 1, RuleAction::Drop)]
        );
        assert_eq!(
            c.match_rules.iter().map(|r| r.rule_id).collect::<Vec<_>>(),
            [2, 3]
        );
        assert_eq!(c.names[&3], "net_ssh");
        assert_eq!(c.next_rule_id, 4);
    }

    /// (cidr, expected net words as bytes, expected mask prefix bits over the 128-bit form)
    #[test]
    fn masks_cover_the_mapped_prefix() {
        let cases: [(&str, [u8; 16], u32); 4] = [
            (
                "10.1.0.0/16",
                [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 0, 0],
                112,
            ),
            (
                "192.0.2.9",
                [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 9],
                128,
            ),
            (
                "2001:db8::/32",
                [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                32,
            ),
            ("::/0", [0; 16], 0),
        ];
        for (c, net_bytes, bits) in cases {
            let (net, mask) = net_and_mask(c.parse().unwrap());
            let flat =
                |w: [u32; 4]| -> Vec<u8> { w.iter().flat_map(|x| x.to_ne_bytes()).collect() };
            assert_eq!(flat(net), net_bytes, "{c}");
            let ones: u32 = flat(mask).iter().map(|b| b.count_ones()).sum();
            assert_eq!(ones, bits, "{c}");
        }
    }

    #[test]
    fn raw_rule_sets_flags_family_and_protocol() {
        let r = MatchRule {
            rule_id: 9,
            action: RuleAction::Monitor,
            src: None,
            dst: Some("2001:db8::/64".parse().unwrap()),
            dst_port: Some(443),
            protocol: Some(Protocol::Udp),
        }
        .to_raw();
        assert_eq!(r.flags, MATCH_DST | MATCH_DST_PORT | MATCH_PROTO);
        assert_eq!(
            (r.ip_version, r.proto, r.dst_port, r.rule_id),
            (6, 17, 443, 9)
        );
        let any_family = MatchRule {
            rule_id: 1,
            action: RuleAction::Drop,
            src: None,
            dst: None,
            dst_port: Some(22),
            protocol: None,
        }
        .to_raw();
        assert_eq!(
            (any_family.ip_version, any_family.flags),
            (0, MATCH_DST_PORT)
        );
    }
}
