//! [`PortScanDetector`]: distinct destination ports probed by one source address within a
//! sliding window (seed 002: 20 ports in 60 s), from the kernel's packet events.
//!
//! A probe is a TCP segment with neither ACK nor RST: a connection attempt (SYN) or a stealth
//! probe (FIN, NULL, Xmas). Every segment of an established connection carries ACK, so replies
//! to this host's own outgoing connections, which go to ever-changing ephemeral ports, never
//! count. UDP and ICMP events are ignored for the same reason (a DNS reply looks like a probe of
//! an ephemeral port). The kernel reports every SYN without ACK and every packet that hits a
//! `monitor` rule, so FIN/NULL/Xmas probes are seen only where a monitor rule covers them.
//!
//! Evidence: `spoofable`. A probe is a segment without a completed handshake, so its source
//! address may be forged (nmap's `-D` decoys, hping3's `--spoof`): the alert says so and the
//! responder, by default, does not block on it.
//!
//! State is bounded: at most `max_tracked` sources (least recently active evicted first), and
//! per source at most `port_threshold` ports — once that many distinct ports are live the alert
//! condition holds and more would add nothing; a new port then replaces the least recently
//! probed one, so a scan that goes on is still seen after the cooldown.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ironpost_core::{AlertEvent, AlertSource, Entities, Evidence, PacketEvent, Protocol, Severity};

use super::lru::Lru;
use super::{TCP_ACK, TCP_RST, within};
use crate::config::PortScanConfig;

/// The alert's `rule_id`.
pub const PORT_SCAN_RULE_ID: &str = "port_scan";

/// Counters of a [`PortScanDetector`], for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortScanStats {
    /// Sources with state now.
    pub tracked: usize,
    /// Sources forgotten because `max_tracked` were already tracked.
    pub evicted: u64,
    pub alerts: u64,
}

#[derive(Debug)]
struct Source {
    /// Distinct ports and when each was last probed; at most `port_threshold` of them.
    ports: Vec<(u16, Instant)>,
    last_alert: Option<Instant>,
}

/// Counts distinct destination ports per source; see the module documentation.
#[derive(Debug)]
pub struct PortScanDetector {
    cfg: PortScanConfig,
    sources: Lru<IpAddr, Source>,
    alerts: u64,
}

/// The destination port of a probe, or `None` when `ev` is not one.
fn probe_port(ev: &PacketEvent) -> Option<u16> {
    let flags = ev.tcp_flags?;
    if ev.protocol != Protocol::Tcp || flags & (TCP_ACK | TCP_RST) != 0 {
        return None;
    }
    ev.dst_port
}

impl PortScanDetector {
    pub fn new(cfg: &PortScanConfig) -> Self {
        PortScanDetector {
            cfg: cfg.clone(),
            sources: Lru::new(cfg.max_tracked),
            alerts: 0,
        }
    }

    /// Counts `ev` (a packet event from the kernel) at time `now`. Returns an alert when its
    /// source has probed `port_threshold` distinct ports within the window, at most once per
    /// source per window (the cooldown). Events that are not probes, and every event when the
    /// detector is disabled, are ignored.
    pub fn observe(&mut self, ev: &PacketEvent, now: Instant) -> Option<AlertEvent> {
        if !self.cfg.enabled {
            return None;
        }
        let port = probe_port(ev)?;
        let window = self.cfg.window;
        let threshold = usize::from(self.cfg.port_threshold);
        let src = self.sources.touch_or_insert_with(ev.src_ip, || Source {
            ports: Vec::new(),
            last_alert: None,
        });
        src.ports.retain(|(_, seen)| within(*seen, now, window));
        if let Some((_, seen)) = src.ports.iter_mut().find(|(p, _)| *p == port) {
            *seen = (*seen).max(now);
        } else if src.ports.len() < threshold {
            src.ports.push((port, now));
        } else if let Some(oldest) = src.ports.iter_mut().min_by_key(|(_, seen)| *seen) {
            *oldest = (port, now);
        }
        if src.ports.len() < threshold || src.last_alert.is_some_and(|t| within(t, now, window)) {
            return None;
        }
        src.last_alert = Some(now);
        let mut ports: Vec<u16> = src.ports.iter().map(|(p, _)| *p).collect();
        ports.sort_unstable();
        self.alerts += 1;
        Some(alert(ev, &ports, window, threshold))
    }

    /// Forgets sources that can no longer raise an alert by themselves (no port probed within
    /// the window, cooldown over). Call it now and then; the `max_tracked` bound holds without.
    pub fn expire(&mut self, now: Instant) {
        let window = self.cfg.window;
        self.sources.retain(|_, s| {
            s.ports.iter().any(|(_, seen)| within(*seen, now, window))
                || s.last_alert.is_some_and(|t| within(t, now, window))
        });
    }

    pub fn stats(&self) -> PortScanStats {
        PortScanStats {
            tracked: self.sources.len(),
            evicted: self.sources.evicted(),
            alerts: self.alerts,
        }
    }

    /// Ports kept for `src` (tests check the per-source bound).
    #[cfg(test)]
    fn ports_kept(&mut self, src: IpAddr) -> usize {
        self.sources.peek_mut(&src).map_or(0, |s| s.ports.len())
    }
}

fn alert(ev: &PacketEvent, ports: &[u16], window: Duration, threshold: usize) -> AlertEvent {
    let mut a = AlertEvent::new(
        AlertSource::Ebpf,
        PORT_SCAN_RULE_ID,
        format!("Port scan from {}", ev.src_ip),
        Severity::Medium,
    )
    // SYN-only (or FIN/NULL/Xmas) probes: any address can be written into them.
    .with_evidence(Evidence::Spoofable);
    // The event that crossed the threshold starts the trace: a block taken because of this
    // alert links back to it.
    a.timestamp = ev.timestamp;
    a.trace_id = ev.trace_id;
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    a.description = format!(
        "{} probed {} distinct TCP ports within {} s (threshold {threshold}); latest probe \
         {}:{}. Ports: {}.",
        ev.src_ip,
        ports.len(),
        window.as_secs(),
        ev.dst_ip,
        ev.dst_port.unwrap_or_default(),
        list.join(", ")
    );
    a.entities = Entities {
        src_ip: Some(ev.src_ip),
        dst_ip: Some(ev.dst_ip),
        protocol: Some(Protocol::Tcp),
        ..Entities::default()
    };
    a.tags = vec!["attack.discovery".into(), "T1046".into()];
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::tests::{ip, syn_event, tcp_event};

    const SRC: &str = "198.51.100.7";
    const DST: &str = "192.0.2.1";

    fn detector(max_tracked: usize) -> PortScanDetector {
        PortScanDetector::new(&PortScanConfig {
            max_tracked,
            ..PortScanConfig::default()
        })
    }

    /// Feeds (seconds after t0, source, port) SYN probes to `DST`; returns the alerts.
    fn feed(d: &mut PortScanDetector, t0: Instant, probes: &[(u64, &str, u16)]) -> Vec<AlertEvent> {
        probes
            .iter()
            .filter_map(|&(secs, src, port)| {
                d.observe(&syn_event(src, DST, port), t0 + Duration::from_secs(secs))
            })
            .collect()
    }

    /// (name, probes as (second, port) from `SRC`, alerts expected)
    #[test]
    fn distinct_ports_within_the_window() {
        let ramp = |n: u16, step: u64| -> Vec<(u64, u16)> {
            (0..n).map(|i| (u64::from(i) * step, 1000 + i)).collect()
        };
        let mut repeat_after = ramp(20, 1);
        repeat_after.extend((0..30).map(|i| (20 + i, 2000 + i as u16)));
        let mut after_cooldown = ramp(20, 1);
        after_cooldown.extend((0..20).map(|i| (60 + i, 3000 + i as u16)));
        // 19 ports at t = 0 and the 20th at t = `last`.
        let edge = |last: u64| -> Vec<(u64, u16)> {
            let mut v: Vec<(u64, u16)> = (0..19).map(|i| (0, 1000 + i)).collect();
            v.push((last, 2000));
            v
        };
        let mut same_port = ramp(19, 1);
        same_port.extend((0..50).map(|i| (19 + i / 10, 1000)));
        type Case = (&'static str, Vec<(u64, u16)>, usize);
        let cases: Vec<Case> = vec![
            ("19 ports in the window", ramp(19, 1), 0),
            ("the 20th port alerts", ramp(20, 1), 1),
            ("the 20th port 59 s after the first", edge(59), 1),
            ("the 20th port 60 s after the first", edge(60), 0),
            ("20 ports over 76 s", ramp(20, 4), 0),
            ("more ports within the cooldown", repeat_after, 1),
            (
                "a scan that goes on alerts again after the cooldown",
                after_cooldown,
                2,
            ),
            ("19 ports and one repeated", same_port, 0),
        ];
        for (name, probes, want) in cases {
            let mut d = detector(10_000);
            let probes: Vec<(u64, &str, u16)> = probes.iter().map(|&(t, p)| (t, SRC, p)).collect();
            let alerts = feed(&mut d, Instant::now(), &probes);
            assert_eq!(alerts.len(), want, "{name}");
            assert_eq!(d.stats().alerts, want as u64, "{name}");
        }
    }

    #[test]
    fn the_alert_names_source_and_destination() {
        let mut d = detector(10_000);
        let t0 = Instant::now();
        for port in 1..20 {
            assert!(d.observe(&syn_event(SRC, DST, port), t0).is_none());
        }
        let ev = syn_event(SRC, DST, 443);
        let a = d.observe(&ev, t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(a.rule_id, "port_scan");
        assert_eq!(a.source, AlertSource::Ebpf);
        assert_eq!(a.severity, Severity::Medium);
        assert_eq!(a.evidence, Evidence::Spoofable);
        assert_eq!(a.entities.src_ip, Some(ip(SRC)));
        assert_eq!(a.entities.dst_ip, Some(ip(DST)));
        assert_eq!(a.tags, ["attack.discovery", "T1046"]);
        assert_eq!((a.trace_id, a.timestamp), (ev.trace_id, ev.timestamp));
        assert!(
            a.description.contains("20 distinct TCP ports") && a.description.contains(", 443."),
            "{}",
            a.description
        );
    }

    #[test]
    fn sources_are_counted_independently() {
        let mut d = detector(10_000);
        let t0 = Instant::now();
        // Two sources probe the same 19 ports: neither reaches 20 on its own.
        let mut probes = Vec::new();
        for i in 0..19 {
            probes.push((i, "198.51.100.1", 1000 + i as u16));
            probes.push((i, "198.51.100.2", 1000 + i as u16));
        }
        assert!(feed(&mut d, t0, &probes).is_empty());
        let a = feed(&mut d, t0, &[(20, "198.51.100.2", 9999)]);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].entities.src_ip, Some(ip("198.51.100.2")));
        assert_eq!(feed(&mut d, t0, &[(20, "198.51.100.1", 9999)]).len(), 1);
        assert_eq!(d.stats().tracked, 2);
    }

    #[test]
    fn only_probes_count() {
        let mut d = detector(10_000);
        let t0 = Instant::now();
        let mut udp = syn_event(SRC, DST, 1);
        udp.protocol = Protocol::Udp;
        udp.tcp_flags = None;
        for port in 1..=100 {
            let mut u = udp.clone();
            u.dst_port = Some(port);
            // Replies to our own connections: SYN-ACK, ACK, RST-ACK, RST to ephemeral ports.
            for (i, flags) in [0x12, 0x10, 0x14, 0x04].into_iter().enumerate() {
                let ev = tcp_event(SRC, DST, 40_000 + port + 100 * i as u16, flags);
                assert!(d.observe(&ev, t0).is_none());
            }
            assert!(d.observe(&u, t0).is_none());
        }
        assert_eq!(d.stats().tracked, 0);
        // FIN, NULL and Xmas probes do count.
        let mut alerts = 0;
        for port in 1..=20u16 {
            let flags = [0x01, 0x00, 0x29][usize::from(port % 3)];
            alerts += usize::from(d.observe(&tcp_event(SRC, DST, port, flags), t0).is_some());
        }
        assert_eq!(alerts, 1);
    }

    #[test]
    fn state_stays_bounded() {
        let max = 100;
        let mut d = detector(max);
        let t0 = Instant::now();
        for i in 0..(max as u32 + 250) {
            let src = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
            d.observe(&syn_event(&src, DST, 80), t0);
        }
        let s = d.stats();
        assert_eq!((s.tracked, s.evicted), (max, 250));

        // One source probing 5000 ports keeps at most `port_threshold` of them and alerts once.
        let mut one = detector(max);
        let alerts = (1..=5000u16)
            .filter(|p| one.observe(&syn_event(SRC, DST, *p), t0).is_some())
            .count();
        assert_eq!(alerts, 1);
        assert_eq!(one.ports_kept(ip(SRC)), 20);
    }

    #[test]
    fn expire_forgets_idle_sources_and_disabled_sees_nothing() {
        let mut d = detector(10_000);
        let t0 = Instant::now();
        feed(
            &mut d,
            t0,
            &[(0, "198.51.100.1", 1), (50, "198.51.100.2", 1)],
        );
        d.expire(t0 + Duration::from_secs(70));
        assert_eq!(d.stats().tracked, 1);
        d.expire(t0 + Duration::from_secs(110));
        assert_eq!(d.stats().tracked, 0);

        let mut off = PortScanDetector::new(&PortScanConfig {
            enabled: false,
            ..PortScanConfig::default()
        });
        for port in 1..=100 {
            assert!(off.observe(&syn_event(SRC, DST, port), t0).is_none());
        }
        assert_eq!(off.stats(), PortScanStats::default());
    }
}
