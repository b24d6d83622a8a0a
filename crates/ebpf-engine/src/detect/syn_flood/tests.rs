//! Tests of the SYN flood detector: window, threshold, ratio, cooldown and counter resets in one
//! table; the alert's content; naming the dominant source; bounded state.

use super::*;
use crate::detect::tests::{ip, syn_event, tcp_event};

const DST: &str = "192.0.2.1";

fn detector(max_tracked: usize) -> SynFloodDetector {
    SynFloodDetector::new(&SynFloodConfig {
        max_tracked,
        ..SynFloodConfig::default()
    })
}

fn at(t0: Instant, secs: u64) -> Instant {
    t0 + Duration::from_secs(secs)
}

fn counters(syn: u64, tcp: u64) -> DstTcpCounters {
    DstTcpCounters { syn, tcp }
}

/// Cumulative counters of `DST`, one snapshot a second from t = 1: `n` steps of `syn` SYNs
/// and `tcp` TCP segments, on top of `start`.
fn steady(start: (u64, u64), n: u64, syn: u64, tcp: u64) -> Vec<(u64, u64, u64)> {
    (1..=n)
        .map(|i| (i, start.0 + i * syn, start.1 + i * tcp))
        .collect()
}

/// Feeds snapshots of `DST` as (second, cumulative SYNs, cumulative TCP) after a first
/// snapshot at t = 0 holding `first` (absent when `None`); returns the seconds that alerted.
fn run(d: &mut SynFloodDetector, first: Option<(u64, u64)>, snaps: &[(u64, u64, u64)]) -> Vec<u64> {
    let t0 = Instant::now();
    let snap0: Vec<_> = first
        .map(|(s, t)| (ip(DST), counters(s, t)))
        .into_iter()
        .collect();
    assert!(d.observe_snapshot(&snap0, t0).is_empty());
    snaps
        .iter()
        .filter(|&&(secs, syn, tcp)| {
            !d.observe_snapshot(&[(ip(DST), counters(syn, tcp))], at(t0, secs))
                .is_empty()
        })
        .map(|&(secs, _, _)| secs)
        .collect()
}

/// (name, first snapshot, later snapshots, seconds that must alert)
#[test]
fn window_threshold_ratio_and_cooldown() {
    let mut reset = steady((1000, 1000), 1, 50, 50);
    reset.push((2, 60, 60));
    let mut small_reset = steady((1000, 1000), 1, 40, 40);
    small_reset.push((2, 50, 50));
    // 80 SYN-only segments, then 20 SYNs among 320 segments: 100 SYNs, ratio 0.25.
    let mut ratio_drops = steady((0, 0), 4, 20, 20);
    ratio_drops.extend([(6, 100, 400)]);
    type Case = (
        &'static str,
        Option<(u64, u64)>,
        Vec<(u64, u64, u64)>,
        Vec<u64>,
    );
    let cases: Vec<Case> = vec![
        (
            "100 SYN, 0 ACK in 10 s",
            None,
            steady((0, 0), 10, 10, 10),
            vec![10],
        ),
        (
            "100 SYN and 100 ACK: ratio 0.5",
            None,
            steady((0, 0), 10, 10, 20),
            vec![],
        ),
        ("99 SYN in 10 s", None, steady((0, 0), 9, 11, 11), vec![]),
        (
            "100 SYN spread over 20 s",
            None,
            steady((0, 0), 20, 5, 5),
            vec![],
        ),
        (
            "50 + 50 SYN 10 s apart",
            None,
            vec![(1, 50, 50), (11, 100, 100)],
            vec![],
        ),
        (
            "50 + 50 SYN 9 s apart",
            None,
            vec![(1, 50, 50), (10, 100, 100)],
            vec![10],
        ),
        ("ratio exactly 0.8", None, vec![(1, 100, 125)], vec![1]),
        ("ratio just below 0.8", None, vec![(1, 100, 126)], vec![]),
        (
            "a flood that goes on alerts once per window",
            None,
            steady((0, 0), 30, 100, 100),
            vec![1, 11, 21],
        ),
        (
            "the first snapshot is only a baseline",
            Some((100_000, 100_000)),
            steady((100_000, 100_000), 10, 5, 5),
            vec![],
        ),
        (
            "counted from the baseline on",
            Some((100_000, 100_000)),
            steady((100_000, 100_000), 10, 10, 10),
            vec![10],
        ),
        (
            "a counter reset counts what is new",
            Some((1000, 1000)),
            reset,
            vec![2],
        ),
        (
            "a counter reset is not a burst",
            Some((1000, 1000)),
            small_reset,
            vec![],
        ),
        (
            "ACKs in the window lower the ratio",
            None,
            ratio_drops,
            vec![],
        ),
    ];
    for (name, first, snaps, want) in cases {
        let mut d = detector(10_000);
        assert_eq!(run(&mut d, first, &snaps), want, "{name}");
        assert_eq!(d.stats().alerts, want.len() as u64, "{name}");
    }
}

#[test]
fn counter_resets_are_counted() {
    let mut d = detector(10_000);
    run(
        &mut d,
        Some((1000, 1000)),
        &[(1, 10, 2000), (2, 20, 20), (3, 30, 30)],
    );
    assert_eq!(d.stats().counter_resets, 2);
}

#[test]
fn the_alert_carries_the_numbers() {
    let mut d = detector(10_000);
    let t0 = Instant::now();
    d.observe_snapshot(&[], t0);
    let alerts = d.observe_snapshot(
        &[
            (ip("192.0.2.9"), counters(5, 5)),
            (ip(DST), counters(150, 160)),
        ],
        at(t0, 1),
    );
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(
        (a.rule_id.as_str(), a.source, a.severity),
        ("syn_flood", AlertSource::Ebpf, Severity::High)
    );
    assert_eq!(a.entities.dst_ip, Some(ip(DST)));
    assert_eq!(a.entities.src_ip, None, "no SYN events were seen");
    assert_eq!(a.entities.protocol, Some(Protocol::Tcp));
    assert_eq!(a.tags, ["attack.impact", "T1498"]);
    for needle in ["150 TCP SYNs", "10 s", "94% of its 160", "100 SYNs, 80%"] {
        assert!(
            a.description.contains(needle),
            "{needle}: {}",
            a.description
        );
    }
}

/// Sends `n` SYN events from `src` to `DST` at `now`.
fn syns(d: &mut SynFloodDetector, src: &str, n: usize, now: Instant) {
    for _ in 0..n {
        d.observe_packet(&syn_event(src, DST, 80), now);
    }
}

fn flood_alert(d: &mut SynFloodDetector, t0: Instant, secs: u64) -> AlertEvent {
    let mut alerts = d.observe_snapshot(&[(ip(DST), counters(1000, 1000))], at(t0, secs));
    assert_eq!(alerts.len(), 1);
    alerts.remove(0)
}

#[test]
fn names_the_source_that_sent_at_least_half() {
    let distinct = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| format!("203.0.113.{}", i % 250 + 1))
            .collect()
    };
    // (name, SYN events as (source, count), in order, expected src_ip)
    type Case = (&'static str, Vec<(String, usize)>, Option<&'static str>);
    let attacker = || "198.51.100.66".to_owned();
    let mut interleaved = Vec::new();
    for noise in distinct(40) {
        interleaved.push((attacker(), 1));
        interleaved.push((noise, 1));
    }
    interleaved.push((attacker(), 20));
    let cases: Vec<Case> = vec![
        (
            "one source sends 80%",
            std::iter::once((attacker(), 80))
                .chain(distinct(20).into_iter().map(|s| (s, 1)))
                .collect(),
            Some("198.51.100.66"),
        ),
        (
            "exactly half",
            std::iter::once((attacker(), 50))
                .chain(distinct(50).into_iter().map(|s| (s, 1)))
                .collect(),
            Some("198.51.100.66"),
        ),
        (
            "60% interleaved with 40 others",
            interleaved,
            Some("198.51.100.66"),
        ),
        (
            "100 sources, one SYN each",
            distinct(100).into_iter().map(|s| (s, 1)).collect(),
            None,
        ),
        (
            "two sources of 40% each",
            vec![
                (attacker(), 40),
                ("198.51.100.67".into(), 40),
                ("198.51.100.68".into(), 20),
            ],
            None,
        ),
    ];
    for (name, events, want) in cases {
        let mut d = detector(10_000);
        let t0 = Instant::now();
        d.observe_snapshot(&[], t0);
        for (src, n) in &events {
            syns(&mut d, src, *n, at(t0, 1));
        }
        let a = flood_alert(&mut d, t0, 2);
        assert_eq!(a.entities.src_ip, want.map(ip), "{name}");
        if want.is_some() {
            assert!(
                a.description.contains("198.51.100.66 sent at least"),
                "{name}"
            );
        }
    }
}

#[test]
fn only_recent_syn_events_name_a_source() {
    let mut d = detector(10_000);
    let t0 = Instant::now();
    d.observe_snapshot(&[], t0);
    // The attacker dominated 20 s ago; now 30 sources share the load.
    syns(&mut d, "198.51.100.66", 500, at(t0, 1));
    for i in 1..=30 {
        syns(&mut d, &format!("203.0.113.{i}"), 3, at(t0, 20));
    }
    // ACKs from the attacker are not SYN events.
    for _ in 0..500 {
        d.observe_packet(&tcp_event("198.51.100.66", DST, 80, TCP_ACK), at(t0, 20));
    }
    assert_eq!(flood_alert(&mut d, t0, 21).entities.src_ip, None);
}

#[test]
fn state_stays_bounded() {
    let max = 50;
    let mut d = detector(max);
    let t0 = Instant::now();
    d.observe_snapshot(&[], t0);
    let snap: Vec<_> = (0..200u32)
        .map(|i| {
            let dst = IpAddr::from(std::net::Ipv4Addr::from(0xc000_0200 + i));
            (dst, counters(1, 1))
        })
        .collect();
    d.observe_snapshot(&snap, at(t0, 1));
    // SYN events to yet other destinations go through the same bound.
    for i in 0..100 {
        d.observe_packet(
            &syn_event("198.51.100.1", &format!("10.0.0.{i}"), 80),
            at(t0, 1),
        );
    }
    let s = d.stats();
    assert_eq!((s.tracked, s.evicted), (max, 250));
    // Nothing within the window any more: everything is forgotten.
    d.observe_snapshot(&snap, at(t0, 12));
    assert_eq!(d.stats().tracked, 0);
}

#[test]
fn disabled_sees_nothing() {
    let mut d = SynFloodDetector::new(&SynFloodConfig {
        enabled: false,
        ..SynFloodConfig::default()
    });
    let t0 = Instant::now();
    syns(&mut d, "198.51.100.66", 500, t0);
    assert!(d.observe_snapshot(&[], t0).is_empty());
    assert!(
        d.observe_snapshot(&[(ip(DST), counters(1000, 1000))], at(t0, 1))
            .is_empty()
    );
    assert_eq!(d.stats(), SynFloodStats::default());
}
