//! `ironpost-cli status|reload|metrics`: talk to the live daemon. `status` never guesses from the
//! config whether the daemon runs: only an answer on the control socket means "running".

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use ironpost_config::ConfigSource;
use ironpost_core::config::GeneralConfig;
use ironpost_core::http::{ClientOptions, HttpClient, HttpUrl};
use ironpost_proto::client as control;
use ironpost_proto::exit::{Exit, ExitError, WithExit};
use ironpost_proto::{ControlError, Request, Response, StatusReport};
use serde_json::json;

use crate::args::{Global, MetricsArgs, OutputFormat, SocketArg};
use crate::{config_cmd, output};

/// `[general]` of the selected config. When it cannot be loaded (a broken file must not hide a
/// running daemon), the built-in defaults with the environment's overrides, and a warning.
pub(crate) fn general(g: &Global) -> GeneralConfig {
    match config_cmd::source(g).load() {
        Ok(l) => l.value.general,
        Err(e) => {
            eprintln!("ironpost-cli: warning: {e}; using the default paths");
            ConfigSource::Defaults
                .load()
                .map(|l| l.value.general)
                .unwrap_or_default()
        }
    }
}

pub(crate) fn socket(g: &Global, arg: &SocketArg) -> PathBuf {
    arg.socket
        .clone()
        .unwrap_or_else(|| general(g).control_socket)
}

pub(crate) fn not_running(
    g: &Global,
    socket: &std::path::Path,
    e: &ControlError,
) -> Result<Exit, ExitError> {
    match g.output {
        OutputFormat::Text => output::text(&e.to_string())?,
        OutputFormat::Json => {
            output::json(&json!({ "running": false, "socket": socket, "reason": e.to_string() }))?
        }
    }
    Ok(Exit::Daemon)
}

fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

fn status_text(r: &StatusReport) -> String {
    let mut s = format!(
        "ironpost-daemon {} is running (pid {}, up {})\nconfig:   {}\nstorage:  {}\nhttp:     {}\nmodules:\n",
        r.version,
        r.pid,
        human_duration(r.uptime_secs),
        r.config,
        r.storage,
        r.http_listen
    );
    for m in &r.modules {
        s.push_str(&format!("  {:<16} {}\n", m.name, m.health));
    }
    s.push_str("channels:\n");
    for c in &r.channels {
        s.push_str(&format!(
            "  {:<16} {}/{} queued\n",
            c.name, c.queued, c.capacity
        ));
    }
    s
}

pub(crate) async fn status(g: &Global, arg: &SocketArg) -> Result<Exit, ExitError> {
    let sock = socket(g, arg);
    match control::request(&sock, &Request::Status).await {
        Ok(Response::Status(r)) => {
            match g.output {
                OutputFormat::Text => output::text(&status_text(&r))?,
                OutputFormat::Json => output::json(&json!({ "running": true, "status": r }))?,
            }
            Ok(Exit::Ok)
        }
        Ok(other) => Err(anyhow::anyhow!(
            "unexpected answer from the daemon: {other:?}"
        ))
        .exit_with(Exit::Failure),
        Err(e @ ControlError::NotRunning { .. }) => not_running(g, &sock, &e),
        Err(e) => Err(e).exit_with(Exit::Daemon),
    }
}

pub(crate) async fn reload(g: &Global, arg: &SocketArg) -> Result<Exit, ExitError> {
    let sock = socket(g, arg);
    match control::request(&sock, &Request::Reload).await {
        Ok(Response::Reloaded {
            applied,
            restart_required,
            errors,
        }) => {
            match g.output {
                OutputFormat::Text => output::text(&format!(
                    "reloaded; applied: [{}]; need a restart: [{}]{}",
                    applied.join(", "),
                    restart_required.join(", "),
                    if errors.is_empty() {
                        String::new()
                    } else {
                        format!("; NOT applied: {}", errors.join("; "))
                    }
                ))?,
                OutputFormat::Json => output::json(
                    &json!({ "applied": applied, "restart_required": restart_required, "errors": errors }),
                )?,
            }
            // A component that kept its running config (a broken rule file …) is a config error.
            Ok(if errors.is_empty() {
                Exit::Ok
            } else {
                Exit::Config
            })
        }
        Ok(Response::Error { message }) => Err(anyhow::anyhow!(message)).exit_with(Exit::Config),
        Ok(other) => Err(anyhow::anyhow!(
            "unexpected answer from the daemon: {other:?}"
        ))
        .exit_with(Exit::Failure),
        Err(e @ ControlError::NotRunning { .. }) => not_running(g, &sock, &e),
        Err(e) => Err(e).exit_with(Exit::Daemon),
    }
}

/// Fetches `{base}/metrics` (`http://` or `https://`; system roots, `SSL_CERT_FILE` for others)
/// with the shared client: 15 s for the whole answer, 64 MiB at most. Without `--url` the scheme
/// is `https` when the config sets `[http] tls_cert`.
///
/// Without `--url`, the address is the one the live daemon reports it bound (which differs from
/// the config when that says port 0), else `general.http_listen`.
pub(crate) async fn metrics(g: &Global, a: &MetricsArgs) -> Result<Exit, ExitError> {
    let general = general(g);
    let live = match control::request(&general.control_socket, &Request::Status).await {
        Ok(Response::Status(r)) => r.http_listen.parse::<std::net::SocketAddr>().ok(),
        _ => None,
    };
    let base = match &a.url {
        Some(u) => u.clone(),
        None => {
            let mut addr = live.unwrap_or(general.http_listen);
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            // `[http] tls_cert`: the listener speaks only TLS.
            let tls = config_cmd::source(g)
                .load()
                .is_ok_and(|l| l.value.http.tls().is_some());
            format!("{}://{addr}", if tls { "https" } else { "http" })
        }
    };
    let url = HttpUrl::parse(
        &format!("{}/metrics", base.trim_end_matches('/')),
        "/metrics",
    )
    .context("--url")
    .exit_with(Exit::Usage)?;
    let client = HttpClient::new(ClientOptions {
        timeout: Duration::from_secs(15),
        max_body: 64 * 1024 * 1024,
        extra_roots: Vec::new(),
    })
    .exit_with(Exit::Failure)?;
    let resp = match client.get(&url).await {
        Ok(r) => r,
        Err(e) if e.is_connect() => {
            return Err(anyhow::Error::new(e).context(format!(
                "cannot reach ironpost-daemon's HTTP listener at {} (not running, or a TLS failure)",
                url.authority()
            )))
            .exit_with(Exit::Daemon);
        }
        Err(e) => return Err(e).exit_with(Exit::Failure),
    };
    if resp.status != 200 {
        return Err(anyhow::anyhow!("{url} answered: {}", resp.status)).exit_with(Exit::Failure);
    }
    let body = std::str::from_utf8(&resp.body)
        .with_context(|| format!("{url} answered with a body that is not UTF-8"))
        .exit_with(Exit::Failure)?;
    match g.output {
        OutputFormat::Text => output::text(body)?,
        OutputFormat::Json => output::json(&json!({ "metrics": body }))?,
    }
    Ok(Exit::Ok)
}
