//! `ironpost-cli block add|remove|list` and `stats`: the XDP filter of the running daemon, over
//! the control socket.

use chrono::Utc;
use ironpost_proto::client as control;
use ironpost_proto::exit::{Exit, ExitError, WithExit};
use ironpost_proto::wire::{Block, BlockView, EngineStats};
use ironpost_proto::{ControlError, Request, Response};
use serde_json::json;

use crate::args::{BlockAddArgs, BlockTarget, Global, OutputFormat, SocketArg};
use crate::daemon_cmd::{not_running, socket};
use crate::output;
use crate::since::parse_duration;

/// Sends `req`; `Err(Ok(exit))` when the daemon is not running (already reported).
pub(crate) async fn ask(
    g: &Global,
    arg: &SocketArg,
    req: Request,
) -> Result<Response, Result<Exit, ExitError>> {
    let sock = socket(g, arg);
    match control::request(&sock, &req).await {
        Ok(Response::Error { message }) => {
            Err(Err(anyhow::anyhow!(message)).exit_with(Exit::Failure))
        }
        Ok(r) => Ok(r),
        Err(e @ ControlError::NotRunning { .. }) => Err(not_running(g, &sock, &e)),
        Err(e) => Err(Err(e).exit_with(Exit::Daemon)),
    }
}

pub(crate) fn unexpected(r: Response) -> Result<Exit, ExitError> {
    Err(anyhow::anyhow!("unexpected answer from the daemon: {r:?}")).exit_with(Exit::Failure)
}

fn expiry(b: &Block) -> String {
    match b.expires_at {
        None => "never".into(),
        Some(t) => {
            let left = (t - Utc::now()).num_seconds().max(0);
            format!("{} (in {left}s)", t.format("%Y-%m-%d %H:%M:%S"))
        }
    }
}

pub(crate) async fn add(g: &Global, a: &BlockAddArgs) -> Result<Exit, ExitError> {
    let ttl_secs = a
        .ttl
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(anyhow::Error::msg)
        .exit_with(Exit::Usage)?
        .map(|d| d.as_secs());
    let req = Request::BlockAdd {
        cidr: a.cidr,
        ttl_secs,
        reason: a.reason.clone(),
    };
    match ask(g, &a.socket, req).await {
        Ok(Response::Blocked { block }) => {
            match g.output {
                OutputFormat::Text => output::text(&format!(
                    "blocked {} (expires: {}; reason: {})",
                    block.cidr,
                    expiry(&block),
                    block.reason
                ))?,
                OutputFormat::Json => output::json(&block)?,
            }
            Ok(Exit::Ok)
        }
        Ok(other) => unexpected(other),
        Err(done) => done,
    }
}

pub(crate) async fn remove(g: &Global, t: &BlockTarget) -> Result<Exit, ExitError> {
    match ask(g, &t.socket, Request::BlockRemove { cidr: t.cidr }).await {
        Ok(Response::Unblocked { block }) => {
            match (g.output, &block) {
                (OutputFormat::Json, _) => output::json(&json!({ "removed": block }))?,
                (OutputFormat::Text, Some(b)) => output::text(&format!("unblocked {}", b.cidr))?,
                (OutputFormat::Text, None) => output::text(&format!("{} was not blocked", t.cidr))?,
            }
            // Removing something that was not there is not an error, but scripts can tell.
            Ok(if block.is_some() {
                Exit::Ok
            } else {
                Exit::Failure
            })
        }
        Ok(other) => unexpected(other),
        Err(done) => done,
    }
}

fn blocks_table(blocks: &[BlockView]) -> String {
    let rows: Vec<Vec<String>> = blocks
        .iter()
        .map(|v| {
            vec![
                v.block.cidr.to_string(),
                v.hits.to_string(),
                expiry(&v.block),
                v.block.offence.to_string(),
                v.block.evidence.as_str().to_owned(),
                v.block
                    .alert_id
                    .map(|i| i.to_string())
                    .unwrap_or_else(|| "-".into()),
                v.block.reason.clone(),
            ]
        })
        .collect();
    output::table(
        &[
            "CIDR",
            "HITS",
            "EXPIRES (UTC)",
            "OFFENCE",
            "EVIDENCE",
            "ALERT",
            "REASON",
        ],
        &rows,
    )
}

pub(crate) async fn list(g: &Global, s: &SocketArg) -> Result<Exit, ExitError> {
    match ask(g, s, Request::BlockList).await {
        Ok(Response::Blocks { blocks }) => {
            match g.output {
                OutputFormat::Json => output::json(&blocks)?,
                OutputFormat::Text if blocks.is_empty() => output::text("no blocks")?,
                OutputFormat::Text => output::text(&blocks_table(&blocks))?,
            }
            Ok(Exit::Ok)
        }
        Ok(other) => unexpected(other),
        Err(done) => done,
    }
}

fn stats_text(s: &EngineStats) -> String {
    let mut out = format!(
        "interface {} ({})\n",
        s.interface,
        match (s.attached, s.pinned) {
            (true, true) => "XDP attached, pinned: enforcing while the daemon is down",
            (true, false) => "XDP attached, not pinned: enforcement stops with the daemon",
            (false, _) => "not attached",
        }
    );
    for e in &s.extra_interfaces {
        out.push_str(&format!(
            "extra interface {} ({})\n",
            e.interface,
            match (e.attached, &e.note) {
                (true, _) => "XDP attached, not pinned".to_owned(),
                (false, Some(note)) => format!("not attached: {note}"),
                (false, None) => "not attached".to_owned(),
            }
        ));
    }
    if let Some(dir) = &s.pin_dir {
        out.push_str(&format!("pins in {dir}\n"));
    }
    if let Some(note) = &s.pin_note {
        out.push_str(&format!("note: {note}\n"));
    }
    let rows: Vec<Vec<String>> = ["tcp", "udp", "icmp", "other", "total"]
        .iter()
        .filter_map(|p| s.traffic.get(*p).map(|c| (p, c)))
        .map(|(proto, c)| {
            vec![
                (*proto).to_owned(),
                c.packets.to_string(),
                c.bytes.to_string(),
                c.drops.to_string(),
            ]
        })
        .collect();
    out.push_str(&output::table(
        &["PROTO", "PACKETS", "BYTES", "DROPS"],
        &rows,
    ));
    out.push_str(&format!(
        "events sent {}, lost to a full ring buffer {}, rate-limited {}; malformed frames {}; blocks {}; packets past an expired block {}\n",
        s.events_sent,
        s.events_ringbuf_full,
        s.events_rate_limited,
        s.malformed,
        s.blocks,
        s.expired_passed
    ));
    out
}

pub(crate) async fn stats(g: &Global, s: &SocketArg) -> Result<Exit, ExitError> {
    match ask(g, s, Request::Stats).await {
        Ok(Response::Stats { stats }) => {
            match g.output {
                OutputFormat::Json => output::json(&stats)?,
                OutputFormat::Text => output::text(&stats_text(&stats))?,
            }
            Ok(Exit::Ok)
        }
        Ok(other) => unexpected(other),
        Err(done) => done,
    }
}
