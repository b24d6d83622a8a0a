//! [`RedisAlertState`]: [`AsyncAlertState`] shared through Redis, so several pipelines (threads,
//! nodes) count one threshold and raise one alert. The client is the maintained `redis` crate on
//! tokio: `redis://`, `rediss://` (TLS through rustls, with the system roots or the CA file of
//! `[log_pipeline.redis]`, and an optional client certificate) and `unix://` URLs; its
//! `ConnectionManager` multiplexes one connection and reconnects after a failure. No operation
//! blocks a thread: each is awaited by the pipeline worker, within `response_timeout`.
//!
//! Every operation is one script run (`EVALSHA`, loaded on first use), atomic on the server; the
//! scripts and the layout of a group's value are in `redis_state/scripts.rs`. A group (rule,
//! evidence class, group values) is one key, `g:<key>` (after the prefix), holding its newest
//! hit, its last alert and the hits inside its window — with their members for a distinct count
//! (Sigma `count(field)`) or `near`: a member already held keeps its newest hit only, as in
//! memory; the per-minute rate budgets are `rate:<rule>:<minute>` counters (`INCR`, `EXPIRE 120`).
//!
//! **Batches.** The pipeline worker does not wait for Redis match by match: it stages the
//! matches of a batch and [`AsyncAlertState::decide_batch`] decides up to
//! [`MAX_DECISIONS_PER_CALL`] of them in one script call (`MGET` of their groups, the same
//! decisions as in memory in record order, one `SET PX` per group changed), so a batch of 1,000
//! matching lines costs one round trip, not 1,000 to 4,000. The single operations (`record_hit`,
//! `clear_hits`, `claim_alert`, `release_alert`, `take_rate`) work on the same keys.
//! `tests/rules_redis.rs` replays lines dated years before the run through both paths and
//! requires the in-memory verdicts, alert for alert.
//!
//! **Differences from [`MemoryAlertState`].** Verdicts compare record times exactly as in memory
//! (late hits, windows, dedup). But a group's key also carries a wall-clock TTL (the longer of
//! window + tolerance and the dedup window, plus 60 s) so Redis forgets idle groups: replaying
//! logs *slower* than real time may forget a group early. Conversely the state outlives a run:
//! replaying the same lines again within the dedup window (a second node, a rerun) finds their
//! alerts already claimed and raises none. `take_rate` charges a record to its own minute (memory
//! charges an out-of-order record to the current minute). There is no `max_groups` bound: Redis's
//! `maxmemory` and the TTLs bound it, and `stats().groups` is 0 unless a fallback is in use.
//!
//! **Failure.** Constructing ([`RedisAlertState::connect`]) fails with an error naming the URL
//! (password redacted) when Redis cannot be reached, refuses the session, or does not answer
//! within `connect_timeout` + `response_timeout`. Later, an operation that fails (connection
//! lost, no reply within `response_timeout`, an error reply) is answered by an in-process
//! [`MemoryAlertState`] instead (fail open: matches keep being counted and can still alert, per
//! node), counted in [`StateStats::backend_errors`] and logged once per outage. A connection
//! failure or a timeout also marks Redis *down*: until a background probe (`PING` every second,
//! each within `response_timeout`) gets an answer, every operation goes straight to the fallback
//! without touching the network, so a blackholed Redis costs the pipeline one timeout per outage,
//! not one per match (nor per batch), and each match is then decided at once in process
//! ([`AsyncAlertState::try_decide`]), as cheaply as with the in-memory state. Fallback answers are
//! counted in [`StateStats::fallback_ops`] — one per match decided, or per single operation
//! answered (and in `ironpost_log_alert_state_fallback_total` when metrics are attached). A batch
//! whose call failed is decided by the fallback whole, in order. Nothing panics.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use ironpost_core::metrics::{self, prometheus};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, FromRedisValue, IntoConnectionInfo, RedisError, Script, ScriptInvocation};

use crate::pipeline::PipelineError;

use super::state::{
    AlertState, AsyncAlertState, Decision, HitVerdict, MemoryAlertState, Outcome, StateStats,
    decide_now,
};

mod scripts;

const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Keys kept in the fallback state during an outage.
const FALLBACK_GROUPS: usize = 100_000;
/// Longest TTL put on a key: 30 days, in milliseconds.
const MAX_TTL_MS: i64 = 30 * 24 * 3600 * 1000;
/// Most matches decided by one script call (a batch of more is sent as several calls).
pub const MAX_DECISIONS_PER_CALL: usize = 1024;

/// Where and how to reach Redis: the URL (`storage.redis_url`) and `[log_pipeline.redis]`.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// `redis://[[user]:password@]host[:port][/db]`, `rediss://…` (TLS) or `unix:///path`.
    pub url: String,
    /// PEM CA certificate(s) that verify a `rediss://` server instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain and key for servers that require TLS client auth.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Each connection attempt (TCP, TLS, AUTH, SELECT).
    pub connect_timeout: Duration,
    /// Each operation; past it the operation is answered by the fallback and Redis is down.
    pub response_timeout: Duration,
}

impl RedisOptions {
    /// `url` with the default timeouts (2 s to connect, 1 s per operation) and no TLS files.
    pub fn new(url: &str) -> RedisOptions {
        RedisOptions {
            url: url.to_owned(),
            ca_file: None,
            client_cert: None,
            client_key: None,
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(1),
        }
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &redact(&self.url))
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .finish()
    }
}

/// The counters a [`RedisAlertState`] reports, registered once per pipeline.
#[derive(Debug, Clone)]
pub struct AlertStateMetrics {
    errors: prometheus::IntCounter,
    fallback: prometheus::IntCounter,
}

impl AlertStateMetrics {
    pub fn new(r: &prometheus::Registry) -> Self {
        AlertStateMetrics {
            errors: metrics::int_counter(
                r,
                "log_alert_state_errors_total",
                "Shared (Redis) alert-state operations that failed: connection lost, no reply in time, error reply.",
            ),
            fallback: metrics::int_counter(
                r,
                "log_alert_state_fallback_total",
                "Alert-state decisions (one per match) and single operations answered in process because Redis failed or is down (fail open, per node).",
            ),
        }
    }
}

/// A `redis` crate error as a cause. Its message already includes the error it wraps (an I/O
/// error's text, the server's reply), so it ends the chain: printed once, not twice.
pub struct RedisCause(pub RedisError);

impl fmt::Display for RedisCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for RedisCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl std::error::Error for RedisCause {}

/// Whether Redis is usable, shared with the probe task.
#[derive(Debug, Default)]
struct Link {
    down: AtomicBool,
    probing: AtomicBool,
}

/// The scripts, hashed once.
struct Scripts {
    record_hit: Script,
    clear_hits: Script,
    claim_alert: Script,
    release_alert: Script,
    take_rate: Script,
    decide: Script,
}

/// [`AsyncAlertState`] in Redis, shared by every pipeline that uses the same URL and key prefix.
pub struct RedisAlertState {
    conn: ConnectionManager,
    /// The URL with its password redacted, for logs.
    url: String,
    prefix: String,
    scripts: Arc<Scripts>,
    response_timeout: Duration,
    link: Arc<Link>,
    /// Serves operations while Redis fails.
    fallback: MemoryAlertState,
    errors: u64,
    fallback_ops: u64,
    metrics: Option<AlertStateMetrics>,
    /// Logged the current outage already.
    warned: bool,
}

impl fmt::Debug for RedisAlertState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAlertState")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .field("down", &self.link.down.load(Ordering::Relaxed))
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

impl RedisAlertState {
    /// The key prefix for production use.
    pub const DEFAULT_PREFIX: &'static str = "ironpost:alert:";

    /// Connects (TLS, `AUTH` and `SELECT` as the URL says) and checks the server with `PING`.
    /// Keys are named `<prefix>g:…` and `<prefix>rate:…`; the daemon uses
    /// [`RedisAlertState::DEFAULT_PREFIX`], tests a unique one.
    pub async fn connect(opts: &RedisOptions, prefix: &str) -> Result<Self, PipelineError> {
        let url = redact(&opts.url);
        let client = client(opts, &url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(opts.connect_timeout))
            .set_response_timeout(Some(opts.response_timeout))
            // Reconnection after a failure runs in the background; operations meanwhile go to
            // the fallback, so a few quick attempts per failure are enough.
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(RETRY_AFTER);
        let budget = opts.connect_timeout + opts.response_timeout;
        let session = async {
            let mut conn = ConnectionManager::new_with_config(client, config)
                .await
                .map_err(|source| session_error(&url, source))?;
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map_err(|source| session_error(&url, source))?;
            Ok(conn)
        };
        let conn = tokio::time::timeout(budget, session).await.map_err(|_| {
            PipelineError::RedisTimeout {
                url: url.clone(),
                after: budget,
            }
        })??;
        Ok(RedisAlertState {
            conn,
            url,
            prefix: prefix.to_owned(),
            scripts: Arc::new(Scripts {
                record_hit: Script::new(&scripts::record_hit()),
                clear_hits: Script::new(&scripts::clear_hits()),
                claim_alert: Script::new(&scripts::claim_alert()),
                release_alert: Script::new(&scripts::release_alert()),
                take_rate: Script::new(&scripts::take_rate()),
                decide: Script::new(&scripts::decide()),
            }),
            response_timeout: opts.response_timeout,
            link: Arc::default(),
            fallback: MemoryAlertState::new(FALLBACK_GROUPS),
            errors: 0,
            fallback_ops: 0,
            metrics: None,
            warned: false,
        })
    }

    /// Reports errors and fallback answers in these counters too.
    pub fn with_metrics(mut self, metrics: AlertStateMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Whether operations currently go to the in-process fallback without trying Redis.
    pub fn is_down(&self) -> bool {
        self.link.down.load(Ordering::Relaxed)
    }

    /// Runs `script` with `keys` (names after the prefix) and `args`; its integer reply, or
    /// `None` when the fallback must answer (counted; logged once per outage).
    async fn run(
        &mut self,
        op: &'static str,
        script: fn(&Scripts) -> &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Option<i64> {
        if self.is_down() {
            self.count_fallback(1);
            return None;
        }
        let scripts = self.scripts.clone();
        let mut invocation = script(&scripts).prepare_invoke();
        for k in keys {
            invocation.key(format!("{}{k}", self.prefix));
        }
        for a in args {
            invocation.arg(*a);
        }
        let reply = self.invoke(op, &invocation).await;
        if reply.is_none() {
            self.count_fallback(1);
        }
        reply
    }

    /// Sends `invocation`; its reply, or `None` after a failure (counted, logged once per
    /// outage; a connection failure or a timeout marks Redis down).
    async fn invoke<T: FromRedisValue>(
        &mut self,
        op: &'static str,
        invocation: &ScriptInvocation<'_>,
    ) -> Option<T> {
        let reply = tokio::time::timeout(
            self.response_timeout,
            invocation.invoke_async::<T>(&mut self.conn),
        )
        .await;
        let (error, down) = match reply {
            Ok(Ok(n)) => {
                if self.warned {
                    tracing::info!(url = %self.url, "Redis alert state reachable again");
                    self.warned = false;
                }
                return Some(n);
            }
            Ok(Err(e)) => {
                // An error reply leaves the connection usable; anything else does not.
                let down = e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal();
                (e.to_string(), down)
            }
            Err(_) => (
                format!("no reply within {} ms", self.response_timeout.as_millis()),
                true,
            ),
        };
        self.fail(op, &error, down);
        None
    }

    fn fail(&mut self, op: &'static str, error: &str, down: bool) {
        self.errors += 1;
        if let Some(m) = &self.metrics {
            m.errors.inc();
        }
        if !self.warned {
            tracing::warn!(
                url = %self.url, op, %error,
                "Redis alert state failed; using in-process state until it recovers"
            );
            self.warned = true;
        }
        if down {
            self.mark_down();
        }
    }

    /// Decides `ds` (at most [`MAX_DECISIONS_PER_CALL`]) in one script call; `None` when the
    /// fallback must decide them (the failure counted).
    async fn decide_remote(&mut self, ds: &[Decision<'_>]) -> Option<Vec<Outcome>> {
        let scripts = self.scripts.clone();
        let mut inv = scripts.decide.prepare_invoke();
        let mut name = String::new();
        let mut key = |inv: &mut ScriptInvocation<'_>, kind: &str, k: &str| {
            name.clear();
            name.push_str(&self.prefix);
            name.push_str(kind);
            name.push_str(k);
            inv.key(name.as_bytes());
        };
        for d in ds {
            key(&mut inv, "g:", d.key);
            if d.rate > 0 {
                let minute = d.at.div_euclid(60_000_000);
                key(&mut inv, "rate:", &format!("{}:{minute}", d.rate_key));
            } else {
                // Not read without a rate limit: the group's key again, without formatting.
                key(&mut inv, "g:", d.key);
            }
        }
        for d in ds {
            let (window, count, tolerance) = d.threshold.unwrap_or((-1, 0, 0));
            let ttl = window.max(0).saturating_add(tolerance).max(d.dedup);
            inv.arg(d.at)
                .arg(window)
                .arg(count)
                .arg(tolerance)
                .arg(u8::from(d.test_only))
                .arg(d.dedup)
                .arg(ttl_ms(ttl))
                .arg(d.rate)
                .arg(d.members.len());
            for m in d.members {
                inv.arg(m.as_str());
            }
        }
        let codes: Vec<i64> = self.invoke("decide", &inv).await?;
        if codes.len() != ds.len() {
            let error = format!("{} verdicts for {} matches", codes.len(), ds.len());
            self.fail("decide", &error, false);
            return None;
        }
        Some(
            codes
                .into_iter()
                .map(|c| match c {
                    -1 => Outcome::Late,
                    -2 => Outcome::BelowThreshold,
                    -3 => Outcome::TestOnly,
                    -4 => Outcome::Deduplicated,
                    -5 => Outcome::RateLimited,
                    n => Outcome::Alert(u32::try_from(n).unwrap_or(u32::MAX).max(1)),
                })
                .collect(),
        )
    }

    /// Decides `d` in process (Redis failed or is down), counted.
    fn decide_fallback(&mut self, d: &Decision<'_>) -> Outcome {
        self.count_fallback(1);
        decide_now(&mut self.fallback, d)
    }

    fn count_fallback(&mut self, n: u64) {
        self.fallback_ops += n;
        if let Some(m) = &self.metrics {
            m.fallback.inc_by(n);
        }
    }

    /// Sends operations to the fallback until a `PING` succeeds again (probed every second by a
    /// task that ends with this state).
    fn mark_down(&self) {
        self.link.down.store(true, Ordering::Relaxed);
        if self.link.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let link: Weak<Link> = Arc::downgrade(&self.link);
        let mut conn = self.conn.clone();
        let timeout = self.response_timeout;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RETRY_AFTER).await;
                let Some(link) = link.upgrade() else { return };
                let cmd = redis::cmd("PING");
                let ping = cmd.query_async::<String>(&mut conn);
                if let Ok(Ok(_)) = tokio::time::timeout(timeout, ping).await {
                    link.down.store(false, Ordering::Relaxed);
                    link.probing.store(false, Ordering::Release);
                    return;
                }
            }
        });
    }
}

/// The client for `opts`: plain, or TLS with the configured CA and client certificate.
fn client(opts: &RedisOptions, url: &str) -> Result<Client, PipelineError> {
    let info =
        opts.url
            .as_str()
            .into_connection_info()
            .map_err(|source| PipelineError::RedisUrl {
                url: url.to_owned(),
                source: RedisCause(source),
            })?;
    let read = |field: &'static str, path: &PathBuf| {
        std::fs::read(path).map_err(|source| PipelineError::RedisTlsFile {
            field,
            path: path.clone(),
            source,
        })
    };
    let root_cert = opts
        .ca_file
        .as_ref()
        .map(|p| read("ca_file", p))
        .transpose()?;
    let client_tls = match (&opts.client_cert, &opts.client_key) {
        (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
            client_cert: read("client_cert", cert)?,
            client_key: read("client_key", key)?,
        }),
        _ => None,
    };
    let built = if root_cert.is_some() || client_tls.is_some() {
        Client::build_with_tls(
            info,
            redis::TlsCertificates {
                client_tls,
                root_cert,
            },
        )
    } else {
        Client::open(info)
    };
    built.map_err(|source| PipelineError::RedisUrl {
        url: url.to_owned(),
        source: RedisCause(source),
    })
}

/// A failed session set-up: the server's error reply, or no usable connection.
fn session_error(url: &str, source: RedisError) -> PipelineError {
    let url = url.to_owned();
    let kind = source.kind();
    let source = RedisCause(source);
    if matches!(
        kind,
        redis::ErrorKind::Server(_) | redis::ErrorKind::AuthenticationFailed
    ) {
        PipelineError::RedisServer { url, source }
    } else {
        PipelineError::RedisConnect { url, source }
    }
}

/// `url` with anything between `//` and `@` but the user name replaced by `***`.
fn redact(url: &str) -> String {
    let (Some(s), Some(a)) = (url.find("//"), url.rfind('@')) else {
        return url.to_owned();
    };
    if a <= s {
        return url.to_owned();
    }
    let auth = &url[s + 2..a];
    match auth.split_once(':') {
        Some((user, _)) => format!("{}{user}:***{}", &url[..s + 2], &url[a..]),
        None => format!("{}***{}", &url[..s + 2], &url[a..]),
    }
}

/// Microseconds to a TTL in milliseconds, plus a minute of slack, within `1..=MAX_TTL_MS`.
fn ttl_ms(micros: i64) -> String {
    (micros / 1000)
        .saturating_add(60_000)
        .clamp(1, MAX_TTL_MS)
        .to_string()
}

impl AsyncAlertState for RedisAlertState {
    async fn record_hit(
        &mut self,
        key: &str,
        at: i64,
        window: i64,
        keep: u32,
        tolerance: i64,
        member: Option<&str>,
    ) -> HitVerdict {
        let group = format!("g:{key}");
        let args = [
            at.to_string(),
            window.to_string(),
            keep.max(1).to_string(),
            tolerance.to_string(),
            ttl_ms(window.saturating_add(tolerance)),
        ];
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.extend(member);
        match self
            .run("record_hit", |s| &s.record_hit, &[&group], &args)
            .await
        {
            Some(n) if n < 0 => HitVerdict::Late,
            Some(n) => HitVerdict::Counted(u32::try_from(n).unwrap_or(u32::MAX)),
            None => {
                AlertState::record_hit(&mut self.fallback, key, at, window, keep, tolerance, member)
            }
        }
    }

    async fn clear_hits(&mut self, key: &str) {
        AlertState::clear_hits(&mut self.fallback, key);
        let group = format!("g:{key}");
        self.run("clear_hits", |s| &s.clear_hits, &[&group], &[])
            .await;
    }

    async fn claim_alert(&mut self, key: &str, at: i64, dedup_window: i64) -> bool {
        let group = format!("g:{key}");
        let args = [
            at.to_string(),
            dedup_window.to_string(),
            ttl_ms(dedup_window),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match self
            .run("claim_alert", |s| &s.claim_alert, &[&group], &args)
            .await
        {
            Some(n) => n == 1,
            None => AlertState::claim_alert(&mut self.fallback, key, at, dedup_window),
        }
    }

    async fn release_alert(&mut self, key: &str, at: i64) {
        AlertState::release_alert(&mut self.fallback, key, at);
        let group = format!("g:{key}");
        self.run(
            "release_alert",
            |s| &s.release_alert,
            &[&group],
            &[&at.to_string()],
        )
        .await;
    }

    async fn take_rate(&mut self, rule_id: &str, at: i64, per_minute: u32) -> bool {
        let minute = at.div_euclid(60_000_000);
        let rate = format!("rate:{rule_id}:{minute}");
        match self.run("take_rate", |s| &s.take_rate, &[&rate], &[]).await {
            Some(n) => n <= i64::from(per_minute),
            None => AlertState::take_rate(&mut self.fallback, rule_id, at, per_minute),
        }
    }

    /// One script call per [`MAX_DECISIONS_PER_CALL`] matches; while Redis is down, or after a
    /// call failed, the fallback decides (each decision counted once in `fallback_ops`).
    async fn decide_batch(&mut self, ds: &[Decision<'_>]) -> Vec<Outcome> {
        let mut out = Vec::with_capacity(ds.len());
        for chunk in ds.chunks(MAX_DECISIONS_PER_CALL) {
            let remote = if self.is_down() {
                None
            } else {
                self.decide_remote(chunk).await
            };
            match remote {
                Some(v) => out.extend(v),
                None => out.extend(chunk.iter().map(|d| self.decide_fallback(d))),
            }
        }
        out
    }

    fn try_decide(&mut self, d: &Decision<'_>) -> Option<Outcome> {
        self.is_down().then(|| self.decide_fallback(d))
    }

    async fn decide(&mut self, d: &Decision<'_>) -> Outcome {
        let mut v = self.decide_batch(std::slice::from_ref(d)).await;
        v.pop()
            .unwrap_or_else(|| unreachable!("one verdict per decision"))
    }

    fn stats(&self) -> StateStats {
        StateStats {
            backend_errors: self.errors,
            fallback_ops: self.fallback_ops,
            ..AlertState::stats(&self.fallback)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact("redis://:pw@h:1/x"), "redis://:***@h:1/x");
        assert_eq!(redact("rediss://u:pw@h:1"), "rediss://u:***@h:1");
        assert_eq!(redact("redis://tok@h"), "redis://***@h");
        assert_eq!(redact("redis://h:6379/0"), "redis://h:6379/0");
        assert_eq!(redact("unix:///run/redis.sock"), "unix:///run/redis.sock");
    }

    #[test]
    fn bad_urls_are_refused_naming_the_url() {
        for url in [
            "http://x",
            "redis://x:port",
            "redis://x/db",
            "127.0.0.1:6379",
        ] {
            let e = client(&RedisOptions::new(url), &redact(url)).unwrap_err();
            assert!(matches!(e, PipelineError::RedisUrl { .. }), "{url}: {e:?}");
            assert!(e.to_string().contains(url), "{e}");
        }
    }

    #[test]
    fn a_missing_ca_file_names_the_field_and_path() {
        let mut opts = RedisOptions::new("rediss://127.0.0.1:6380");
        opts.ca_file = Some(PathBuf::from("/nonexistent-ironpost/ca.pem"));
        let e = client(&opts, &opts.url).unwrap_err();
        assert_eq!(
            e.to_string(),
            "log_pipeline.redis.ca_file: cannot read /nonexistent-ironpost/ca.pem"
        );
    }
}
