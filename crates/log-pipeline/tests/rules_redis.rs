//! `RedisAlertState` against a real Redis (`IRONPOST_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`; `scripts/services.sh start redis`). Without Redis these tests fail,
//! they never skip. Each test uses its own key prefix, so parallel runs do not collide.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ironpost_log_pipeline::MapFields;
use ironpost_log_pipeline::pipeline::PipelineError;
use ironpost_log_pipeline::rules::{
    AlertState, Alerter, AlertingConfig, HitVerdict, RedisAlertState, Rule, SystemClock, load_file,
};

/// 2020-03-01T00:00:00Z.
const T0: i64 = 1_583_020_800_000_000;
const SEC: i64 = 1_000_000;

fn url() -> String {
    std::env::var("IRONPOST_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A prefix no other test (or run) uses.
fn prefix(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "ironpost-test:{test}:{}.{nanos}.{}:",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn state(prefix: &str) -> RedisAlertState {
    let url = url();
    RedisAlertState::connect(&url, prefix).unwrap_or_else(|e| {
        panic!(
            "{e:#}\nthese tests need a real Redis: run `scripts/services.sh start redis` or set \
             IRONPOST_TEST_REDIS_URL"
        )
    })
}

/// One "pipeline": an alerter on the shared Redis.
fn pipeline(prefix: &str) -> Alerter<RedisAlertState> {
    Alerter::new(
        AlertingConfig::default(),
        state(prefix),
        Arc::new(SystemClock),
    )
}

fn seed_rule() -> Rule {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rules/ssh_brute_force.yaml");
    let mut loaded = load_file(&path);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    loaded.rules.remove(0)
}

fn failure(ip: &str, secs: i64) -> MapFields {
    MapFields {
        message: format!("Failed password for root from {ip} port 4242 ssh2"),
        timestamp_micros: Some(T0 + secs * SEC),
        fields: vec![
            ("process".into(), "sshd".into()),
            ("src_ip".into(), ip.into()),
            ("user".into(), "root".into()),
        ],
    }
}

/// The same five failures from one IP within a minute.
fn burst() -> Vec<MapFields> {
    (0..5).map(|i| failure("203.0.113.5", i * 3)).collect()
}

#[test]
fn two_pipelines_seeing_the_same_failures_raise_one_alert() {
    let (rule, prefix) = (seed_rule(), prefix("same"));
    let (mut a, mut b) = (pipeline(&prefix), pipeline(&prefix));
    let recs = burst();
    let mut alerts = 0;
    // Interleaved, as two nodes reading copies of one log would.
    for rec in &recs {
        alerts += usize::from(a.observe(&rule, rec).is_some());
        alerts += usize::from(b.observe(&rule, rec).is_some());
    }
    assert_eq!(alerts, 1, "a: {:?}, b: {:?}", a.counters(), b.counters());
    // And one after the other.
    let prefix = self::prefix("sequential");
    let (mut a, mut b) = (pipeline(&prefix), pipeline(&prefix));
    let alerts = recs
        .iter()
        .filter(|r| a.observe(&rule, *r).is_some())
        .count()
        + recs
            .iter()
            .filter(|r| b.observe(&rule, *r).is_some())
            .count();
    assert_eq!(alerts, 1, "a: {:?}, b: {:?}", a.counters(), b.counters());
    assert_eq!(b.counters().deduplicated, 1);
    assert_eq!(
        a.state_stats().backend_errors + b.state_stats().backend_errors,
        0
    );
}

#[test]
fn threshold_split_across_pipelines_is_reached_once() {
    let (rule, prefix) = (seed_rule(), prefix("split"));
    let (mut a, mut b) = (pipeline(&prefix), pipeline(&prefix));
    let recs = burst();
    let from_a = recs[..3]
        .iter()
        .filter(|r| a.observe(&rule, *r).is_some())
        .count();
    let from_b: Vec<usize> = recs[3..]
        .iter()
        .enumerate()
        .filter_map(|(i, r)| b.observe(&rule, r).map(|_| i))
        .collect();
    assert_eq!(from_a, 0);
    // B alone saw 2 of 5; the fifth failure overall is B's second.
    assert_eq!(from_b, [1]);
    assert_eq!(a.counters().below_threshold, 3);
    assert_eq!(b.counters().alerts, 1);
}

#[test]
fn state_semantics_match_memory() {
    let mut st = state(&prefix("semantics"));
    let rec = |st: &mut RedisAlertState, t: i64| st.record_hit("k", t * SEC, 60 * SEC, 5, 10 * SEC);
    assert_eq!(rec(&mut st, 100), HitVerdict::Counted(1));
    assert_eq!(rec(&mut st, 130), HitVerdict::Counted(2));
    assert_eq!(rec(&mut st, 125), HitVerdict::Counted(3));
    assert_eq!(rec(&mut st, 100), HitVerdict::Late);
    assert_eq!(rec(&mut st, 170), HitVerdict::Counted(3));
    // Same time twice: two hits.
    assert_eq!(rec(&mut st, 170), HitVerdict::Counted(4));
    st.clear_hits("k");
    assert_eq!(rec(&mut st, 171), HitVerdict::Counted(1));
    // keep bounds the count.
    for t in 172..180 {
        st.record_hit("k", t * SEC, 60 * SEC, 5, 10 * SEC);
    }
    assert_eq!(rec(&mut st, 180), HitVerdict::Counted(5));

    let w = 300 * SEC;
    assert!(st.claim_alert("g", T0, w));
    assert!(!st.claim_alert("g", T0 + 299 * SEC, w));
    assert!(!st.claim_alert("g", T0 - 299 * SEC, w));
    st.release_alert("g", T0);
    assert!(st.claim_alert("g", T0 + 10 * SEC, w));
    assert!(st.claim_alert("g", T0 + 310 * SEC, w));

    assert!(st.take_rate("r", T0, 2));
    assert!(st.take_rate("r", T0 + SEC, 2));
    assert!(!st.take_rate("r", T0 + 2 * SEC, 2));
    assert!(st.take_rate("r", T0 + 60 * SEC, 2));
    assert_eq!(st.stats().backend_errors, 0);
}

#[test]
fn unreachable_redis_fails_construction_naming_the_url() {
    let err = RedisAlertState::connect("redis://:hunter2@127.0.0.1:1/2", "x:").unwrap_err();
    assert!(matches!(err, PipelineError::RedisConnect { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("redis://:***@127.0.0.1:1/2"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    let err = RedisAlertState::connect("127.0.0.1:6379", "x:").unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid Redis URL `127.0.0.1:6379`"),
        "{err}"
    );
}

#[test]
fn wrong_database_is_a_server_error() {
    let url = format!("{}/99999", url().trim_end_matches('/'));
    let err = RedisAlertState::connect(&url, "x:").unwrap_err();
    assert!(matches!(err, PipelineError::RedisServer { .. }), "{err:?}");
}

#[test]
fn failures_after_connecting_fall_back_to_memory() {
    // A fake Redis that answers the session, then hangs up.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0; 64];
        let _ = s.read(&mut buf);
        s.write_all(b"+PONG\r\n").unwrap();
    });
    let st = RedisAlertState::connect(&format!("redis://{addr}"), "x:").unwrap();
    server.join().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let mut a = Alerter::new(AlertingConfig::default(), st, Arc::new(SystemClock));
    let rule = seed_rule();
    let alerts = burst()
        .iter()
        .filter(|r| a.observe(&rule, *r).is_some())
        .count();
    assert_eq!(alerts, 1, "fails open: counted in memory");
    assert!(a.state_stats().backend_errors >= 5, "{:?}", a.state_stats());
}
