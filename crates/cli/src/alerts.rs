//! `ironpost-cli alerts list|submit` and `actions list`: queries go straight to the store (the
//! daemon need not run); submissions go to the running daemon.

use std::io::Read;

use ironpost_core::{ActionEvent, AlertEvent};

use ironpost_proto::client as control;
use ironpost_proto::exit::{Exit, ExitError, WithExit};
use ironpost_proto::{ControlError, Request, Response};
use ironpost_store::{ActionQuery, AlertQuery, PacketQuery, StoreReader};
use serde_json::json;

use crate::args::{
    ActionQueryArgs, AlertQueryArgs, Global, OutputFormat, PacketQueryArgs, SubmitArgs,
};
use crate::since::parse_since;
use crate::{config_cmd, output};

/// Largest submission read from a file or stdin.
const MAX_SUBMIT_BYTES: u64 = 16 * 1024 * 1024;

async fn reader(g: &Global) -> Result<StoreReader, ExitError> {
    let cfg = config_cmd::load(g)?;
    StoreReader::open(cfg.storage(), &cfg.general.data_dir)
        .await
        .exit_with(Exit::Storage)
}

fn since(s: &Option<String>) -> Result<Option<chrono::DateTime<chrono::Utc>>, ExitError> {
    s.as_deref()
        .map(|s| parse_since(s, chrono::Utc::now()))
        .transpose()
        .map_err(anyhow::Error::msg)
        .exit_with(Exit::Usage)
}

fn ip_port(ip: Option<std::net::IpAddr>, port: Option<u16>) -> String {
    match (ip, port) {
        (Some(ip), Some(p)) if ip.is_ipv6() => format!("[{ip}]:{p}"),
        (Some(ip), Some(p)) => format!("{ip}:{p}"),
        (Some(ip), None) => ip.to_string(),
        (None, Some(p)) => format!(":{p}"),
        (None, None) => "-".into(),
    }
}

/// True when the rows come from more than one fleet node: their tables get a NODE column.
fn several_nodes<T>(rows: &[(String, T)]) -> bool {
    rows.iter().any(|(n, _)| *n != rows[0].0)
}

/// The rows as JSON: each event with a `node` key when it names one.
fn with_nodes<T: serde::Serialize>(rows: &[(String, T)]) -> Vec<serde_json::Value> {
    rows.iter()
        .map(|(node, e)| {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            if let (false, Some(o)) = (node.is_empty(), v.as_object_mut()) {
                o.insert("node".into(), node.clone().into());
            }
            v
        })
        .collect()
}

/// `table`'s headers and rows with a NODE column first when `nodes`.
fn node_table(nodes: bool, headers: &[&str], rows: Vec<(String, Vec<String>)>) -> String {
    let mut h: Vec<&str> = Vec::with_capacity(headers.len() + 1);
    if nodes {
        h.push("NODE");
    }
    h.extend_from_slice(headers);
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(node, mut r)| {
            if nodes {
                r.insert(0, if node.is_empty() { "-".into() } else { node });
            }
            r
        })
        .collect();
    output::table(&h, &rows)
}

fn alerts_table(alerts: &[(String, AlertEvent)]) -> String {
    let rows: Vec<(String, Vec<String>)> = alerts
        .iter()
        .map(|(node, a)| {
            (
                node.clone(),
                vec![
                    a.timestamp.format("%Y-%m-%d %H:%M:%S").to_string(),
                    a.severity.to_string(),
                    a.source.as_str().to_owned(),
                    a.rule_id.clone(),
                    ip_port(a.entities.src_ip, a.entities.src_port),
                    a.evidence.as_str().to_owned(),
                    ip_port(a.entities.dst_ip, a.entities.dst_port),
                    a.id.to_string(),
                    a.title.clone(),
                ],
            )
        })
        .collect();
    node_table(
        several_nodes(alerts),
        &[
            "TIME (UTC)",
            "SEVERITY",
            "SOURCE",
            "RULE",
            "SRC",
            "EVIDENCE",
            "DST",
            "ID",
            "TITLE",
        ],
        rows,
    )
}

pub(crate) async fn list_alerts(g: &Global, a: &AlertQueryArgs) -> Result<Exit, ExitError> {
    let q = AlertQuery {
        since: since(&a.since)?,
        min_severity: a.severity,
        evidence: a.evidence,
        rule_id: a.rule.clone(),
        src_ip: a.src,
        container: a.container.clone(),
        node: a.node.clone(),
        limit: a.limit,
    };
    let alerts = reader(g)
        .await?
        .alerts_with_node(&q)
        .await
        .exit_with(Exit::Storage)?;
    match g.output {
        OutputFormat::Json => output::json(&with_nodes(&alerts))?,
        OutputFormat::Text if alerts.is_empty() => output::text("no alerts")?,
        OutputFormat::Text => output::text(&alerts_table(&alerts))?,
    }
    Ok(Exit::Ok)
}

fn actions_table(actions: &[(String, ActionEvent)]) -> String {
    let rows: Vec<(String, Vec<String>)> = actions
        .iter()
        .map(|(node, a)| {
            let target = match (&a.target.container, a.target.src_ip) {
                (Some(c), _) => c.name.clone().or_else(|| c.id.clone()).unwrap_or_default(),
                (None, Some(ip)) => ip.to_string(),
                (None, None) => "-".into(),
            };
            (
                node.clone(),
                vec![
                    a.timestamp.format("%Y-%m-%d %H:%M:%S").to_string(),
                    a.action_type.as_str().to_owned(),
                    a.outcome.as_str().to_owned(),
                    target,
                    a.alert_id
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| "-".into()),
                    a.error.clone().unwrap_or_else(|| a.detail.clone()),
                ],
            )
        })
        .collect();
    node_table(
        several_nodes(actions),
        &[
            "TIME (UTC)",
            "ACTION",
            "OUTCOME",
            "TARGET",
            "ALERT",
            "DETAIL",
        ],
        rows,
    )
}

pub(crate) async fn list_actions(g: &Global, a: &ActionQueryArgs) -> Result<Exit, ExitError> {
    let q = ActionQuery {
        since: since(&a.since)?,
        alert_id: a.alert,
        node: a.node.clone(),
        limit: a.limit,
    };
    let actions = reader(g)
        .await?
        .actions_with_node(&q)
        .await
        .exit_with(Exit::Storage)?;
    match g.output {
        OutputFormat::Json => output::json(&with_nodes(&actions))?,
        OutputFormat::Text if actions.is_empty() => output::text("no actions")?,
        OutputFormat::Text => output::text(&actions_table(&actions))?,
    }
    Ok(Exit::Ok)
}

pub(crate) async fn list_packets(g: &Global, a: &PacketQueryArgs) -> Result<Exit, ExitError> {
    let q = PacketQuery {
        since: since(&a.since)?,
        limit: a.limit,
    };
    let packets = reader(g)
        .await?
        .packets(&q)
        .await
        .exit_with(Exit::Storage)?;
    match g.output {
        OutputFormat::Json => output::json(&packets)?,
        OutputFormat::Text if packets.is_empty() => output::text("no packet events")?,
        OutputFormat::Text => {
            let rows: Vec<Vec<String>> = packets
                .iter()
                .map(|p| {
                    vec![
                        p.timestamp.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
                        p.protocol.to_string(),
                        ip_port(Some(p.src_ip), p.src_port),
                        ip_port(Some(p.dst_ip), p.dst_port),
                        p.tcp_flags
                            .map(|f| format!("{f:#04x}"))
                            .unwrap_or_else(|| "-".into()),
                        p.action.as_str().to_owned(),
                        p.rule_id.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            output::text(&output::table(
                &[
                    "TIME (UTC)",
                    "PROTO",
                    "SRC",
                    "DST",
                    "FLAGS",
                    "ACTION",
                    "RULE",
                ],
                &rows,
            ))?
        }
    }
    Ok(Exit::Ok)
}

/// Parses a JSON array of alerts, or one alert object per line.
fn parse_alerts(text: &str) -> Result<Vec<AlertEvent>, String> {
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(text).map_err(|e| format!("invalid alert array: {e}"));
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| format!("line {}: invalid alert: {e}", i + 1))
        })
        .collect()
}

pub(crate) async fn submit(g: &Global, a: &SubmitArgs) -> Result<Exit, ExitError> {
    let mut text = String::new();
    match a.file.as_deref() {
        None => std::io::stdin()
            .take(MAX_SUBMIT_BYTES)
            .read_to_string(&mut text),
        Some(p) if p.as_os_str() == "-" => std::io::stdin()
            .take(MAX_SUBMIT_BYTES)
            .read_to_string(&mut text),
        Some(p) => {
            std::fs::File::open(p).and_then(|f| f.take(MAX_SUBMIT_BYTES).read_to_string(&mut text))
        }
    }
    .exit_with(Exit::Failure)?;
    let alerts = parse_alerts(&text)
        .map_err(anyhow::Error::msg)
        .exit_with(Exit::Usage)?;
    let sock = match &a.socket.socket {
        Some(s) => s.clone(),
        None => crate::daemon_cmd::general(g).control_socket,
    };
    let mut ids = Vec::with_capacity(alerts.len());
    for alert in alerts {
        match control::request(
            &sock,
            &Request::SubmitAlert {
                alert: Box::new(alert),
            },
        )
        .await
        {
            Ok(Response::Accepted { id }) => ids.push(id),
            Ok(Response::Error { message }) => {
                return Err(anyhow::anyhow!(message)).exit_with(Exit::Failure);
            }
            Ok(other) => {
                return Err(anyhow::anyhow!("unexpected answer: {other:?}"))
                    .exit_with(Exit::Failure);
            }
            Err(e @ ControlError::NotRunning { .. }) => return Err(e).exit_with(Exit::Daemon),
            Err(e) => return Err(e).exit_with(Exit::Failure),
        }
    }
    match g.output {
        OutputFormat::Text => output::text(&format!("submitted {} alert(s)", ids.len()))?,
        OutputFormat::Json => output::json(&json!({ "accepted": ids }))?,
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_arrays_and_json_lines() {
        let one = r#"{"severity":"high","source":"external","rule_id":"r","title":"t"}"#;
        assert_eq!(parse_alerts(&format!("[{one},{one}]")).unwrap().len(), 2);
        assert_eq!(parse_alerts(&format!("{one}\n\n{one}\n")).unwrap().len(), 2);
        let err = parse_alerts(&format!("{one}\n{{\"severity\":\"loud\"}}")).unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
    }
}
