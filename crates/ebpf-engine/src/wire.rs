//! The engine's types as the control protocol carries them (`ironpost_proto::wire`). The
//! conversions are the only coupling: the engine may reshape its own types freely, and the wire
//! types change only as a protocol change.

use ironpost_proto::wire;

use crate::{Block, BlockView, Counters, EngineStats};

impl From<Block> for wire::Block {
    fn from(b: Block) -> Self {
        wire::Block {
            cidr: b.cidr,
            rule_id: b.rule_id,
            reason: b.reason,
            alert_id: b.alert_id,
            trace_id: b.trace_id,
            added_at: b.added_at,
            expires_at: b.expires_at,
            offence: b.offence,
            evidence: b.evidence,
        }
    }
}

impl From<BlockView> for wire::BlockView {
    fn from(v: BlockView) -> Self {
        wire::BlockView {
            block: v.block.into(),
            hits: v.hits,
            hit_bytes: v.hit_bytes,
        }
    }
}

impl From<Counters> for wire::Counters {
    fn from(c: Counters) -> Self {
        wire::Counters {
            packets: c.packets,
            bytes: c.bytes,
            drops: c.drops,
        }
    }
}

impl From<EngineStats> for wire::EngineStats {
    fn from(s: EngineStats) -> Self {
        wire::EngineStats {
            interface: s.interface,
            attached: s.attached,
            extra_interfaces: s
                .extra_interfaces
                .into_iter()
                .map(|e| wire::ExtraInterface {
                    interface: e.interface,
                    attached: e.attached,
                    note: e.note,
                })
                .collect(),
            pinned: s.pinned,
            pin_dir: s.pin_dir,
            pin_note: s.pin_note,
            traffic: s.traffic.into_iter().map(|(k, v)| (k, v.into())).collect(),
            malformed: s.malformed,
            events_sent: s.events_sent,
            events_ringbuf_full: s.events_ringbuf_full,
            events_rate_limited: s.events_rate_limited,
            expired_passed: s.expired_passed,
            blocks: s.blocks,
        }
    }
}
