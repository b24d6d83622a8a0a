//! Inbound: a watcher over the bucket with its history (the last value of every key, then live
//! changes) applies decisions from other nodes that are still in force, and removes a block
//! whose key was deleted. A watcher that ends is re-opened with the history again, which is how
//! a node catches up after an outage; a revision already applied is skipped.
//!
//! Entries that arrive together (whatever the watcher has ready, up to [`MAX_BATCH`]) are
//! applied as one batch: each block goes to the kernel map in turn, then one journal sync makes
//! them all durable ([`Enforcer::block_many`]). A delete in the batch first applies the blocks
//! before it, so the order of changes to a key is kept.
//!
//! Crash safety: the watcher acknowledges nothing (a key-value watcher is an ordered consumer
//! without acknowledgements) and remembers what it applied only in memory. A daemon that dies
//! between a block's map update and its journal sync starts again with a new watcher, which
//! reads the last value of every key and applies each decision still in force: a decision
//! stays in the bucket until it is deleted or expires, so none is lost.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::kv;
use chrono::Utc;
use futures_util::StreamExt;
use ironpost_core::{Health, error_chain};
use tokio::sync::watch;
use tracing::{info, warn};

use super::{Inner, REMOTE_REASON_PREFIX, RemoteBlock};
use crate::decision::{Decision, cidr_of};

/// How often the watcher re-reads the bucket's history.
const RESYNC: Duration = Duration::from_secs(30);
/// At most this many entries the watcher has ready are applied as one batch.
pub(super) const MAX_BATCH: usize = 256;

pub(super) async fn watch_loop(
    inner: Arc<Inner>,
    store: kv::Store,
    mut stop: watch::Receiver<bool>,
) {
    // Revision last applied per key: a re-opened watcher replays the history, which is skipped.
    let mut seen: HashMap<String, u64> = HashMap::new();
    loop {
        match store.watch_with_history(">").await {
            Ok(w) => {
                // Whatever the watcher has ready, as one batch (one journal sync).
                let mut w = w.ready_chunks(MAX_BATCH);
                inner.set_health(Health::Healthy);
                // A watcher whose server died may go quiet instead of failing: re-read the
                // history every RESYNC (revisions already applied are skipped).
                let resync = tokio::time::sleep(RESYNC);
                tokio::pin!(resync);
                loop {
                    tokio::select! {
                        _ = &mut resync => {
                            inner.metrics.resyncs.inc();
                            break;
                        }
                        chunk = w.next() => match chunk {
                            Some(chunk) => {
                                if let Err(e) = apply_chunk(&inner, &mut seen, chunk).await {
                                    warn!(error = %error_chain(&e), "fleet: watcher failed; re-opening");
                                    inner.metrics.resyncs.inc();
                                    break;
                                }
                            }
                            None => break,
                        },
                        _ = stop.changed() => return,
                    }
                }
            }
            Err(e) => {
                let why = error_chain(&e);
                warn!(error = %why, "fleet: cannot watch the bucket; retrying");
                inner.set_health(Health::Degraded(why));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// A decision to apply, waiting for its batch.
struct Staged {
    block: RemoteBlock,
    origin: String,
    decided_at: chrono::DateTime<Utc>,
    /// A live change (not the history replayed when the watcher opened).
    live: bool,
}

/// Applies the entries of a chunk in order; an error of the watcher ends the chunk (the
/// entries before it are applied) and is returned.
async fn apply_chunk(
    inner: &Inner,
    seen: &mut HashMap<String, u64>,
    chunk: Vec<Result<kv::Entry, kv::WatcherError>>,
) -> Result<(), kv::WatcherError> {
    let mut staged = Vec::new();
    for e in chunk {
        let entry = match e {
            Ok(entry) => entry,
            Err(e) => {
                apply_blocks(inner, std::mem::take(&mut staged)).await;
                return Err(e);
            }
        };
        match stage(inner, seen, &entry) {
            Step::Block(s) => staged.push(s),
            Step::Unblock => {
                // The blocks before it first.
                apply_blocks(inner, std::mem::take(&mut staged)).await;
                unblock(inner, &entry).await;
            }
            Step::Skip => {}
        }
    }
    apply_blocks(inner, staged).await;
    Ok(())
}

/// What to do with an entry.
enum Step {
    Block(Staged),
    Unblock,
    /// Counted already (duplicate, invalid, own, unverified, expired).
    Skip,
}

/// Sorts out one entry; what is skipped is counted here.
fn stage(inner: &Inner, seen: &mut HashMap<String, u64>, entry: &kv::Entry) -> Step {
    let m = &inner.metrics;
    let outcome = |o: &str| m.received.with_label_values(&[o]).inc();
    if seen.get(&entry.key) == Some(&entry.revision) {
        outcome("duplicate");
        return Step::Skip;
    }
    seen.insert(entry.key.clone(), entry.revision);
    if !matches!(entry.operation, kv::Operation::Put) {
        return Step::Unblock;
    }
    let d = match Decision::parse(&entry.key, &entry.value) {
        Ok(d) => d,
        Err(r) => {
            m.invalid.with_label_values(&[r.as_str()]).inc();
            return Step::Skip;
        }
    };
    if d.origin == inner.node {
        outcome("own");
        return Step::Skip;
    }
    if !d.evidence.is_verified() && !inner.cfg.share_unverified {
        outcome("unverified");
        return Step::Skip;
    }
    if !d.live_at(Utc::now()) {
        outcome("expired");
        return Step::Skip;
    }
    let reason = format!("{REMOTE_REASON_PREFIX}{}: {}", d.origin, d.reason);
    Step::Block(Staged {
        block: RemoteBlock {
            cidr: d.cidr,
            expires_at: d.expires_at,
            evidence: d.evidence,
            reason,
            alert_id: d.alert_id,
        },
        origin: d.origin,
        decided_at: d.decided_at,
        live: entry.seen_current,
    })
}

/// A key's delete marker: the local block goes.
async fn unblock(inner: &Inner, entry: &kv::Entry) {
    let m = &inner.metrics;
    let Some(cidr) = cidr_of(&entry.key) else {
        return m.invalid.with_label_values(&["bad_key"]).inc();
    };
    let outcome = match inner.enforcer.unblock(cidr).await {
        Ok(()) => "unblocked",
        Err(e) => {
            warn!(cidr = %cidr, error = %error_chain(e.as_ref()), "fleet: remote unblock failed");
            "failed"
        }
    };
    m.received.with_label_values(&[outcome]).inc();
}

/// Applies a batch of blocks: the kernel map updates, then one journal sync.
async fn apply_blocks(inner: &Inner, staged: Vec<Staged>) {
    if staged.is_empty() {
        return;
    }
    let m = &inner.metrics;
    let started = Instant::now();
    let blocks = staged.iter().map(|s| s.block.clone()).collect();
    let results = inner.enforcer.block_many(blocks).await;
    let took = started.elapsed().as_secs_f64();
    m.apply_batch.observe(staged.len() as f64);
    for (s, r) in staged.iter().zip(results) {
        m.apply_duration.observe(took);
        match r {
            Ok(in_force) => {
                // Origin's decision -> in force here (the kernel map update, before the sync).
                if s.live {
                    m.consume_lag.observe(
                        (in_force - s.decided_at)
                            .to_std()
                            .unwrap_or_default()
                            .as_secs_f64(),
                    );
                }
                info!(cidr = %s.block.cidr, origin = %s.origin, expires_at = ?s.block.expires_at, "fleet: remote block applied");
                m.received.with_label_values(&["applied"]).inc();
            }
            Err(e) => {
                warn!(cidr = %s.block.cidr, error = %error_chain(e.as_ref()), "fleet: remote block failed");
                m.received.with_label_values(&["failed"]).inc();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::Mutex;

    use ironpost_core::net::Cidr;
    use ironpost_core::{BoxFuture, Evidence};

    use super::*;
    use crate::config::FleetConfig;
    use crate::module::{BoxError, Enforcer, FleetModule, LocalBlock};
    use crate::node::{ModuleHealth, NodeStatus};

    /// Records the calls the watcher makes, in order.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);
    impl Enforcer for Recorder {
        fn block_many(
            &self,
            blocks: Vec<RemoteBlock>,
        ) -> BoxFuture<'_, Vec<Result<chrono::DateTime<Utc>, BoxError>>> {
            let names: Vec<String> = blocks.iter().map(|b| b.cidr.to_string()).collect();
            self.0
                .lock()
                .unwrap()
                .push(format!("block {}", names.join(" ")));
            Box::pin(async move { blocks.iter().map(|_| Ok(Utc::now())).collect() })
        }
        fn unblock(&self, cidr: Cidr) -> BoxFuture<'_, Result<(), BoxError>> {
            self.0.lock().unwrap().push(format!("unblock {cidr}"));
            Box::pin(async { Ok(()) })
        }
        fn lookup(&self, _: IpAddr) -> Option<LocalBlock> {
            None
        }
    }
    struct NoStatus;
    impl NodeStatus for NoStatus {
        fn report(&self) -> BoxFuture<'_, (Vec<ModuleHealth>, usize)> {
            Box::pin(async { (Vec::new(), 0) })
        }
    }

    fn put(
        ip: &str,
        revision: u64,
        origin: &str,
        ttl_secs: i64,
    ) -> Result<kv::Entry, kv::WatcherError> {
        let cidr: Cidr = ip.parse().unwrap();
        let now = Utc::now();
        let d = Decision {
            cidr,
            origin: origin.into(),
            alert_id: None,
            evidence: Evidence::Verified,
            reason: "test".into(),
            decided_at: now,
            expires_at: Some(now + chrono::Duration::seconds(ttl_secs)),
        };
        Ok(entry(ip, revision, kv::Operation::Put, d.to_json()))
    }

    fn entry(ip: &str, revision: u64, operation: kv::Operation, value: Vec<u8>) -> kv::Entry {
        let cidr: Cidr = ip.parse().unwrap();
        kv::Entry {
            bucket: "b".into(),
            key: crate::decision::key_of(cidr),
            value: value.into(),
            revision,
            delta: 0,
            created: async_nats::datetime::parse_rfc3339("2026-01-01T00:00:00Z").unwrap(),
            operation,
            seen_current: true,
        }
    }

    /// A chunk's blocks are applied together (one `block_many`: one journal sync); a delete
    /// applies the blocks before it first, so each key's changes keep their order; duplicates,
    /// the node's own and expired decisions are counted and not applied.
    #[tokio::test]
    async fn a_chunk_is_one_batch_split_at_deletes_in_order() {
        let rec = Arc::new(Recorder::default());
        let r = ironpost_core::metrics::new_registry();
        let m = FleetModule::new(
            FleetConfig {
                node_name: "edge-b".into(),
                ..FleetConfig::default()
            },
            &r,
            rec.clone(),
            Arc::new(NoStatus),
        );
        let inner = &m.inner;
        let mut seen = HashMap::new();
        let chunk = vec![
            put("198.18.9.1/32", 1, "edge-a", 3600),
            put("198.18.9.2/32", 2, "edge-a", 3600),
            Ok(entry("198.18.9.1/32", 3, kv::Operation::Delete, Vec::new())),
            put("198.18.9.3/32", 4, "edge-a", 3600),
            put("198.18.9.2/32", 2, "edge-a", 3600),
            put("198.18.9.4/32", 5, "edge-b", 3600),
            put("198.18.9.5/32", 6, "edge-a", -1),
            put("198.18.9.6/32", 7, "edge-a", 3600),
        ];
        apply_chunk(inner, &mut seen, chunk).await.unwrap();
        assert_eq!(
            *rec.0.lock().unwrap(),
            [
                "block 198.18.9.1 198.18.9.2",
                "unblock 198.18.9.1",
                "block 198.18.9.3 198.18.9.6",
            ]
        );
        let got = |o: &str| inner.metrics.received.with_label_values(&[o]).get();
        assert_eq!(got("applied"), 4);
        assert_eq!(got("unblocked"), 1);
        assert_eq!(got("duplicate"), 1);
        assert_eq!(got("own"), 1);
        assert_eq!(got("expired"), 1);
        assert_eq!(inner.metrics.apply_batch.get_sample_count(), 2);
        assert_eq!(inner.metrics.apply_batch.get_sample_sum(), 4.0);
        assert_eq!(inner.metrics.consume_lag.get_sample_count(), 4);
    }
}
