//! The engine's detectors: packet events fed to the port-scan detector, and the SYN flood
//! detector run on snapshots of the kernel's per-destination TCP counters.

use std::time::Instant;

use ironpost_core::{AlertEvent, PacketEvent, error_chain};
use tracing::warn;

use super::{Inner, lock, syncookies, syncookies_note};
use crate::kernel::XdpFilter;

impl Inner {
    /// Feeds one packet event to the detectors and forwards it; returns the alert it raised.
    pub(super) fn on_event(&self, pe: PacketEvent, now: Instant) -> Option<AlertEvent> {
        self.metrics.events.inc();
        let alert = {
            let mut d = lock(&self.detectors);
            d.syn_flood.observe_packet(&pe, now);
            d.port_scan.observe(&pe, now)
        };
        if self.outputs.packets.try_send(pe).is_err() {
            self.metrics
                .events_lost
                .with_label_values(&["channel_full"])
                .inc();
        }
        alert
    }

    /// Runs the SYN flood detector on a fresh snapshot of the per-destination counters, expires
    /// old detector state, and exports the detectors' sizes.
    pub(super) fn detect(&self, now: Instant) -> Vec<AlertEvent> {
        let snapshot = {
            let guard = lock(&self.filter);
            match guard.as_ref().map(XdpFilter::read_dst_tcp) {
                Some(Ok(s)) => s,
                Some(Err(e)) => {
                    warn!(error = %error_chain(&e), "cannot read the per-destination TCP counters");
                    return Vec::new();
                }
                None => return Vec::new(),
            }
        };
        let mut d = lock(&self.detectors);
        let mut alerts = d.syn_flood.observe_snapshot(&snapshot, now);
        if !alerts.is_empty() {
            let note = match syncookies() {
                Some(0) => syncookies_note(Some(0)).unwrap_or_default(),
                Some(v) => format!(
                    "Its sources may be forged and are not blocked; mitigation: the kernel's SYN \
                     cookies (net.ipv4.tcp_syncookies = {v} in this network namespace)."
                ),
                None => "Its sources may be forged and are not blocked.".to_owned(),
            };
            for a in &mut alerts {
                a.description = format!("{} {note}", a.description);
            }
        }
        d.syn_flood.expire(now);
        d.port_scan.expire(now);
        let (syn, scan) = (d.syn_flood.stats(), d.port_scan.stats());
        for (name, tracked, evicted, before) in [
            ("syn_flood", syn.tracked, syn.evicted, d.evicted.0),
            ("port_scan", scan.tracked, scan.evicted, d.evicted.1),
        ] {
            self.metrics
                .tracked
                .with_label_values(&[name])
                .set(i64::try_from(tracked).unwrap_or(i64::MAX));
            self.metrics
                .evicted
                .with_label_values(&[name])
                .inc_by(evicted.saturating_sub(before));
        }
        d.evicted = (syn.evicted, scan.evicted);
        alerts
    }
}
