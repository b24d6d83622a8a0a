//! NATS JetStream transport of flow telemetry: a publisher that buffers (bounded) through outages and a durable
//! pull consumer that feeds the scorer.
//!
//! The stream (`[ids] stream`, subject `[ids] subject`) is created when missing, by whichever side comes first.
//! Delivery is at least once: a publish whose ack does not arrive is retried, and the consumer acks each message
//! only once everything derived from it is stored (see [`consume_loop`]); a redelivery of a message
//! it still holds is skipped, one of a message already acked (the ack lost in a reconnect) counts one
//! extra attempt.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;
use ironpost_core::ack::{Ack, Status, StatusCell};
use ironpost_core::metrics::prometheus::IntCounter;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use ironpost_core::error_chain;

use crate::config::NatsConfig;
use crate::error::IdsError;
use crate::features::FlowEvent;

/// A telemetry message larger than this is refused (counted as invalid): a flow event is about 100 bytes.
pub const MAX_FLOW_BYTES: usize = 4096;
/// Events published before their acks are awaited together.
const PUBLISH_BATCH: usize = 256;
const ACK_TIMEOUT: Duration = Duration::from_secs(5);
const RETRY_BACKOFF: Duration = Duration::from_millis(250);
/// Stream bounds: telemetry is only useful for seconds; keep an hour, at most 256 MiB.
const STREAM_MAX_AGE: Duration = Duration::from_secs(3600);
const STREAM_MAX_BYTES: i64 = 256 * 1024 * 1024;

/// Connects without failing when the server is down: the client keeps retrying in the background.
/// No authentication, no TLS files: [`connect_with`] has them.
pub async fn connect(
    url: &str,
    name: &str,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connection_timeout(CONNECT_TIMEOUT)
        .connect(url)
        .await
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Connects with the authentication and TLS of `[ids.nats]`. The files are read first (an error
/// names the key and the path). One attempt is made at once: a server that refuses the
/// credentials or the TLS set-up is a configuration error, returned as
/// [`IdsError::NatsConnect`]. A server that is down or unreachable is not: the client is then
/// returned and keeps connecting in the background, like [`connect`].
pub async fn connect_with(
    url: &str,
    name: &str,
    cfg: &NatsConfig,
) -> Result<async_nats::Client, IdsError> {
    connect_servers(&[url], name, cfg, "ids.nats").await
}

/// [`connect_with`] for a cluster (the client picks a server and fails over to the others) and
/// another config section (`section` prefixes the keys that errors name, e.g. `fleet.nats`).
pub async fn connect_servers(
    urls: &[&str],
    name: &str,
    cfg: &NatsConfig,
    section: &'static str,
) -> Result<async_nats::Client, IdsError> {
    let shown = || urls.iter().map(|u| redact(u)).collect::<Vec<_>>().join(",");
    let first = options(name, cfg, section).await?.connect(urls).await;
    match first {
        Ok(client) => Ok(client),
        Err(e) if is_transient(&e) => {
            warn!(url = %shown(), error = %error_chain(&e), "NATS unreachable; connecting in the background");
            options(name, cfg, section)
                .await?
                .retry_on_initial_connect()
                .connect(urls)
                .await
                .map_err(|source| IdsError::NatsConnect {
                    url: shown(),
                    source,
                })
        }
        Err(source) => Err(IdsError::NatsConnect {
            url: shown(),
            source,
        }),
    }
}

/// Failures that a later attempt may not meet: the server is down, restarting or far. A TLS
/// handshake that fails (an untrusted certificate, a server without TLS when it is required)
/// surfaces as an I/O error of kind `InvalidData` (rustls's error inside): not transient.
fn is_transient(e: &async_nats::ConnectError) -> bool {
    use async_nats::ConnectErrorKind as K;
    match e.kind() {
        K::TimedOut | K::Dns | K::MaxReconnects => true,
        K::Io => !ironpost_core::error::chain(e).any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData)
        }),
        _ => false,
    }
}

/// The client options for `cfg`, its files checked.
async fn options(
    name: &str,
    cfg: &NatsConfig,
    section: &'static str,
) -> Result<async_nats::ConnectOptions, IdsError> {
    let read = |field: &'static str, path: &Path| {
        let path = path.to_path_buf();
        async move {
            match tokio::fs::read_to_string(&path).await {
                Ok(text) => Ok((text, path)),
                Err(source) => Err(IdsError::NatsFile {
                    section,
                    field,
                    path,
                    source,
                }),
            }
        }
    };
    let content = |field, path: PathBuf, reason| IdsError::NatsFileContent {
        section,
        field,
        path,
        reason,
    };
    let mut o = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(CONNECT_TIMEOUT);
    if let Some(p) = &cfg.creds_file {
        let (text, path) = read("creds_file", p).await?;
        o = o.credentials(&text).map_err(|_| {
            content(
                "creds_file",
                path,
                "is not a NATS credentials file (a user JWT and an NKey seed)",
            )
        })?;
    }
    if let Some(p) = &cfg.nkey_seed_file {
        let (text, path) = read("nkey_seed_file", p).await?;
        let seed = text.trim();
        // A user seed: `S` (seed) + `U` (user) prefix, base32, one line.
        if !(seed.starts_with("SU") && seed.len() == 58 && !seed.contains(char::is_whitespace)) {
            return Err(content(
                "nkey_seed_file",
                path,
                "does not hold one user NKey seed (SU…)",
            ));
        }
        o = o.nkey(seed.to_owned());
    }
    if let (Some(u), Some(p)) = (&cfg.user, &cfg.password) {
        o = o.user_and_password(u.clone(), p.clone());
    }
    if let Some(t) = &cfg.token {
        o = o.token(t.clone());
    }
    for (field, path) in [
        ("ca_file", &cfg.ca_file),
        ("client_cert", &cfg.client_cert),
        ("client_key", &cfg.client_key),
    ] {
        if let Some(p) = path {
            let (text, path) = read(field, p).await?;
            if !text.contains("-----BEGIN ") {
                return Err(content(field, path, "holds no PEM block"));
            }
        }
    }
    if let Some(ca) = &cfg.ca_file {
        o = o.add_root_certificates(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&cfg.client_cert, &cfg.client_key) {
        o = o.add_client_certificate(cert.clone(), key.clone());
    }
    if cfg.tls_required {
        o = o.require_tls(true);
    }
    Ok(o)
}

/// `url` with a password (or token) between `//` and `@` replaced by `***`.
pub fn redact(url: &str) -> String {
    let (Some(s), Some(a)) = (url.find("//"), url.rfind('@')) else {
        return url.to_owned();
    };
    if a <= s {
        return url.to_owned();
    }
    match url[s + 2..a].split_once(':') {
        Some((user, _)) => format!("{}{user}:***{}", &url[..s + 2], &url[a..]),
        None => format!("{}***{}", &url[..s + 2], &url[a..]),
    }
}

/// The telemetry stream, created when missing.
pub async fn ensure_stream(
    js: &jetstream::Context,
    name: &str,
    subject: &str,
) -> Result<stream::Stream, IdsError> {
    js.get_or_create_stream(stream::Config {
        name: name.to_owned(),
        subjects: vec![subject.to_owned()],
        max_age: STREAM_MAX_AGE,
        max_bytes: STREAM_MAX_BYTES,
        discard: stream::DiscardPolicy::Old,
        ..Default::default()
    })
    .await
    .map_err(|source| IdsError::Stream {
        stream: name.to_owned(),
        subject: subject.to_owned(),
        source,
    })
}

/// Deletes a stream (tests and tools clean up after themselves); a missing stream is not an error.
pub async fn delete_stream(client: async_nats::Client, name: &str) -> Result<(), IdsError> {
    match jetstream::new(client).delete_stream(name).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(source) => Err(IdsError::DeleteStream {
            stream: name.to_owned(),
            source,
        }),
    }
}

fn is_not_found(e: &jetstream::context::DeleteStreamError) -> bool {
    matches!(
        e.kind(),
        jetstream::context::DeleteStreamErrorKind::JetStream(j)
            if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}

/// Counters of a publisher.
#[derive(Debug, Clone)]
pub struct PublishMetrics {
    /// Events the server acknowledged.
    pub published: IntCounter,
    /// Publish attempts that failed or were not acknowledged in time (each is retried).
    pub retried: IntCounter,
}

/// Publishes what arrives on `rx` until it closes (then flushes what is queued) or `stop` turns true. Each
/// event is retried until JetStream acknowledges it; while NATS is down events wait in `rx`, whose capacity
/// is the bounded buffer (senders count what does not fit).
pub async fn publish_loop(
    client: async_nats::Client,
    stream_name: String,
    subject: String,
    mut rx: mpsc::Receiver<FlowEvent>,
    metrics: PublishMetrics,
    mut stop: watch::Receiver<bool>,
) {
    let js = jetstream::new(client);
    let mut stream_ready = false;
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, PUBLISH_BATCH) => if n == 0 { return },
            _ = stop.wait_for(|s| *s) => return,
        }
        let mut pending: Vec<Vec<u8>> = batch
            .drain(..)
            .filter_map(|e| serde_json::to_vec(&e).ok())
            .collect();
        while !pending.is_empty() {
            if !stream_ready {
                match ensure_stream(&js, &stream_name, &subject).await {
                    Ok(_) => stream_ready = true,
                    Err(e) => {
                        warn!(error = %error_chain(&e), "telemetry publisher waiting for JetStream");
                        metrics.retried.inc();
                        if sleep_or_stop(&mut stop).await {
                            return;
                        }
                        continue;
                    }
                }
            }
            let mut acks = Vec::with_capacity(pending.len());
            for p in &pending {
                acks.push(js.publish(subject.clone(), p.clone().into()).await);
            }
            let mut failed = Vec::new();
            for (p, ack) in pending.drain(..).zip(acks) {
                let ok = match ack {
                    Ok(fut) => matches!(tokio::time::timeout(ACK_TIMEOUT, fut).await, Ok(Ok(_))),
                    Err(_) => false,
                };
                if ok {
                    metrics.published.inc();
                } else {
                    metrics.retried.inc();
                    failed.push(p);
                }
            }
            if !failed.is_empty() {
                // The stream may have been deleted, or the server restarted without it.
                stream_ready = false;
                pending = failed;
                if sleep_or_stop(&mut stop).await {
                    return;
                }
            }
        }
    }
}

/// True when `stop` turned true during the backoff.
async fn sleep_or_stop(stop: &mut watch::Receiver<bool>) -> bool {
    let stopped = tokio::select! {
        _ = tokio::time::sleep(RETRY_BACKOFF) => false,
        _ = stop.wait_for(|s| *s) => true,
    };
    stopped || *stop.borrow()
}

/// Counters of the consumer.
#[derive(Debug, Clone)]
pub struct ConsumeMetrics {
    pub received: IntCounter,
    /// Messages that were not a flow event (or over [`MAX_FLOW_BYTES`]); acked and skipped.
    pub invalid: IntCounter,
    /// Messages acknowledged once their token resolved as delivered.
    pub acked: IntCounter,
    /// Messages handed back (`-NAK`) because something derived from them was lost.
    pub nacked: IntCounter,
    /// Redeliveries of a message still held (its ack wait ran out while its window or the store
    /// held it): skipped, the held copy is acknowledged in time.
    pub redelivered: IntCounter,
}

/// How often resolved tokens are turned into JetStream acks.
const SETTLE_EVERY: Duration = Duration::from_millis(100);

/// Messages handed on and not yet acknowledged, by stream sequence.
type Held = std::collections::HashMap<u64, (StatusCell, jetstream::Message)>;

/// Acks the held messages whose tokens resolved as delivered and naks the failed ones.
async fn settle(held: &mut Held, metrics: &ConsumeMetrics) {
    let done: Vec<u64> = held
        .iter()
        .filter(|(_, (s, _))| s.get() != Status::Pending)
        .map(|(seq, _)| *seq)
        .collect();
    for seq in done {
        let Some((status, msg)) = held.remove(&seq) else {
            continue;
        };
        let result = if status.get() == Status::Delivered {
            metrics.acked.inc();
            msg.ack().await
        } else {
            metrics.nacked.inc();
            msg.ack_with(jetstream::AckKind::Nak(None)).await
        };
        if let Err(e) = result {
            // Unacknowledged: JetStream redelivers it after its ack wait; replaying it stores
            // nothing twice.
            warn!(error = %e, "cannot ack a telemetry message");
        }
    }
}

/// Where the consumer reports why it is not consuming (None while it is).
pub type ConsumerStatus = std::sync::Arc<std::sync::Mutex<Option<String>>>;

/// Reads the durable pull consumer into `out` until `stop`; re-creates stream, consumer and subscription
/// after any error. Each flow goes out with an acknowledgement token (`ironpost_core::ack`); the
/// message is acked to JetStream only once the token resolved, i.e. once the scorer let go of it
/// and any alert derived from it is stored. A message whose token failed is handed back (`-NAK`)
/// for redelivery; one still held at stop stays unacknowledged and is redelivered after a restart
/// (its ack wait, 30 s), where deterministic alert ids make the replay store nothing twice.
#[allow(clippy::too_many_arguments)]
pub async fn consume_loop(
    client: async_nats::Client,
    stream_name: String,
    subject: String,
    durable: String,
    out: mpsc::Sender<(FlowEvent, Ack)>,
    metrics: ConsumeMetrics,
    status: ConsumerStatus,
    mut stop: watch::Receiver<bool>,
) {
    let set = |reason: Option<String>| {
        if let Ok(mut s) = status.lock() {
            *s = reason;
        }
    };
    let js = jetstream::new(client);
    let mut held = Held::new();
    let mut settle_tick = tokio::time::interval(SETTLE_EVERY);
    settle_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let messages = async {
            let stream = ensure_stream(&js, &stream_name, &subject).await?;
            let consumer = stream
                .get_or_create_consumer(
                    &durable,
                    consumer::pull::Config {
                        durable_name: Some(durable.clone()),
                        deliver_policy: consumer::DeliverPolicy::New,
                        ack_policy: consumer::AckPolicy::Explicit,
                        max_ack_pending: 20_000,
                        ..Default::default()
                    },
                )
                .await
                .map_err(|source| IdsError::Consumer {
                    durable: durable.clone(),
                    source,
                })?;
            consumer
                .messages()
                .await
                .map_err(|source| IdsError::Subscribe {
                    durable: durable.clone(),
                    source,
                })
        };
        let mut messages = tokio::select! {
            m = messages => m,
            _ = stop.wait_for(|s| *s) => return,
        };
        match &mut messages {
            Ok(_) => {
                info!(stream = %stream_name, durable = %durable, "consuming flow telemetry from NATS");
                set(None);
            }
            Err(e) => {
                let reason = error_chain(e);
                warn!(error = %reason, "cannot consume flow telemetry; retrying");
                set(Some(reason));
            }
        }
        if let Ok(messages) = &mut messages {
            loop {
                enum Step<T> {
                    Next(T),
                    Settle,
                    Stop,
                }
                let step = tokio::select! {
                    n = messages.next() => Step::Next(n),
                    _ = settle_tick.tick() => Step::Settle,
                    _ = stop.wait_for(|s| *s) => Step::Stop,
                };
                let next = match step {
                    Step::Next(n) => n,
                    Step::Settle => {
                        settle(&mut held, &metrics).await;
                        continue;
                    }
                    Step::Stop => {
                        settle(&mut held, &metrics).await;
                        return;
                    }
                };
                let msg = match next {
                    Some(Ok(m)) => m,
                    Some(Err(source)) => {
                        let reason = error_chain(&IdsError::Messages {
                            durable: durable.clone(),
                            source,
                        });
                        warn!(error = %reason, "telemetry subscription failed; re-subscribing");
                        set(Some(reason));
                        break;
                    }
                    None => break,
                };
                metrics.received.inc();
                let seq = msg.info().map(|i| i.stream_sequence).ok();
                if let Some(seq) = seq
                    && held.contains_key(&seq)
                {
                    metrics.redelivered.inc();
                    continue;
                }
                match (parse_flow(&msg.payload), seq) {
                    (Some(ev), Some(seq)) => {
                        let (ack, status) = Ack::new();
                        held.insert(seq, (status, msg));
                        if out.send((ev, ack)).await.is_err() {
                            return;
                        }
                    }
                    (ev, _) => {
                        match ev {
                            None => metrics.invalid.inc(),
                            // No JetStream metadata (not seen on a pull consumer): handed on
                            // without a token.
                            Some(ev) => {
                                if out.send((ev, Ack::none())).await.is_err() {
                                    return;
                                }
                            }
                        }
                        if let Err(e) = msg.ack().await {
                            warn!(error = %e, "cannot ack a telemetry message");
                        }
                    }
                }
            }
        }
        settle(&mut held, &metrics).await;
        if sleep_or_stop(&mut stop).await {
            return;
        }
    }
}

/// A flow event from a message payload, or None when it is too large or not one.
pub fn parse_flow(payload: &[u8]) -> Option<FlowEvent> {
    if payload.len() > MAX_FLOW_BYTES {
        return None;
    }
    serde_json::from_slice(payload).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_flow_cases() {
        let ok = br#"{"ts": 1700000000.5, "pid": 0, "saddr": "10.0.0.5", "daddr": "10.0.0.9", "dport": 80}"#;
        let ev = parse_flow(ok).expect("seed message");
        assert_eq!(ev.dport, 80);
        assert!(
            parse_flow(br#"{"ts":1,"saddr":"10.0.0.5","daddr":"10.0.0.9","dport":80}"#).is_some()
        );
        for bad in [
            &b"not json"[..],
            br#"{"ts":1,"saddr":"nope","daddr":"10.0.0.9","dport":80}"#,
            br#"{"ts":1,"saddr":"10.0.0.5","daddr":"10.0.0.9","dport":70000}"#,
            br#"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"#,
        ] {
            assert!(parse_flow(bad).is_none(), "{}", String::from_utf8_lossy(bad));
        }
        let mut big = br#"{"ts":1,"saddr":"10.0.0.5","daddr":"10.0.0.9","dport":80,"x":""#.to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_FLOW_BYTES));
        big.extend_from_slice(b"\"}");
        assert!(parse_flow(&big).is_none());
    }
}
