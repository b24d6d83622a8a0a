//! eBPF `PacketEvent`s as a source (seed: "eBPF events feed the pipeline"): each event becomes a
//! record that rules can match like a log line — `process` is `ebpf`, `message` describes the
//! packet (`tcp SYN 198.18.7.1:40000 -> 198.18.7.2:22 pass`), and the addresses, ports, protocol,
//! action and kernel rule are typed fields.
//!
//! Evidence: a packet's source address is whatever the packet says, so a packet record is
//! `spoofable` (a forged source address produces the same event) — the pipeline never raises
//! it. Verified flow evidence (an established connection) is the XDP engine's own business.

use std::fmt::Write;

use ironpost_core::{Evidence, PacketEvent, Protocol};

use crate::fields::{FieldSource, FieldValue};

/// A packet event seen through the field contract.
#[derive(Debug, Clone)]
pub struct PacketRecord {
    ev: PacketEvent,
    message: String,
    protocol: String,
}

fn flags(f: u8) -> String {
    let mut out = String::new();
    for (bit, name) in [
        (0x02, "SYN"),
        (0x10, "ACK"),
        (0x01, "FIN"),
        (0x04, "RST"),
        (0x08, "PSH"),
    ] {
        if f & bit != 0 {
            if !out.is_empty() {
                out.push('|');
            }
            out.push_str(name);
        }
    }
    out
}

fn endpoint(out: &mut String, ip: std::net::IpAddr, port: Option<u16>) {
    match (ip, port) {
        (std::net::IpAddr::V6(v6), Some(p)) => {
            let _ = write!(out, "[{v6}]:{p}");
        }
        (ip, Some(p)) => {
            let _ = write!(out, "{ip}:{p}");
        }
        (ip, None) => {
            let _ = write!(out, "{ip}");
        }
    }
}

impl PacketRecord {
    pub fn new(ev: PacketEvent) -> Self {
        let protocol = ev.protocol.to_string();
        let mut message = protocol.clone();
        if let (Protocol::Tcp, Some(f)) = (ev.protocol, ev.tcp_flags) {
            message.push(' ');
            message.push_str(&flags(f));
        }
        message.push(' ');
        endpoint(&mut message, ev.src_ip, ev.src_port);
        message.push_str(" -> ");
        endpoint(&mut message, ev.dst_ip, ev.dst_port);
        message.push(' ');
        message.push_str(ev.action.as_str());
        PacketRecord {
            ev,
            message,
            protocol,
        }
    }

    pub fn event(&self) -> &PacketEvent {
        &self.ev
    }
}

impl FieldSource for PacketRecord {
    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        Some(match name {
            "message" => FieldValue::Str(&self.message),
            "process" | "program" | "app" | "app_name" => FieldValue::Str("ebpf"),
            "source" => FieldValue::Str("ebpf"),
            "src_ip" => FieldValue::Ip(self.ev.src_ip),
            "dst_ip" => FieldValue::Ip(self.ev.dst_ip),
            "src_port" | "port" => FieldValue::Num(f64::from(self.ev.src_port?)),
            "dst_port" => FieldValue::Num(f64::from(self.ev.dst_port?)),
            "protocol" => FieldValue::Str(&self.protocol),
            "action" => FieldValue::Str(self.ev.action.as_str()),
            "rule" => FieldValue::Str(self.ev.rule_id.as_deref()?),
            "length" => FieldValue::Num(f64::from(self.ev.length)),
            "evidence" => FieldValue::Str(Evidence::Spoofable.as_str()),
            _ => return None,
        })
    }

    fn message(&self) -> &str {
        &self.message
    }

    fn timestamp_micros(&self) -> Option<i64> {
        Some(self.ev.timestamp.timestamp_micros())
    }

    fn evidence(&self) -> Evidence {
        Evidence::Spoofable
    }
}

#[cfg(test)]
mod tests {
    use ironpost_core::PacketAction;

    use super::*;
    use crate::rules::{RuleSet, load_str};

    fn syn(src: &str, dport: u16) -> PacketRecord {
        let mut ev = PacketEvent::new(
            src.parse().unwrap(),
            "198.18.7.2".parse().unwrap(),
            Protocol::Tcp,
            PacketAction::Pass,
        );
        ev.src_port = Some(40000);
        ev.dst_port = Some(dport);
        ev.tcp_flags = Some(0x02);
        PacketRecord::new(ev)
    }

    #[test]
    fn packets_read_like_log_lines() {
        let r = syn("198.18.7.1", 22);
        assert_eq!(
            r.message(),
            "tcp SYN 198.18.7.1:40000 -> 198.18.7.2:22 pass"
        );
        assert_eq!(
            r.field("src_ip"),
            Some(FieldValue::Ip("198.18.7.1".parse().unwrap()))
        );
        assert_eq!(r.field("dst_port"), Some(FieldValue::Num(22.0)));
        assert_eq!(r.field("process"), Some(FieldValue::Str("ebpf")));
        assert_eq!(r.field("rule"), None);
        assert_eq!(r.evidence(), Evidence::Spoofable);
        assert_eq!(r.field("evidence"), Some(FieldValue::Str("spoofable")));
        let v6 = syn("2001:db8::1", 443);
        assert_eq!(
            v6.message(),
            "tcp SYN [2001:db8::1]:40000 -> 198.18.7.2:443 pass"
        );
    }

    #[test]
    fn seed_rules_match_packet_records() {
        let loaded = load_str(
            "id: ssh_syn_from_lab\ntitle: SYN to SSH from the lab\nseverity: low\ndetection:\n  conditions:\n    - field: process\n      operator: equals\n      value: ebpf\n    - field: dst_port\n      operator: equals\n      value: \"22\"\n    - field: src_ip\n      operator: cidr\n      value: 198.18.0.0/15\n",
            None,
        );
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let set = RuleSet::compile(loaded.rules).unwrap();
        let mut out = Vec::new();
        set.matches(&syn("198.18.7.1", 22), &mut out);
        assert_eq!(out.len(), 1);
        set.matches(&syn("198.18.7.1", 80), &mut out);
        assert!(out.is_empty());
        set.matches(&syn("203.0.113.9", 22), &mut out);
        assert!(out.is_empty());
    }
}
