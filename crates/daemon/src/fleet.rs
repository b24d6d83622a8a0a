//! The fleet module's view of the local blocklist: the XDP engine's handle behind
//! `ironpost_fleet::Enforcer`, so the fleet crate depends on no module crate's runtime.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use ironpost_core::BoxFuture;
use ironpost_core::ack::Ack;
use ironpost_core::net::Cidr;
use ironpost_ebpf_engine::{BlockRequest, EngineHandle};
use ironpost_fleet::{
    BoxError, Enforcer, FleetEvent, Ingest, LocalBlock, ModuleHealth, NodeStatus, RemoteBlock,
};
use ironpost_store::{Heartbeat, Record, Remote, RemoteEvent, StoreWriter};

use crate::shared::ModuleSlot;

pub(crate) struct EngineEnforcer(pub(crate) EngineHandle);

/// The central role's ingest: other nodes' alerts and actions into this daemon's store, with
/// the acknowledgement token the fleet module waits on before it acknowledges the message.
/// `write` waits for room in the store's queue (backpressure on the consumer, never a drop).
/// Alerts then go to the web console's live stream with their node (never waited for).
pub(crate) struct StoreIngest {
    pub(crate) store: StoreWriter,
    pub(crate) console: Option<std::sync::Arc<crate::console::Console>>,
}

impl Ingest for StoreIngest {
    fn write(
        &self,
        node: String,
        event: FleetEvent,
        ack: Ack,
    ) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move {
            let live = match (&event, &self.console) {
                (FleetEvent::Alert(a), Some(c)) => Some((c, a.clone())),
                _ => None,
            };
            let event = match event {
                FleetEvent::Alert(a) => RemoteEvent::Alert(a),
                FleetEvent::Action(a) => RemoteEvent::Action(a),
                FleetEvent::Heartbeat(r) => RemoteEvent::Heartbeat(Heartbeat {
                    at: r.at,
                    report: serde_json::to_value(&r)?,
                }),
            };
            let live_node = live.as_ref().map(|_| node.clone());
            self.store
                .write(Record::Remote(Remote { node, event, ack }))
                .await?;
            if let (Some((c, a)), Some(n)) = (live, live_node) {
                c.publish_remote(&n, &a);
            }
            Ok(())
        })
    }
}

/// The modules started before the fleet's and the engine's block count, for heartbeats.
pub(crate) struct DaemonStatus {
    pub(crate) modules: Vec<ModuleSlot>,
    pub(crate) engine: EngineHandle,
}

impl NodeStatus for DaemonStatus {
    fn report(&self) -> BoxFuture<'_, (Vec<ModuleHealth>, usize)> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(self.modules.len());
            for m in &self.modules {
                let m = m.read().await;
                out.push(ModuleHealth {
                    name: m.name().into(),
                    health: m.health(),
                });
            }
            let blocks = self.engine.list().map(|l| l.len()).unwrap_or(0);
            (out, blocks)
        })
    }
}

impl Enforcer for EngineEnforcer {
    fn block_many(
        &self,
        blocks: Vec<RemoteBlock>,
    ) -> BoxFuture<'_, Vec<Result<DateTime<Utc>, BoxError>>> {
        Box::pin(async move {
            // Expired between its arrival and now: counted as failed by the fleet module.
            let mut out: Vec<Option<Result<DateTime<Utc>, BoxError>>> = Vec::new();
            let mut reqs = Vec::with_capacity(blocks.len());
            for b in blocks {
                let ttl = match b.expires_at {
                    None => None,
                    Some(t) => match (t - Utc::now()).to_std() {
                        Ok(ttl) => Some(ttl),
                        Err(_) => {
                            out.push(Some(Err(std::io::Error::new(
                                std::io::ErrorKind::TimedOut,
                                "the decision expired before it could be applied",
                            )
                            .into())));
                            continue;
                        }
                    },
                };
                out.push(None);
                reqs.push(BlockRequest {
                    cidr: b.cidr,
                    ttl,
                    reason: b.reason,
                    alert_id: b.alert_id,
                    trace_id: None,
                    // The origin escalated already; its expiry is applied as it is.
                    escalate: false,
                    evidence: b.evidence,
                });
            }
            // One journal sync for the batch, after its kernel map updates.
            let mut applied = self.0.block_many(reqs).await.into_iter();
            out.into_iter()
                .map(|r| match r {
                    Some(r) => r,
                    None => match applied.next() {
                        Some(Ok((_, in_force))) => Ok(in_force),
                        Some(Err(e)) => Err(e.into()),
                        None => Err(std::io::Error::other("no result for a block").into()),
                    },
                })
                .collect()
        })
    }

    fn unblock(&self, cidr: Cidr) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(async move { self.0.unblock(cidr).await.map(|_| ()).map_err(Into::into) })
    }

    fn lookup(&self, ip: IpAddr) -> Option<LocalBlock> {
        self.0
            .list()
            .ok()?
            .into_iter()
            .map(|v| v.block)
            .filter(|b| b.cidr.0.addr() == ip)
            .max_by_key(|b| b.added_at)
            .map(|b| LocalBlock {
                cidr: b.cidr,
                reason: b.reason,
                alert_id: b.alert_id,
                evidence: b.evidence,
                expires_at: b.expires_at,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::Console;
    use crate::console::request::AlertsQuery;
    use ironpost_core::metrics::new_registry;
    use ironpost_core::{AlertEvent, AlertSource, Module, Severity};
    use ironpost_store::Store;

    #[tokio::test]
    async fn remote_alerts_reach_the_live_stream_with_their_node() {
        let dir = tempfile::tempdir().unwrap();
        let registry = new_registry();
        let storage = ironpost_core::config::StorageConfig::default();
        let mut store = Store::open(&storage, dir.path(), &registry).await.unwrap();
        store.start().await.unwrap();
        let (actions, _rx) = tokio::sync::mpsc::channel(8);
        let console = Console::new(
            ironpost_config::ConsoleConfig::default(),
            crate::console::Site {
                tls: false,
                node: "central".into(),
                central: true,
            },
            storage,
            dir.path().to_path_buf(),
            &registry,
            actions,
        );
        let only_b = AlertsQuery {
            node: Some("edge-b".into()),
            ..AlertsQuery::default()
        };
        let mut live = console
            .hub
            .subscribe(only_b.parse().unwrap(), &console.metrics)
            .unwrap();
        let ingest = StoreIngest {
            store: store.writer(),
            console: Some(console.clone()),
        };
        let a = AlertEvent::new(AlertSource::Ebpf, "port_scan", "from a", Severity::High);
        let b = AlertEvent::new(AlertSource::Ebpf, "port_scan", "from b", Severity::High);
        let b_id = b.id;
        for (node, alert) in [("edge-a", a), ("edge-b", b)] {
            ingest
                .write(node.into(), FleetEvent::Alert(alert), Ack::none())
                .await
                .unwrap();
        }
        let got = live.try_recv().unwrap();
        assert!(got.contains(&format!(r#""id":"{b_id}""#)), "{got}");
        assert!(got.contains(r#""node":"edge-b""#), "{got}");
        assert!(live.try_recv().is_err(), "edge-a's alert is filtered out");
        store.stop().await.unwrap();
    }
}
