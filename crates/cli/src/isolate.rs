//! `ironpost-cli isolate <container> --action …`, `isolate list` and `restore <container>`: the
//! container guard of the running daemon, over the control socket.

use ironpost_core::{ActionEvent, ActionOutcome};
use ironpost_proto::exit::{Exit, ExitError, WithExit};
use ironpost_proto::wire::{Isolation, IsolationAction};
use ironpost_proto::{Request, Response};

use crate::args::{Global, IsolateAction, IsolateArgs, IsolateCmd, OutputFormat, RestoreArgs};
use crate::block::{ask, unexpected};
use crate::output;

fn action(a: IsolateAction) -> IsolationAction {
    match a {
        IsolateAction::Pause => IsolationAction::Pause,
        IsolateAction::Stop => IsolationAction::Stop,
        IsolateAction::NetworkDisconnect => IsolationAction::NetworkDisconnect,
    }
}

fn isolations_table(list: &[Isolation]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|i| {
            vec![
                i.container_name.clone(),
                i.container_id.chars().take(12).collect(),
                i.actions
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                i.since.format("%Y-%m-%d %H:%M:%S").to_string(),
                i.cause.clone(),
                i.networks
                    .iter()
                    .map(|n| n.network.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ]
        })
        .collect();
    output::table(
        &[
            "CONTAINER",
            "ID",
            "ACTIONS",
            "SINCE (UTC)",
            "CAUSE",
            "NETWORKS REMEMBERED",
        ],
        &rows,
    )
}

/// One line per attempt.
fn actions_text(actions: &[ActionEvent]) -> String {
    let mut out = String::new();
    for a in actions {
        out.push_str(&format!(
            "{} attempt {}: {}{}{}\n",
            a.action_type.as_str(),
            a.attempt,
            a.outcome.as_str(),
            if a.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", a.detail)
            },
            a.error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ));
    }
    out
}

fn print_actions(g: &Global, actions: &[ActionEvent]) -> Result<Exit, ExitError> {
    match g.output {
        OutputFormat::Json => output::json(actions)?,
        OutputFormat::Text => output::text(&actions_text(actions))?,
    }
    // The daemon answers with the events only when the action succeeded; a failed attempt before
    // a successful retry is still a success.
    Ok(
        if actions
            .last()
            .is_some_and(|a| a.outcome == ActionOutcome::Success)
        {
            Exit::Ok
        } else {
            Exit::Failure
        },
    )
}

pub(crate) async fn isolate(g: &Global, a: &IsolateArgs) -> Result<Exit, ExitError> {
    if let Some(IsolateCmd::List(sock)) = &a.list {
        return match ask(g, sock, Request::IsolateList).await {
            Ok(Response::Isolations { isolations }) => {
                match g.output {
                    OutputFormat::Json => output::json(&isolations)?,
                    OutputFormat::Text if isolations.is_empty() => {
                        output::text("no isolated containers")?
                    }
                    OutputFormat::Text => output::text(&isolations_table(&isolations))?,
                }
                Ok(Exit::Ok)
            }
            Ok(other) => unexpected(other),
            Err(done) => done,
        };
    }
    let (Some(container), Some(act)) = (&a.container, a.action) else {
        return Err(anyhow::anyhow!(
            "usage: ironpost-cli isolate <CONTAINER> --action pause|stop|network_disconnect, or ironpost-cli isolate list"
        ))
        .exit_with(Exit::Usage);
    };
    let req = Request::Isolate {
        container: container.clone(),
        action: action(act),
    };
    match ask(g, &a.socket, req).await {
        Ok(Response::Actions { actions }) => print_actions(g, &actions),
        Ok(other) => unexpected(other),
        Err(done) => done,
    }
}

pub(crate) async fn restore(g: &Global, a: &RestoreArgs) -> Result<Exit, ExitError> {
    let req = Request::Restore {
        container: a.container.clone(),
    };
    match ask(g, &a.socket, req).await {
        Ok(Response::Actions { actions }) => print_actions(g, &actions),
        Ok(other) => unexpected(other),
        Err(done) => done,
    }
}
