//! Tests of the window extractor: one table of event sequences and the features they must produce.

use super::*;
use proptest::prelude::*;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// `flags`: "" none, otherwise letters of S (syn), A (ack), R (rst); "-" is flags present but all false.
fn ev(ts: f64, src: &str, dst: &str, dport: u16, flags: &str) -> FlowEvent {
    let flags = match flags {
        "" => None,
        f => Some(TcpFlags {
            syn: f.contains('S'),
            ack: f.contains('A'),
            rst: f.contains('R'),
        }),
    };
    FlowEvent {
        ts,
        pid: 0,
        saddr: ip(src),
        daddr: ip(dst),
        dport,
        proto: None,
        flags,
    }
}

/// (src, conn_rate, uniq_dports, uniq_daddrs, syn_only_ratio, rst_ratio)
type Row = (&'static str, f32, u32, u32, Option<f32>, Option<f32>);

fn check(events: Vec<FlowEvent>, now: f64, want: &[Row]) {
    let mut x = WindowExtractor::default();
    for e in events {
        x.push(e);
    }
    let got: Vec<Row> = x
        .tick(now)
        .into_iter()
        .map(|f| {
            let src: &'static str = Box::leak(f.src.to_string().into_boxed_str());
            (
                src,
                f.conn_rate,
                f.uniq_dports,
                f.uniq_daddrs,
                f.syn_only_ratio,
                f.rst_ratio,
            )
        })
        .collect();
    assert_eq!(got, want);
}

const A: &str = "10.0.0.5";
const B: &str = "10.0.0.6";
const D: &str = "10.0.0.9";

#[test]
fn single_attempt() {
    check(
        vec![ev(1.0, A, D, 80, "")],
        1.0,
        &[(A, 0.5, 1, 1, None, None)],
    );
}

#[test]
fn port_scan_counts_distinct_ports() {
    let events = (0..10)
        .map(|i| ev(10.0 + f64::from(i) * 0.1, A, D, 1000 + i as u16, ""))
        .collect();
    check(events, 11.0, &[(A, 5.0, 10, 1, None, None)]);
}

#[test]
fn repeated_port_counts_once() {
    let events = vec![
        ev(1.0, A, D, 80, ""),
        ev(1.1, A, D, 80, ""),
        ev(1.2, A, D, 443, ""),
    ];
    check(events, 1.5, &[(A, 1.5, 2, 1, None, None)]);
}

#[test]
fn host_sweep_counts_distinct_destinations() {
    let events = (1..=6)
        .map(|i| ev(1.0, A, &format!("10.0.1.{i}"), 22, ""))
        .collect();
    check(events, 1.0, &[(A, 3.0, 1, 6, None, None)]);
}

#[test]
fn window_excludes_its_start_and_includes_now() {
    check(vec![ev(0.0, A, D, 80, "")], 2.0, &[]);
    check(
        vec![ev(0.0, A, D, 80, "")],
        1.999,
        &[(A, 0.5, 1, 1, None, None)],
    );
    check(
        vec![ev(3.0, A, D, 80, "")],
        3.0,
        &[(A, 0.5, 1, 1, None, None)],
    );
}

#[test]
fn future_events_wait_for_their_time() {
    let mut x = WindowExtractor::default();
    x.push(ev(5.0, A, D, 80, ""));
    assert_eq!(x.tick(3.0), vec![]);
    assert_eq!(x.tracked_sources(), 1);
    assert_eq!(x.tick(5.0).len(), 1);
}

#[test]
fn outcome_ratios_over_attempts_with_flags() {
    let events = vec![
        ev(1.0, A, D, 1, "S"),
        ev(1.0, A, D, 2, "S"),
        ev(1.0, A, D, 3, "SR"),
        ev(1.0, A, D, 4, "SA"),
        ev(1.0, A, D, 5, "SAR"),
        ev(1.0, A, D, 6, ""),
        ev(1.0, A, D, 7, "-"),
        ev(1.0, A, D, 8, "R"),
    ];
    // known: S, S, SR, SA, SAR, R -> syn-only 2/6, refused (RST without ACK) 2/6
    check(
        events,
        1.0,
        &[(A, 4.0, 8, 1, Some(2.0 / 6.0), Some(2.0 / 6.0))],
    );
}

#[test]
fn sources_are_separate_and_sorted() {
    let events = vec![
        ev(1.0, B, D, 80, "SA"),
        ev(1.0, A, D, 80, ""),
        ev(1.5, A, D, 81, ""),
    ];
    check(
        events,
        1.5,
        &[
            (A, 1.0, 2, 1, None, None),
            (B, 0.5, 1, 1, Some(0.0), Some(0.0)),
        ],
    );
}

#[test]
fn ipv6_sources() {
    check(
        vec![ev(1.0, "2001:db8::1", "2001:db8::2", 443, "S")],
        1.0,
        &[("2001:db8::1", 0.5, 1, 1, Some(1.0), Some(0.0))],
    );
}

#[test]
fn expired_sources_are_forgotten() {
    let mut x = WindowExtractor::default();
    x.push(ev(1.0, A, D, 80, ""));
    x.push(ev(2.5, B, D, 80, ""));
    assert_eq!(x.tick(3.5).len(), 1);
    assert_eq!(x.tracked_sources(), 1);
    assert_eq!(x.tick(10.0), vec![]);
    assert_eq!(x.tracked_sources(), 0);
}

#[test]
fn least_recently_seen_source_is_evicted() {
    let mut x = WindowExtractor::new(ExtractorConfig {
        max_sources: 2,
        ..ExtractorConfig::default()
    });
    x.push(ev(1.0, A, D, 80, ""));
    x.push(ev(1.0, B, D, 80, ""));
    x.push(ev(1.1, A, D, 81, "")); // A seen again: B is now the least recent
    x.push(ev(1.2, "10.0.0.7", D, 80, ""));
    let srcs: Vec<IpAddr> = x.tick(1.5).into_iter().map(|f| f.src).collect();
    assert_eq!(srcs, vec![ip(A), ip("10.0.0.7")]);
    assert_eq!(x.stats().sources_evicted, 1);
    assert_eq!(x.tracked_sources(), 2);
}

#[test]
fn per_source_cap_drops_oldest() {
    let mut x = WindowExtractor::new(ExtractorConfig {
        max_events_per_source: 3,
        ..ExtractorConfig::default()
    });
    for p in 1..=5 {
        x.push(ev(1.0, A, D, p, ""));
    }
    let f = x.tick(1.0);
    assert_eq!((f[0].conn_rate, f[0].uniq_dports), (1.5, 3));
    assert_eq!((x.stats().events_in, x.stats().events_dropped), (5, 2));
}

#[test]
fn unusable_bounds_are_corrected() {
    let mut x = WindowExtractor::new(ExtractorConfig {
        window_seconds: 0.0,
        max_sources: 0,
        max_events_per_source: 0,
    });
    x.push(ev(1.0, A, D, 80, ""));
    x.push(ev(1.5, A, D, 81, ""));
    x.push(ev(1.5, B, D, 81, ""));
    // window 2 s, one source (A evicted by B), one attempt each.
    let f = x.tick(2.0);
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].src, f[0].conn_rate), (ip(B), 0.5));
    assert_eq!(
        (x.stats().events_dropped, x.stats().sources_evicted),
        (1, 1)
    );
}

#[test]
fn non_finite_timestamps_are_refused() {
    let mut x = WindowExtractor::default();
    x.push(ev(f64::NAN, A, D, 80, ""));
    x.push(ev(f64::INFINITY, A, D, 80, ""));
    assert_eq!(x.stats().events_invalid, 2);
    assert_eq!((x.stats().events_in, x.tracked_sources()), (0, 0));
}

#[test]
fn model_input_order_and_missing_values() {
    let f = Features {
        src: ip(A),
        conn_rate: 12.5,
        uniq_dports: 8,
        uniq_daddrs: 2,
        syn_only_ratio: None,
        rst_ratio: Some(0.25),
    };
    let x = f.to_model_input();
    assert_eq!(&x[..3], &[12.5, 8.0, 2.0]);
    assert!(x[3].is_nan());
    assert_eq!(x[4], 0.25);
    assert_eq!(FEATURE_NAMES[0], "conn_rate");
}

#[test]
fn flow_event_json() {
    let cases: &[(&str, Option<FlowEvent>)] = &[
        (
            r#"{"ts": 169.5, "pid": 0, "saddr": "10.0.0.5", "daddr": "10.0.0.9", "dport": 80}"#,
            Some(ev(169.5, A, D, 80, "")),
        ),
        (
            r#"{"ts": 1, "saddr": "10.0.0.5", "daddr": "10.0.0.9", "dport": 22, "proto": "tcp", "flags": {"syn": true, "rst": true}}"#,
            Some(FlowEvent {
                proto: Some(Protocol::Tcp),
                ..ev(1.0, A, D, 22, "SR")
            }),
        ),
        (
            r#"{"ts": 1, "saddr": "10.0.0.5", "daddr": "10.0.0.9"}"#,
            None,
        ),
        (
            r#"{"ts": 1, "saddr": "nope", "daddr": "10.0.0.9", "dport": 1}"#,
            None,
        ),
        (
            r#"{"ts": 1, "saddr": "10.0.0.5", "daddr": "10.0.0.9", "dport": 70000}"#,
            None,
        ),
        (
            r#"{"ts": 1, "saddr": "10.0.0.5", "daddr": "10.0.0.9", "dport": 1, "flags": {"fin": true}}"#,
            None,
        ),
    ];
    for (text, want) in cases {
        let got = serde_json::from_str::<FlowEvent>(text).ok();
        assert_eq!(&got, want, "{text}");
    }
}

#[test]
fn features_json_is_the_seed_batch_item() {
    let f = Features {
        src: ip(A),
        conn_rate: 12.5,
        uniq_dports: 8,
        uniq_daddrs: 1,
        syn_only_ratio: None,
        rst_ratio: None,
    };
    let v = serde_json::to_value(&f).expect("serialize");
    assert_eq!(v["src"], "10.0.0.5");
    assert_eq!(v["conn_rate"], 12.5);
    assert_eq!(v["uniq_dports"], 8);
}

proptest! {
    #[test]
    fn features_agree_with_a_direct_count(
        raw in proptest::collection::vec((0u32..400, 0u8..4, 0u8..6, 0u16..8, 0u8..5), 0..200),
        now_tenths in 0u32..400,
    ) {
        let now = f64::from(now_tenths) / 10.0;
        let events: Vec<FlowEvent> = raw
            .iter()
            .map(|&(t, s, d, p, fl)| {
                let flags = ["", "S", "SA", "SR", "-"][usize::from(fl)];
                ev(f64::from(t) / 10.0, &format!("10.0.0.{s}"), &format!("10.0.1.{d}"), p, flags)
            })
            .collect();
        let mut x = WindowExtractor::default();
        for e in &events {
            x.push(e.clone());
        }
        for f in x.tick(now) {
            let mine: Vec<&FlowEvent> = events
                .iter()
                .filter(|e| e.saddr == f.src && e.ts > now - WINDOW_SECONDS && e.ts <= now)
                .collect();
            prop_assert!(!mine.is_empty());
            prop_assert_eq!(f.conn_rate, (mine.len() as f64 / WINDOW_SECONDS) as f32);
            let ports: HashSet<u16> = mine.iter().map(|e| e.dport).collect();
            prop_assert_eq!(f.uniq_dports as usize, ports.len());
            for r in [f.syn_only_ratio, f.rst_ratio].into_iter().flatten() {
                prop_assert!((0.0..=1.0).contains(&r));
            }
        }
    }
}

/// A burst that arrives 30 s late (redelivered after a restart) is windowed in its own time, and
/// its window's tokens and earliest `ts` name what an alert derives from; in process (no arrival
/// time) the same late burst is outside the window.
#[test]
fn a_late_burst_is_windowed_in_its_own_time_and_holds_its_tokens() {
    use ironpost_core::ack::{Ack, Status};
    let mut x = WindowExtractor::default();
    let mut statuses = Vec::new();
    for i in 0..10u16 {
        let (ack, status) = Ack::new();
        statuses.push(status);
        let ts = 1000.0 + f64::from(i) * 0.1;
        x.push_at(
            ev(ts, "198.18.0.1", "198.18.0.9", i + 1, ""),
            ack,
            ts + 30.0,
        );
    }
    let f = x.tick(1031.0);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!((f[0].conn_rate, f[0].uniq_dports), (5.0, 10));
    let (joined, first) = x.derivation(ip("198.18.0.1"));
    assert_eq!(first, Some(1000.0));
    // Out of the (lagged) window: the extractor lets go, the joined token still holds them.
    assert!(x.tick(1034.0).is_empty());
    assert!(statuses.iter().all(|s| s.get() == Status::Pending));
    drop(joined);
    assert!(statuses.iter().all(|s| s.get() == Status::Delivered));

    let mut local = WindowExtractor::default();
    for i in 0..10u16 {
        local.push(ev(
            1000.0 + f64::from(i) * 0.1,
            "198.18.0.1",
            "198.18.0.9",
            i + 1,
            "",
        ));
    }
    assert!(local.tick(1031.0).is_empty(), "no lag in process");
}
