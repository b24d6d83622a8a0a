//! Inbound: a watcher over the bucket with its history (the last value of every key, then live
//! changes) applies decisions from other nodes that are still in force, and removes a block
//! whose key was deleted. A watcher that ends is re-opened with the history again, which is how
//! a node catches up after an outage; a revision already applied is skipped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::kv;
use chrono::Utc;
use futures_util::StreamExt;
use ironpost_core::{Health, error_chain};
use tokio::sync::watch;
use tracing::{info, warn};

use super::{Inner, REMOTE_REASON_PREFIX};
use crate::decision::{Decision, cidr_of};

/// How often the watcher re-reads the bucket's history.
const RESYNC: Duration = Duration::from_secs(30);

pub(super) async fn watch_loop(
    inner: Arc<Inner>,
    store: kv::Store,
    mut stop: watch::Receiver<bool>,
) {
    // Revision last applied per key: a re-opened watcher replays the history, which is skipped.
    let mut seen: HashMap<String, u64> = HashMap::new();
    loop {
        match store.watch_with_history(">").await {
            Ok(mut w) => {
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
                        e = w.next() => match e {
                            Some(Ok(entry)) => apply(&inner, &mut seen, entry).await,
                            Some(Err(e)) => {
                                warn!(error = %error_chain(&e), "fleet: watcher failed; re-opening");
                                inner.metrics.resyncs.inc();
                                break;
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

async fn apply(inner: &Inner, seen: &mut HashMap<String, u64>, entry: kv::Entry) {
    let m = &inner.metrics;
    let outcome = |o: &str| m.received.with_label_values(&[o]).inc();
    if seen.get(&entry.key) == Some(&entry.revision) {
        return outcome("duplicate");
    }
    seen.insert(entry.key.clone(), entry.revision);
    match entry.operation {
        kv::Operation::Delete | kv::Operation::Purge => {
            let Some(cidr) = cidr_of(&entry.key) else {
                return m.invalid.with_label_values(&["bad_key"]).inc();
            };
            match inner.enforcer.unblock(cidr).await {
                Ok(()) => outcome("unblocked"),
                Err(e) => {
                    warn!(cidr = %cidr, error = %error_chain(e.as_ref()), "fleet: remote unblock failed");
                    outcome("failed")
                }
            }
        }
        kv::Operation::Put => {
            let d = match Decision::parse(&entry.key, &entry.value) {
                Ok(d) => d,
                Err(r) => return m.invalid.with_label_values(&[r.as_str()]).inc(),
            };
            let now = Utc::now();
            if d.origin == inner.node {
                return outcome("own");
            }
            if !d.evidence.is_verified() && !inner.cfg.share_unverified {
                return outcome("unverified");
            }
            if !d.live_at(now) {
                return outcome("expired");
            }
            let reason = format!("{REMOTE_REASON_PREFIX}{}: {}", d.origin, d.reason);
            let started = Instant::now();
            let applied = inner
                .enforcer
                .block(d.cidr, d.expires_at, d.evidence, reason, d.alert_id)
                .await;
            m.apply_duration.observe(started.elapsed().as_secs_f64());
            match applied {
                Ok(()) => {
                    // Origin's decision -> in force here (after the kernel map update).
                    if entry.seen_current {
                        m.consume_lag.observe(
                            (Utc::now() - d.decided_at)
                                .to_std()
                                .unwrap_or_default()
                                .as_secs_f64(),
                        );
                    }
                    info!(cidr = %d.cidr, origin = %d.origin, expires_at = ?d.expires_at, "fleet: remote block applied");
                    outcome("applied")
                }
                Err(e) => {
                    warn!(cidr = %d.cidr, error = %error_chain(e.as_ref()), "fleet: remote block failed");
                    outcome("failed")
                }
            }
        }
    }
}
