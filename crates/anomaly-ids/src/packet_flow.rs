//! Flow telemetry from the XDP engine's packet events: a TCP SYN without ACK is the first packet
//! of a connection attempt, which is what the IDS's window features count. Its outcome is unknown
//! from one packet, so `flags` stays unset.

use ironpost_core::PacketEvent;
use ironpost_core::event::Protocol;

use crate::features::FlowEvent;

/// TCP flag bits (RFC 9293).
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

impl FlowEvent {
    /// The connection attempt a packet starts, if it is a TCP SYN without ACK.
    pub fn from_syn(p: &PacketEvent) -> Option<FlowEvent> {
        let flags = p.tcp_flags?;
        (p.protocol == Protocol::Tcp && flags & SYN != 0 && flags & ACK == 0).then(|| FlowEvent {
            ts: p.timestamp.timestamp_micros() as f64 / 1e6,
            pid: 0,
            saddr: p.src_ip,
            daddr: p.dst_ip,
            dport: p.dst_port.unwrap_or(0),
            proto: Some(Protocol::Tcp),
            flags: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpost_core::event::PacketAction;

    #[test]
    fn only_tcp_syn_without_ack_is_flow_telemetry() {
        let pkt = |proto, flags| {
            let mut p = PacketEvent::new(
                "198.18.0.5".parse().unwrap(),
                "198.18.0.9".parse().unwrap(),
                proto,
                PacketAction::Pass,
            );
            p.tcp_flags = flags;
            p.dst_port = Some(22);
            p
        };
        let f = FlowEvent::from_syn(&pkt(Protocol::Tcp, Some(0x02))).expect("SYN");
        assert_eq!((f.dport, f.flags), (22, None));
        assert_eq!(f.saddr, "198.18.0.5".parse::<std::net::IpAddr>().unwrap());
        assert!(
            FlowEvent::from_syn(&pkt(Protocol::Tcp, Some(0x12))).is_none(),
            "SYN-ACK"
        );
        assert!(
            FlowEvent::from_syn(&pkt(Protocol::Tcp, Some(0x10))).is_none(),
            "ACK"
        );
        assert!(FlowEvent::from_syn(&pkt(Protocol::Tcp, None)).is_none());
        assert!(FlowEvent::from_syn(&pkt(Protocol::Udp, Some(0x02))).is_none());
    }
}
