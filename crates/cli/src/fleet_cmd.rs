//! `ironpost-cli fleet status`: every node's last heartbeat, read from the fleet's NATS cluster
//! (`[fleet] nats_urls`, `[fleet.nats]`), so it works from any host that can reach it; with
//! `--store`, from the heartbeats a central stored.

use chrono::Utc;
use ironpost_fleet::NodeReport;
use ironpost_proto::exit::{Exit, ExitError, WithExit};

use crate::args::{Global, OutputFormat};
use crate::{config_cmd, output};

/// `store`: read the heartbeats a central stored (`fleet_nodes`) instead of the cluster's bucket.
pub(crate) async fn status(g: &Global, store: bool) -> Result<Exit, ExitError> {
    let full = config_cmd::load(g)?;
    let cfg = full.fleet.clone();
    let nodes = if store {
        let reader = ironpost_store::StoreReader::open(full.storage(), &full.general.data_dir)
            .await
            .exit_with(Exit::Storage)?;
        let rows = reader.nodes().await.exit_with(Exit::Storage)?;
        ironpost_fleet::reports_from_store(rows)
    } else {
        if cfg.nats_urls.is_empty() {
            return Err(anyhow::anyhow!(
                "fleet.nats_urls is empty: no NATS cluster to ask"
            ))
            .exit_with(Exit::Usage);
        }
        ironpost_fleet::read_nodes(&cfg)
            .await
            .map_err(anyhow::Error::new)
            .exit_with(Exit::Failure)?
    };
    match g.output {
        OutputFormat::Json => output::json(&nodes)?,
        OutputFormat::Text if nodes.is_empty() => output::text("no node has reported yet")?,
        OutputFormat::Text => output::text(&table(&nodes, cfg.heartbeat_secs))?,
    }
    Ok(Exit::Ok)
}

fn table(nodes: &[NodeReport], heartbeat_secs: u64) -> String {
    let now = Utc::now();
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            let age = (now - n.at).num_seconds().max(0);
            // Three missed heartbeats: the node is presumed gone.
            let stale = age > 3 * i64::try_from(heartbeat_secs).unwrap_or(i64::MAX / 4);
            let unhealthy: Vec<String> = n
                .modules
                .iter()
                .filter(|m| !m.health.is_healthy())
                .map(|m| format!("{}: {}", m.name, m.health))
                .collect();
            vec![
                n.node.clone(),
                n.role.as_str().to_owned(),
                n.version.clone(),
                format!("{age}s ago{}", if stale { " (stale)" } else { "" }),
                n.blocks.to_string(),
                if unhealthy.is_empty() {
                    format!("{} healthy", n.modules.len())
                } else {
                    unhealthy.join("; ")
                },
            ]
        })
        .collect();
    output::table(
        &["NODE", "ROLE", "VERSION", "HEARTBEAT", "BLOCKS", "MODULES"],
        &rows,
    )
}
