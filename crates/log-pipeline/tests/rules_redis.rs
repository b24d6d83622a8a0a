//! `RedisAlertState` against a real Redis (`IRONPOST_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`; `scripts/services.sh start redis`). Without Redis these tests fail,
//! they never skip. Each test uses its own key prefix, so parallel runs do not collide.
//! Blackholes and TLS: `tests/redis_outage.rs`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use ironpost_log_pipeline::MapFields;
use ironpost_log_pipeline::pipeline::PipelineError;
use ironpost_log_pipeline::rules::{
    Alerter, AlertingConfig, AsyncAlertState, Decision, HitVerdict, MAX_DECISIONS_PER_CALL,
    ManualClock, MemoryAlertState, Outcome, RedisAlertState, RedisOptions, Rule, SystemClock,
    decide_now, load_file, load_str,
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

async fn state(prefix: &str) -> RedisAlertState {
    let url = url();
    RedisAlertState::connect(&RedisOptions::new(&url), prefix)
        .await
        .unwrap_or_else(|e| {
        panic!(
            "{e:#}\nthese tests need a real Redis: run `scripts/services.sh start redis` or set \
             IRONPOST_TEST_REDIS_URL"
        )
    })
}

/// One "pipeline": an alerter on the shared Redis.
async fn pipeline(prefix: &str) -> Alerter<RedisAlertState> {
    Alerter::new(
        AlertingConfig::default(),
        state(prefix).await,
        Arc::new(SystemClock),
    )
}

/// How many of `recs` raise an alert in `a`, in order.
async fn alerts(a: &mut Alerter<RedisAlertState>, rule: &Rule, recs: &[MapFields]) -> usize {
    let mut n = 0;
    for r in recs {
        n += usize::from(a.observe_async(rule, r).await.is_some());
    }
    n
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

#[tokio::test]
async fn two_pipelines_seeing_the_same_failures_raise_one_alert() {
    let (rule, prefix) = (seed_rule(), prefix("same"));
    let (mut a, mut b) = (pipeline(&prefix).await, pipeline(&prefix).await);
    let recs = burst();
    let mut alerts = 0;
    // Interleaved, as two nodes reading copies of one log would.
    for rec in &recs {
        alerts += usize::from(a.observe_async(&rule, rec).await.is_some());
        alerts += usize::from(b.observe_async(&rule, rec).await.is_some());
    }
    assert_eq!(alerts, 1, "a: {:?}, b: {:?}", a.counters(), b.counters());
    // And one after the other.
    let prefix = self::prefix("sequential");
    let (mut a, mut b) = (pipeline(&prefix).await, pipeline(&prefix).await);
    let n = self::alerts(&mut a, &rule, &recs).await + self::alerts(&mut b, &rule, &recs).await;
    assert_eq!(n, 1, "a: {:?}, b: {:?}", a.counters(), b.counters());
    assert_eq!(b.counters().deduplicated, 1);
    assert_eq!(
        a.state_stats().backend_errors + b.state_stats().backend_errors,
        0
    );
    assert_eq!(a.state_stats().fallback_ops, 0);
}

#[tokio::test]
async fn threshold_split_across_pipelines_is_reached_once() {
    let (rule, prefix) = (seed_rule(), prefix("split"));
    let (mut a, mut b) = (pipeline(&prefix).await, pipeline(&prefix).await);
    let recs = burst();
    let from_a = alerts(&mut a, &rule, &recs[..3]).await;
    let mut from_b = Vec::new();
    for (i, r) in recs[3..].iter().enumerate() {
        if b.observe_async(&rule, r).await.is_some() {
            from_b.push(i);
        }
    }
    assert_eq!(from_a, 0);
    // B alone saw 2 of 5; the fifth failure overall is B's second.
    assert_eq!(from_b, [1]);
    assert_eq!(a.counters().below_threshold, 3);
    assert_eq!(b.counters().alerts, 1);
}

#[tokio::test]
async fn state_semantics_match_memory() {
    let mut st = state(&prefix("semantics")).await;
    async fn rec(st: &mut RedisAlertState, t: i64) -> HitVerdict {
        st.record_hit("k", t * SEC, 60 * SEC, 5, 10 * SEC, None)
            .await
    }
    assert_eq!(rec(&mut st, 100).await, HitVerdict::Counted(1));
    assert_eq!(rec(&mut st, 130).await, HitVerdict::Counted(2));
    assert_eq!(rec(&mut st, 125).await, HitVerdict::Counted(3));
    assert_eq!(rec(&mut st, 100).await, HitVerdict::Late);
    assert_eq!(rec(&mut st, 170).await, HitVerdict::Counted(3));
    // Same time twice: two hits.
    assert_eq!(rec(&mut st, 170).await, HitVerdict::Counted(4));
    st.clear_hits("k").await;
    assert_eq!(rec(&mut st, 171).await, HitVerdict::Counted(1));
    // keep bounds the count.
    for t in 172..180 {
        st.record_hit("k", t * SEC, 60 * SEC, 5, 10 * SEC, None)
            .await;
    }
    assert_eq!(rec(&mut st, 180).await, HitVerdict::Counted(5));

    let w = 300 * SEC;
    assert!(st.claim_alert("g", T0, w).await);
    assert!(!st.claim_alert("g", T0 + 299 * SEC, w).await);
    assert!(!st.claim_alert("g", T0 - 299 * SEC, w).await);
    st.release_alert("g", T0).await;
    assert!(st.claim_alert("g", T0 + 10 * SEC, w).await);
    assert!(st.claim_alert("g", T0 + 310 * SEC, w).await);

    assert!(st.take_rate("r", T0, 2).await);
    assert!(st.take_rate("r", T0 + SEC, 2).await);
    assert!(!st.take_rate("r", T0 + 2 * SEC, 2).await);
    assert!(st.take_rate("r", T0 + 60 * SEC, 2).await);
    assert_eq!(st.stats().backend_errors, 0);
    assert!(!st.is_down());
}

/// A rule that alerts on every failure (no threshold): dedup and the rate limit decide alone.
fn per_line_rule() -> Rule {
    let text = "id: ssh_each_failure\ntitle: each failure\nseverity: low\ndetection:\n  conditions:\n    - field: message\n      operator: contains\n      value: Failed password\n";
    let mut loaded = load_str(text, None);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    loaded.rules.remove(0)
}

/// 3,000 failures from 40 addresses, dated March 2020 (years before any run), about one a
/// second with some arriving out of order: by up to 50 s (within the 60 s tolerance) and, every
/// 97th, by 90 s (late).
fn old_replay() -> Vec<MapFields> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..3000i64)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let back = if i % 97 == 0 { 90 } else { (x % 51) as i64 };
            let ip = format!("198.18.7.{}", x % 40 + 1);
            failure(&ip, i - back)
        })
        .collect()
}

/// What an alerter made of each record: the alert's description (its count and group), or
/// nothing.
type Verdicts = Vec<Option<String>>;

#[tokio::test]
async fn replayed_old_logs_alert_exactly_as_in_memory() {
    let rules = [seed_rule(), per_line_rule()];
    let recs = old_replay();
    let config = AlertingConfig {
        // Low enough that the replay spends it: rate-limited claims are given back.
        rate_limit_per_min: 4,
        ..AlertingConfig::default()
    };
    // The clock is not read (every record has its time); far from the records on purpose.
    let clock = Arc::new(ManualClock::new(T0 + 200 * 86_400 * SEC));
    let mut memory = Alerter::in_memory(config.clone(), clock.clone());
    let mut want: Verdicts = Vec::new();
    for r in &recs {
        for rule in &rules {
            want.push(memory.observe(rule, r).map(|a| a.description));
        }
    }
    let expected = memory.counters();
    // The replay exercises every verdict.
    assert!(expected.alerts > 40, "{expected:?}");
    for n in [
        expected.late,
        expected.below_threshold,
        expected.deduplicated,
        expected.rate_limited,
    ] {
        assert!(n > 0, "{expected:?}");
    }

    // Match by match through Redis.
    let mut one = Alerter::new(
        config.clone(),
        state(&prefix("old-one")).await,
        clock.clone(),
    );
    let mut got: Verdicts = Vec::new();
    for r in &recs {
        for rule in &rules {
            got.push(one.observe_async(rule, r).await.map(|a| a.description));
        }
    }
    assert_eq!(one.counters(), expected);
    assert!(
        got == want,
        "first difference at {:?}",
        first_difference(&got, &want)
    );

    // Staged, as the pipeline worker does: every match of the replay decided in script calls
    // of up to 1,024 matches.
    let mut staged = Alerter::new(config, state(&prefix("old-staged")).await, clock);
    let mut waiting = Vec::new();
    for r in &recs {
        for rule in &rules {
            let s = staged.stage(rule, r).expect("every record has src_ip");
            waiting.push((r, s));
        }
    }
    let matches: Vec<_> = waiting.iter().map(|(_, s)| s.clone()).collect();
    let counts = staged.decide_staged(&matches).await;
    let got: Verdicts = waiting
        .iter()
        .zip(counts)
        .map(|((r, s), c)| c.map(|c| staged.staged_alert(s, *r, c).description))
        .collect();
    assert_eq!(staged.counters(), expected);
    assert!(
        got == want,
        "first difference at {:?}",
        first_difference(&got, &want)
    );
    let stats = staged.state_stats();
    assert_eq!(
        (stats.backend_errors, stats.fallback_ops),
        (0, 0),
        "{stats:?}"
    );
}

#[tokio::test]
async fn replaying_the_same_lines_again_on_the_same_keys_is_deduplicated() {
    // Redis keeps a group's dedup claim for the dedup window (+ a minute) of wall time: a second
    // replay of the same lines (another node, or a rerun) raises nothing new. This is why each
    // run of bench/redis-blackhole.sh uses a rule id of its own.
    let (rule, prefix) = (seed_rule(), prefix("again"));
    // As in the benchmark's corpus: five failures per address within a minute.
    let recs: Vec<MapFields> = (0..5)
        .flat_map(|i| (1..=20).map(move |h| failure(&format!("198.18.8.{h}"), i * 3)))
        .collect();
    let mut first = pipeline(&prefix).await;
    assert_eq!(alerts(&mut first, &rule, &recs).await, 20);
    let mut second = pipeline(&prefix).await;
    assert_eq!(alerts(&mut second, &rule, &recs).await, 0);
    assert_eq!(
        second.counters().deduplicated,
        20,
        "{:?}",
        second.counters()
    );
    // A run of its own (another key prefix, as another rule id would give) alerts again.
    let mut fresh = pipeline(&self::prefix("again-fresh")).await;
    assert_eq!(alerts(&mut fresh, &rule, &recs).await, 20);
}

/// A pipeline over one file of old-dated sshd lines (threshold rule `id`), with the alert state
/// in Redis when `redis` is set; its alerts as (rule, src_ip, time, description, evidence line),
/// sorted. (Alert ids differ between the two runs: they name the file's inode.)
async fn pipeline_alerts(
    dir: &Path,
    id: &str,
    redis: Option<String>,
) -> Vec<(String, String, i64, String, String)> {
    use ironpost_core::Module;
    use ironpost_core::metrics;
    use ironpost_log_pipeline::config::{LogPipelineConfig, SourceKind, StartAt};
    use ironpost_log_pipeline::pipeline::{LogPipeline, PipelineOutputs};
    use tokio::sync::mpsc;

    let (rules, logs, data) = (dir.join("rules"), dir.join("logs"), dir.join("data"));
    for d in [&rules, &logs, &data] {
        std::fs::create_dir_all(d).expect("test directories");
    }
    let rule = format!(
        "id: {id}\ntitle: sshd failures\nseverity: medium\ndetection:\n  conditions:\n    - field: message\n      operator: contains\n      value: Failed password\n  threshold:\n    count: 5\n    timeframe_secs: 60\n    group_by: src_ip\n"
    );
    std::fs::write(rules.join("ssh.yaml"), rule).expect("rule file");
    let mut cfg = LogPipelineConfig {
        enabled: true,
        sources: vec![SourceKind::File],
        watch_paths: vec![logs.join("*.log")],
        file_start_at: StartAt::Beginning,
        file_poll: std::time::Duration::from_millis(20),
        rules_dir: rules,
        batch_size: 500,
        ..LogPipelineConfig::default()
    };
    // Unlimited: memory charges an out-of-order alert to the current minute, Redis to its own
    // (a documented difference), and this log has alerts out of order.
    cfg.alerting.rate_limit_per_min = 0;
    cfg.storage.redis_url = redis;
    let registry = metrics::new_registry();
    let (alerts_tx, mut alerts_rx) = mpsc::channel(1 << 14);
    let (logs_tx, mut logs_rx) = mpsc::channel(1 << 14);
    let mut p = LogPipeline::new(
        cfg,
        data,
        &registry,
        PipelineOutputs {
            alerts: alerts_tx,
            logs: logs_tx,
        },
    );
    p.start().await.expect("pipeline starts");
    assert!(
        matches!(p.health(), ironpost_core::Health::Healthy),
        "{:?}",
        p.health()
    );
    // 4,000 lines of 1 March, 50 addresses, ten a second, every seventh 30 s out of order.
    let mut text = String::new();
    for i in 0..4000u32 {
        let t = i / 10 + 30 - 30 * u32::from(i % 7 == 3);
        text.push_str(&format!(
            "Mar  1 {:02}:{:02}:{:02} web1 sshd[42]: Failed password for root from 198.18.6.{} port 4242 ssh2\n",
            t / 3600,
            t / 60 % 60,
            t % 60,
            (i * 7) % 50 + 1
        ));
    }
    std::fs::write(dir.join("staged"), text).expect("log file");
    std::fs::rename(dir.join("staged"), logs.join("auth.log")).expect("log file appears");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let parsed: f64 = metrics::render(&registry)
            .lines()
            .filter(|l| l.starts_with("ironpost_log_parsed_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if parsed >= 4000.0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "lines not parsed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    p.stop().await.expect("pipeline stops");
    drop(p);
    let mut out = Vec::new();
    while let Some(a) = alerts_rx.recv().await {
        let ev = logs_rx.recv().await.expect("one evidence line per alert");
        assert_eq!(ev.trace_id, a.trace_id);
        out.push((
            a.rule_id.clone(),
            a.entities
                .src_ip
                .map(|ip| ip.to_string())
                .unwrap_or_default(),
            a.timestamp.timestamp_micros(),
            a.description.clone(),
            ev.message.clone(),
        ));
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_through_redis_raises_the_in_memory_alerts_on_old_lines() {
    // A rule id of its own: the pipeline uses the production key prefix.
    let id = prefix("pipeline")
        .replace([':', '.', '-'], "_")
        .trim_end_matches('_')
        .to_owned();
    let (m, r) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let memory = pipeline_alerts(m.path(), &id, None).await;
    let redis = pipeline_alerts(r.path(), &id, Some(url())).await;
    assert!(memory.len() > 10, "{}", memory.len());
    assert!(redis == memory, "first difference: {:?}", {
        let i = redis.iter().zip(&memory).position(|(a, b)| a != b);
        i.map(|i| (&redis[i], &memory[i])).or(None).map_or_else(
            || format!("{} alerts vs {}", redis.len(), memory.len()),
            |d| format!("{d:?}"),
        )
    });
}

fn first_difference(a: &Verdicts, b: &Verdicts) -> Option<(usize, Option<String>, Option<String>)> {
    let i = a.iter().zip(b).position(|(x, y)| x != y)?;
    Some((i, a[i].clone(), b[i].clone()))
}

#[tokio::test]
async fn unreachable_redis_fails_construction_naming_the_url() {
    let err = RedisAlertState::connect(&RedisOptions::new("redis://:hunter2@127.0.0.1:1/2"), "x:")
        .await
        .unwrap_err();
    assert!(matches!(err, PipelineError::RedisConnect { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("redis://:***@127.0.0.1:1/2"), "{msg}");
    let chain = ironpost_core::error_chain(&err);
    assert!(!chain.contains("hunter2"), "{chain}");
    let err = RedisAlertState::connect(&RedisOptions::new("127.0.0.1:6379"), "x:")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid Redis URL `127.0.0.1:6379`"),
        "{err}"
    );
}

#[tokio::test]
async fn wrong_database_is_a_server_error() {
    let url = format!("{}/99999", url().trim_end_matches('/'));
    let err = RedisAlertState::connect(&RedisOptions::new(&url), "x:")
        .await
        .unwrap_err();
    assert!(matches!(err, PipelineError::RedisServer { .. }), "{err:?}");
    let chain = ironpost_core::error_chain(&err);
    assert_eq!(ironpost_core::error::repeated_cause(&err), None, "{chain}");
}

/// Members (distinct values, `near` parts) in Redis behave as in memory
/// (`state::tests::members_count_once_at_their_newest_hit`).
#[tokio::test]
async fn members_count_once_in_redis_as_in_memory() {
    let mut st = state(&prefix("members")).await;
    async fn rec(st: &mut RedisAlertState, t: i64, m: &str) -> HitVerdict {
        st.record_hit("k", t * SEC, 60 * SEC, 3, 10 * SEC, Some(m))
            .await
    }
    assert_eq!(rec(&mut st, 100, "alice").await, HitVerdict::Counted(1));
    assert_eq!(rec(&mut st, 110, "alice").await, HitVerdict::Counted(1));
    assert_eq!(rec(&mut st, 120, "bob").await, HitVerdict::Counted(2));
    assert_eq!(rec(&mut st, 110, "alice").await, HitVerdict::Counted(2));
    assert_eq!(rec(&mut st, 112, "alice").await, HitVerdict::Counted(2));
    assert_eq!(rec(&mut st, 175, "carol").await, HitVerdict::Counted(2));
    assert_eq!(rec(&mut st, 176, "dave").await, HitVerdict::Counted(3));
    assert_eq!(rec(&mut st, 177, "erin").await, HitVerdict::Counted(3));
}

/// A plain threshold's decision with `members` (window 60 s, count 3, tolerance 10 s; no dedup,
/// no rate limit).
fn member_decision<'a>(key: &'a str, secs: i64, members: &'a [String]) -> Decision<'a> {
    Decision {
        key,
        rate_key: "r",
        at: T0 + secs * SEC,
        threshold: Some((60 * SEC, 3, 10 * SEC)),
        members,
        test_only: false,
        dedup: 0,
        rate: 0,
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Members decided in one script call (`decide_batch`, the pipeline's path) give the verdicts of
/// memory: a member held once at its newest hit, several members (`near` parts) from one match,
/// a late hit, and plain groups in the same call.
#[tokio::test]
async fn members_count_once_in_a_redis_batch_as_in_memory() {
    let seq: [(i64, &[&str]); 11] = [
        (100, &["alice"]),
        (110, &["alice"]),
        (120, &["bob"]),
        (110, &["alice"]),
        (112, &["alice"]),
        (175, &["carol"]),
        (176, &["dave"]),
        (177, &["erin"]),
        (150, &["alice"]),
        (178, &["0", "1"]),
        (179, &["0", "1", "2"]),
    ];
    let members: Vec<Vec<String>> = seq.iter().map(|(_, m)| strings(m)).collect();
    let mut ds = Vec::new();
    for (i, (secs, _)) in seq.iter().enumerate() {
        ds.push(member_decision("k", *secs, &members[i]));
        // A plain group in the same call, counting every decision.
        ds.push(member_decision("plain", *secs, &[]));
    }
    let mut memory = MemoryAlertState::new(16);
    let want: Vec<Outcome> = ds.iter().map(|d| decide_now(&mut memory, d)).collect();
    let distinct: Vec<Outcome> = want.iter().step_by(2).copied().collect();
    assert_eq!(
        distinct,
        [
            Outcome::BelowThreshold,
            Outcome::BelowThreshold,
            Outcome::BelowThreshold,
            Outcome::BelowThreshold,
            Outcome::BelowThreshold,
            // alice (newest 112) left [115, 175]: bob and carol.
            Outcome::BelowThreshold,
            Outcome::Alert(3),
            // Counting started again after the alert.
            Outcome::BelowThreshold,
            Outcome::Late,
            // erin and two `near` parts of one match.
            Outcome::Alert(3),
            Outcome::Alert(3),
        ]
    );
    let mut redis = state(&prefix("members-batch")).await;
    assert_eq!(redis.decide_batch(&ds).await, want);
    let stats = redis.stats();
    assert_eq!(
        (stats.backend_errors, stats.fallback_ops),
        (0, 0),
        "{stats:?}"
    );
}

/// A distinct count larger than one script call (and than Lua's unpack limit per chunk): the
/// group's members survive from call to call, repeated members count once, as in memory.
#[tokio::test]
async fn a_large_distinct_count_spans_script_calls_as_in_memory() {
    let members: Vec<Vec<String>> = (0..2800i64)
        .map(|i| {
            // Every fifth match repeats an earlier member (older or newer than its hit).
            let m = if i % 5 == 4 { (i * 7) % (i - 1) } else { i };
            vec![format!("user-{m}")]
        })
        .collect();
    let ds: Vec<Decision<'_>> = members
        .iter()
        .enumerate()
        .map(|(i, m)| Decision {
            threshold: Some((3600 * SEC, 2000, 60 * SEC)),
            ..member_decision("big", i as i64 - (i as i64 % 3), m)
        })
        .collect();
    let mut memory = MemoryAlertState::new(16);
    let want: Vec<Outcome> = ds.iter().map(|d| decide_now(&mut memory, d)).collect();
    assert!(
        want.contains(&Outcome::Alert(2000)),
        "the threshold is reached"
    );
    let mut redis = state(&prefix("members-large")).await;
    let got = redis.decide_batch(&ds).await;
    assert!(ds.len() > MAX_DECISIONS_PER_CALL);
    let first = got.iter().zip(&want).position(|(g, w)| g != w);
    assert_eq!(first, None, "first difference at {first:?}");
    let stats = redis.stats();
    assert_eq!(
        (stats.backend_errors, stats.fallback_ops),
        (0, 0),
        "{stats:?}"
    );
}

/// Sigma `count(user) by src_ip > 2` and `failed | near accepted` over a replay of old lines:
/// through Redis, match by match and staged, the alerts of memory.
#[tokio::test]
async fn sigma_distinct_counts_and_near_through_redis_alert_as_in_memory() {
    let sigma = |detection: &str| {
        let yaml = format!(
            "title: Correlated\nid: corr-redis\nlogsource:\n    product: linux\n    service: sshd\ndetection:\n{detection}level: high\n"
        );
        let mut loaded = load_str(&yaml, Some(Path::new("corr.yml")));
        assert!(loaded.errors.is_empty(), "{detection}: {:?}", loaded.errors);
        loaded.rules.remove(0)
    };
    let rules = [
        sigma(
            "    sel:\n        - 'Failed password'\n    timeframe: 2m\n    condition: sel | count(user) by src_ip > 2\n",
        ),
        sigma(
            "    failed:\n        - 'Failed password'\n    accepted:\n        - 'Accepted password'\n    timeframe: 1m\n    condition: failed | near accepted\n",
        ),
    ];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let recs: Vec<MapFields> = (0..2000i64)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let back = if i % 89 == 0 { 90 } else { (x % 31) as i64 };
            let ip = format!("198.18.9.{}", x % 7 + 1);
            let user = format!("user{}", (x >> 8) % 5);
            let verb = if (x >> 16).is_multiple_of(6) {
                "Accepted"
            } else {
                "Failed"
            };
            MapFields {
                message: format!("{verb} password for {user} from {ip} port 4242 ssh2"),
                timestamp_micros: Some(T0 + (i * 2 - back) * SEC),
                fields: [
                    ("process", "sshd"),
                    ("src_ip", &ip[..]),
                    ("user", &user[..]),
                ]
                .into_iter()
                // Every 13th line has no user: not counted by `count(user)`.
                .take(if i % 13 == 0 { 2 } else { 3 })
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            }
        })
        .collect();
    // What the rule set would match: the distinct count selects failures only.
    let applies = |rule: usize, r: &MapFields| rule == 1 || r.message.starts_with("Failed");
    let config = AlertingConfig {
        dedup_window: std::time::Duration::from_secs(30),
        ..AlertingConfig::default()
    };
    let clock = Arc::new(ManualClock::new(T0 + 200 * 86_400 * SEC));
    let mut memory = Alerter::in_memory(config.clone(), clock.clone());
    let mut want: Verdicts = Vec::new();
    for r in &recs {
        for (i, rule) in rules.iter().enumerate() {
            if applies(i, r) {
                want.push(memory.observe(rule, r).map(|a| a.description));
            }
        }
    }
    let expected = memory.counters();
    for n in [
        expected.alerts,
        expected.late,
        expected.below_threshold,
        expected.deduplicated,
        expected.missing_group_field,
    ] {
        assert!(n > 0, "{expected:?}");
    }
    assert!(
        want.iter()
            .flatten()
            .any(|d| d.contains("distinct user values"))
            && want.iter().flatten().any(|d| d.contains("`near` parts")),
        "both rules alert"
    );

    let mut one = Alerter::new(
        config.clone(),
        state(&prefix("sigma-one")).await,
        clock.clone(),
    );
    let mut got: Verdicts = Vec::new();
    for r in &recs {
        for (i, rule) in rules.iter().enumerate() {
            if applies(i, r) {
                got.push(one.observe_async(rule, r).await.map(|a| a.description));
            }
        }
    }
    assert_eq!(one.counters(), expected);
    assert!(
        got == want,
        "first difference at {:?}",
        first_difference(&got, &want)
    );

    let mut staged = Alerter::new(config, state(&prefix("sigma-staged")).await, clock);
    let mut waiting = Vec::new();
    for r in &recs {
        for (i, rule) in rules.iter().enumerate() {
            if applies(i, r) {
                // A line without the counted field: counted, not staged.
                waiting.push((r, staged.stage(rule, r)));
            }
        }
    }
    let matches: Vec<_> = waiting.iter().filter_map(|(_, s)| s.clone()).collect();
    let mut counts = staged.decide_staged(&matches).await.into_iter();
    let got: Verdicts = waiting
        .iter()
        .map(|(r, s)| {
            let s = s.as_ref()?;
            let c = counts.next().expect("one verdict per staged match")?;
            Some(staged.staged_alert(s, *r, c).description)
        })
        .collect();
    assert_eq!(staged.counters(), expected);
    assert!(
        got == want,
        "first difference at {:?}",
        first_difference(&got, &want)
    );
    let stats = staged.state_stats();
    assert_eq!(
        (stats.backend_errors, stats.fallback_ops),
        (0, 0),
        "{stats:?}"
    );
}
