//! The console's mutations: unblock and block a source (XDP engine), restore a container
//! (container guard). Each needs a credential (`auth::authorize`) and is audited: one
//! `ActionEvent` on the bus's actions channel whose `target.user` is the actor
//! (`console:token` or `console:session:<id prefix>`), success or failure. A browser (session)
//! is redirected back to the page with the outcome; a script (bearer token) gets it as text.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use ironpost_core::net::Cidr;
use ironpost_core::{
    ActionEvent, ActionOutcome, ActionType, ContainerRef, Entities, Evidence, Severity,
};
use ironpost_ebpf_engine::BlockRequest;
use serde::Deserialize;

use super::Console;
use super::auth::{Actor, authorize, refused};
use super::html::url_enc;
use crate::shared::Shared;

/// Longest reason accepted for a block made from the console.
const REASON_MAX: usize = 200;

fn console(app: &Shared) -> &Arc<Console> {
    app.console
        .as_ref()
        .expect("console routes are only served with the console")
}

/// Records the mutation: an `ActionEvent` with the actor, and the counter.
async fn audit(
    c: &Console,
    action: ActionType,
    outcome: ActionOutcome,
    actor: &Actor,
    mut target: Entities,
    detail: String,
    error: Option<String>,
) {
    let mut ev = ActionEvent::manual(action, outcome, Severity::Info);
    target.user = Some(actor.name());
    ev.target = target;
    ev.detail = format!("web console, by {}: {detail}", actor.name());
    ev.error = error;
    c.metrics
        .mutations
        .with_label_values(&[action.as_str(), outcome.as_str()])
        .inc();
    tracing::info!(
        action = action.as_str(), outcome = outcome.as_str(), actor = %actor.name(), detail = %ev.detail,
        "console mutation"
    );
    if c.actions.send(ev).await.is_err() {
        tracing::error!("console mutation not audited: the daemon is stopping");
    }
}

/// The answer: a redirect with the outcome for a browser, text for a script.
fn answer(actor: &Actor, page: &str, result: Result<String, (StatusCode, String)>) -> Response {
    match (actor, result) {
        (Actor::Session(_), Ok(m)) => {
            Redirect::to(&format!("{page}?done={}", url_enc(&m))).into_response()
        }
        (Actor::Session(_), Err((_, m))) => {
            Redirect::to(&format!("{page}?failed={}", url_enc(&m))).into_response()
        }
        (Actor::Token, Ok(m)) => (StatusCode::OK, format!("{m}\n")).into_response(),
        (Actor::Token, Err((code, m))) => (code, format!("{m}\n")).into_response(),
    }
}

fn bad_form(c: &Console, msg: String) -> Response {
    c.metrics.refused.with_label_values(&["form"]).inc();
    (StatusCode::BAD_REQUEST, format!("{msg}\n")).into_response()
}

fn ip_target(cidr: Cidr) -> Entities {
    Entities {
        src_ip: Some(cidr.0.addr()),
        ..Entities::default()
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct UnblockForm {
    cidr: String,
    csrf: Option<String>,
}

pub(crate) async fn unblock(
    State(app): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(f): Form<UnblockForm>,
) -> Response {
    let c = console(&app);
    let actor = match authorize(c, &headers, f.csrf.as_deref()) {
        Ok(a) => a,
        Err(why) => return refused(c, why),
    };
    let cidr: Cidr = match f.cidr.trim().parse() {
        Ok(x) => x,
        Err(e) => return bad_form(c, format!("cidr: {e}")),
    };
    let Some(engine) = &app.ebpf else {
        let m = "the XDP engine is not enabled ([ebpf] enabled = false)".to_owned();
        audit(
            c,
            ActionType::IpUnblock,
            ActionOutcome::Failure,
            &actor,
            ip_target(cidr),
            format!("unblock {cidr}"),
            Some(m.clone()),
        )
        .await;
        return answer(&actor, "/blocks", Err((StatusCode::CONFLICT, m)));
    };
    let result = match engine.unblock(cidr).await {
        Ok(Some(_)) => {
            // An operator's unblock goes fleet-wide, as `ironpost-cli block remove` does.
            if let Some(fleet) = &app.fleet {
                fleet.unblocked(cidr);
            }
            audit(
                c,
                ActionType::IpUnblock,
                ActionOutcome::Success,
                &actor,
                ip_target(cidr),
                format!("unblocked {cidr}"),
                None,
            )
            .await;
            Ok(format!("unblocked {cidr}"))
        }
        Ok(None) => {
            let m = format!("{cidr} is not blocked");
            audit(
                c,
                ActionType::IpUnblock,
                ActionOutcome::Failure,
                &actor,
                ip_target(cidr),
                format!("unblock {cidr}"),
                Some(m.clone()),
            )
            .await;
            Err((StatusCode::NOT_FOUND, m))
        }
        Err(e) => {
            let m = format!("{:#}", anyhow::Error::new(e));
            audit(
                c,
                ActionType::IpUnblock,
                ActionOutcome::Failure,
                &actor,
                ip_target(cidr),
                format!("unblock {cidr}"),
                Some(m.clone()),
            )
            .await;
            Err((StatusCode::INTERNAL_SERVER_ERROR, m))
        }
    };
    answer(&actor, "/blocks", result)
}

#[derive(Debug, Deserialize)]
pub(crate) struct BlockForm {
    cidr: String,
    ttl_secs: Option<String>,
    reason: Option<String>,
    csrf: Option<String>,
}

pub(crate) async fn block(
    State(app): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(f): Form<BlockForm>,
) -> Response {
    let c = console(&app);
    let actor = match authorize(c, &headers, f.csrf.as_deref()) {
        Ok(a) => a,
        Err(why) => return refused(c, why),
    };
    let cidr: Cidr = match f.cidr.trim().parse() {
        Ok(x) => x,
        Err(e) => return bad_form(c, format!("cidr: {e}")),
    };
    let ttl = match f
        .ttl_secs
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        None => None,
        Some(t) => match t.parse::<u64>() {
            Ok(n) if n > 0 => Some(Duration::from_secs(n)),
            _ => {
                return bad_form(
                    c,
                    format!("ttl_secs: not a positive number of seconds: {t:?}"),
                );
            }
        },
    };
    let reason = f.reason.as_deref().map(str::trim).unwrap_or("");
    if reason.chars().count() > REASON_MAX || reason.chars().any(char::is_control) {
        return bad_form(
            c,
            format!("reason: at most {REASON_MAX} characters, no control characters"),
        );
    }
    let ttl_text = ttl.map_or("permanent".to_owned(), |t| format!("ttl {}s", t.as_secs()));
    let Some(engine) = &app.ebpf else {
        let m = "the XDP engine is not enabled ([ebpf] enabled = false)".to_owned();
        audit(
            c,
            ActionType::IpBlock,
            ActionOutcome::Failure,
            &actor,
            ip_target(cidr),
            format!("block {cidr}, {ttl_text}"),
            Some(m.clone()),
        )
        .await;
        return answer(&actor, "/blocks", Err((StatusCode::CONFLICT, m)));
    };
    let req = BlockRequest {
        cidr,
        ttl,
        reason: if reason.is_empty() {
            format!("manual ({})", actor.name())
        } else {
            format!("{reason} ({})", actor.name())
        },
        alert_id: None,
        trace_id: None,
        escalate: false,
        // An operator's decision: never evicted, never downgraded.
        evidence: Evidence::Verified,
    };
    let result = match engine.block(req).await {
        Ok(_) => {
            audit(
                c,
                ActionType::IpBlock,
                ActionOutcome::Success,
                &actor,
                ip_target(cidr),
                format!("blocked {cidr}, {ttl_text}"),
                None,
            )
            .await;
            Ok(format!("blocked {cidr}"))
        }
        Err(e) => {
            let m = format!("{:#}", anyhow::Error::new(e));
            audit(
                c,
                ActionType::IpBlock,
                ActionOutcome::Failure,
                &actor,
                ip_target(cidr),
                format!("block {cidr}, {ttl_text}"),
                Some(m.clone()),
            )
            .await;
            Err((StatusCode::INTERNAL_SERVER_ERROR, m))
        }
    };
    answer(&actor, "/blocks", result)
}

#[derive(Debug, Deserialize)]
pub(crate) struct RestoreForm {
    container: String,
    csrf: Option<String>,
}

pub(crate) async fn restore(
    State(app): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(f): Form<RestoreForm>,
) -> Response {
    let c = console(&app);
    let actor = match authorize(c, &headers, f.csrf.as_deref()) {
        Ok(a) => a,
        Err(why) => return refused(c, why),
    };
    let name = f.container.trim();
    if name.is_empty()
        || name.len() > 128
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return bad_form(c, "container: a container name or id".into());
    }
    let target = Entities {
        container: Some(ContainerRef {
            id: None,
            name: Some(name.to_owned()),
        }),
        ..Entities::default()
    };
    let Some(guard) = &app.guard else {
        let m = "the container guard is not enabled ([container] enabled = false)".to_owned();
        audit(
            c,
            ActionType::ContainerUnpause,
            ActionOutcome::Failure,
            &actor,
            target,
            format!("restore {name}"),
            Some(m.clone()),
        )
        .await;
        return answer(&actor, "/containers", Err((StatusCode::CONFLICT, m)));
    };
    // The guard records each step it takes (unpause, start, reconnect) as its own action; this
    // one records who asked.
    let result = match guard.restore(name).await {
        Ok(steps) => {
            let m = format!("restored {name} ({} steps)", steps.len());
            audit(
                c,
                ActionType::ContainerUnpause,
                ActionOutcome::Success,
                &actor,
                target,
                m.clone(),
                None,
            )
            .await;
            Ok(m)
        }
        Err(e) => {
            let m = format!("{:#}", anyhow::Error::new(e));
            audit(
                c,
                ActionType::ContainerUnpause,
                ActionOutcome::Failure,
                &actor,
                target,
                format!("restore {name}"),
                Some(m.clone()),
            )
            .await;
            Err((StatusCode::CONFLICT, m))
        }
    };
    answer(&actor, "/containers", result)
}
