//! `ironpost-cli console url|login`: the web console of the running daemon. `login` makes a
//! one-time login link without the operator typing the console token: a ticket file (a random
//! name, its expiry inside) under `data_dir/console-login/`, where only root can write, spent by
//! the daemon at `GET /login/{ticket}` (it opens a session and removes the file). Making one needs
//! what the control socket needs: root on the daemon's host.

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;
use clap::Subcommand;
use ironpost_proto::client as control;
use ironpost_proto::exit::{Exit, ExitError, WithExit};
use ironpost_proto::{ControlError, Request, Response};
use serde_json::json;

use crate::args::{Global, OutputFormat, SocketArg};
use crate::{config_cmd, daemon_cmd, output};

/// Where the daemon looks for tickets (`crates/daemon/src/console/auth.rs`, `TICKET_DIR`).
const TICKET_DIR: &str = "console-login";
/// How long a login link is valid.
const TICKET_SECS: i64 = 120;

#[derive(Debug, Subcommand)]
pub(crate) enum ConsoleCmd {
    /// Print the web console's URL (the running daemon's HTTP listener).
    Url(SocketArg),
    /// Print a one-time login link (valid 2 minutes): opening it starts a console session that
    /// may unblock, block and restore, without typing the token.
    Login(SocketArg),
}

/// The running daemon's HTTP listener, from its status.
async fn listener(g: &Global, arg: &SocketArg) -> Result<Result<String, Exit>, ExitError> {
    let sock = daemon_cmd::socket(g, arg);
    match control::request(&sock, &Request::Status).await {
        Ok(Response::Status(r)) => Ok(Ok(r.http_listen)),
        Ok(other) => Err(anyhow::anyhow!(
            "unexpected answer from the daemon: {other:?}"
        ))
        .exit_with(Exit::Failure),
        Err(e @ ControlError::NotRunning { .. }) => daemon_cmd::not_running(g, &sock, &e).map(Err),
        Err(e) => Err(e).exit_with(Exit::Daemon),
    }
}

fn random_name() -> std::io::Result<String> {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Writes a ticket valid until `expires` (unix seconds) into `dir`; returns its name. Expired
/// tickets left there are removed.
fn write_ticket(dir: &Path, expires: i64) -> anyhow::Result<String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private", dir.display()))?;
    let now = chrono::Utc::now().timestamp();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let old = std::fs::read_to_string(e.path())
                .ok()
                .and_then(|t| t.trim().parse::<i64>().ok())
                .is_none_or(|exp| exp <= now);
            if old {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let name = random_name().context("cannot read /dev/urandom")?;
    let path = dir.join(&name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write the login ticket {}", path.display()))?;
    writeln!(f, "{expires}").with_context(|| format!("cannot write {}", path.display()))?;
    Ok(name)
}

pub(crate) async fn run(g: &Global, cmd: &ConsoleCmd) -> Result<Exit, ExitError> {
    let cfg = config_cmd::load(g)?;
    if !cfg.console.enabled {
        return Err(anyhow::anyhow!(
            "the web console is not enabled (console.enabled = false)"
        ))
        .exit_with(Exit::Config);
    }
    let arg = match cmd {
        ConsoleCmd::Url(a) | ConsoleCmd::Login(a) => a,
    };
    let http = match listener(g, arg).await? {
        Ok(h) => h,
        Err(exit) => return Ok(exit),
    };
    // `[http] tls_cert`: the listener speaks only TLS.
    let scheme = if cfg.http.tls().is_some() {
        "https"
    } else {
        "http"
    };
    let url = format!("{scheme}://{http}/");
    match cmd {
        ConsoleCmd::Url(_) => match g.output {
            OutputFormat::Text => output::text(&url)?,
            OutputFormat::Json => output::json(&json!({ "url": url }))?,
        },
        ConsoleCmd::Login(_) => {
            let expires = chrono::Utc::now().timestamp() + TICKET_SECS;
            let name = write_ticket(&cfg.general.data_dir.join(TICKET_DIR), expires)
                .exit_with(Exit::Failure)?;
            let link = format!("{url}login/{name}");
            match g.output {
                OutputFormat::Text => output::text(&format!(
                    "{link}\n(one use, valid {TICKET_SECS} s: open it in the browser on this host)"
                ))?,
                OutputFormat::Json => output::json(&json!({ "url": link, "expires": expires }))?,
            }
        }
    }
    Ok(Exit::Ok)
}
