//! Heartbeats: every node puts its report under its name in the `[fleet] nodes_bucket` every
//! `heartbeat_secs`; `ironpost-cli fleet status` reads them back ([`read_nodes`]).

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use ironpost_core::{BoxFuture, Health};
use serde::{Deserialize, Serialize};

use crate::config::FleetConfig;
use crate::error::{BucketSource, FleetError};

/// A report larger than this is refused.
pub const MAX_REPORT_BYTES: usize = 16 * 1024;
/// Most nodes `fleet status` reads.
pub const MAX_NODES: usize = 10_000;

/// One module's health in a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleHealth {
    pub name: String,
    pub health: Health,
}

/// What a node says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeReport {
    pub node: String,
    pub role: crate::Role,
    pub version: String,
    pub at: DateTime<Utc>,
    /// Run-time blocks in its XDP blocklist.
    pub blocks: usize,
    pub modules: Vec<ModuleHealth>,
}

impl NodeReport {
    pub fn parse(value: &[u8]) -> Option<NodeReport> {
        if value.len() > MAX_REPORT_BYTES {
            return None;
        }
        serde_json::from_slice(value).ok()
    }
}

/// What the daemon tells the fleet about this node.
pub trait NodeStatus: Send + Sync + 'static {
    /// The daemon's modules and their health, and the number of run-time blocks.
    fn report(&self) -> BoxFuture<'_, (Vec<ModuleHealth>, usize)>;
}

/// The bucket of heartbeats, made like the decisions' (one value per key).
pub(crate) async fn open_nodes(
    js: &jetstream::Context,
    cfg: &FleetConfig,
) -> Result<kv::Store, FleetError> {
    crate::module::open_kv(
        js,
        &cfg.nodes_bucket,
        "Ironpost fleet heartbeats, keyed by node",
        MAX_REPORT_BYTES,
        cfg,
    )
    .await
}

/// The heartbeats a central stored (`StoreReader::nodes`: node, time, report as JSON) as reports;
/// a row whose report does not parse (or names another node) is left out.
pub fn reports_from_store(
    rows: Vec<(String, DateTime<Utc>, serde_json::Value)>,
) -> Vec<NodeReport> {
    rows.into_iter()
        .filter_map(|(node, _, v)| {
            let r = NodeReport::parse(&serde_json::to_vec(&v).ok()?)?;
            (r.node == node).then_some(r)
        })
        .collect()
}

/// The last heartbeat of every node, by name.
pub async fn read_nodes(cfg: &FleetConfig) -> Result<Vec<NodeReport>, FleetError> {
    let urls: Vec<&str> = cfg.nats_urls.iter().map(String::as_str).collect();
    let client = ironpost_anomaly_ids::nats::connect_servers(
        &urls,
        "ironpost-cli-fleet",
        &cfg.nats,
        "fleet.nats",
    )
    .await
    .map_err(|source| FleetError::Connect {
        key: crate::module::auth_key(cfg),
        source,
    })?;
    let js = jetstream::new(client);
    let bucket_err = |source| FleetError::Bucket {
        bucket: cfg.nodes_bucket.clone(),
        source,
    };
    let timeout = Duration::from_secs(10);
    let store = tokio::time::timeout(timeout, js.get_key_value(cfg.nodes_bucket.clone()))
        .await
        .map_err(|_| bucket_err(BucketSource::TimedOut))?
        .map_err(|e| bucket_err(BucketSource::Open(e)))?;
    let keys: Vec<String> = tokio::time::timeout(timeout, async {
        let keys = store.keys().await.map_err(|_| BucketSource::TimedOut)?;
        keys.try_collect::<Vec<String>>()
            .await
            .map_err(|_| BucketSource::TimedOut)
    })
    .await
    .map_err(|_| bucket_err(BucketSource::TimedOut))?
    .map_err(bucket_err)?;
    let mut out = Vec::new();
    for k in keys.into_iter().take(MAX_NODES) {
        if let Ok(Ok(Some(v))) = tokio::time::timeout(timeout, store.get(k)).await
            && let Some(r) = NodeReport::parse(&v)
        {
            out.push(r);
        }
    }
    out.sort_by(|a, b| a.node.cmp(&b.node));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip_and_are_bounded() {
        let r = NodeReport {
            node: "edge-1".into(),
            role: crate::Role::Agent,
            version: "0.1.0".into(),
            at: Utc::now(),
            blocks: 3,
            modules: vec![ModuleHealth {
                name: "ebpf".into(),
                health: Health::Degraded("interface missing".into()),
            }],
        };
        let json = serde_json::to_vec(&r).unwrap();
        assert_eq!(NodeReport::parse(&json), Some(r));
        assert_eq!(NodeReport::parse(b"{}"), None);
        assert_eq!(NodeReport::parse(&vec![b' '; MAX_REPORT_BYTES + 1]), None);
    }
}
