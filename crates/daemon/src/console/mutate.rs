//! The console's mutations: unblock and block a source (XDP engine), restore a container
//! (container guard). Each needs a credential (`auth::authorize`) and is audited: one
//! `ActionEvent` on the bus's actions channel whose `target.user` is the actor
//! (`console:token` or `console:session:<id prefix>`), success or failure. A browser (session)
//! is redirected back to the page with the outcome; a script (bearer token) gets it as text.

use std::sync::Arc;

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use ironpost_core::net::Cidr;
use ironpost_core::{
    ActionEvent, ActionOutcome, ActionType, ContainerRef, Entities, Evidence, Severity,
};
use ironpost_ebpf_engine::BlockRequest;

use super::Console;
use super::auth::{Actor, authorize, refused};
use super::request::{self, BlockForm, BlockInput, RestoreForm, UnblockForm, url_enc};
use crate::shared::Shared;

fn console(app: &Shared) -> &Arc<Console> {
    app.console
        .as_ref()
        .expect("console routes are only served with the console")
}

/// What the answer to a mutation carries: the message, or the status and message of a failure.
type Outcome = Result<String, (StatusCode, String)>;

/// One mutation under way: who asks, what it acts on, and the page a browser goes back to. Its
/// methods audit each outcome (an `ActionEvent` and the counter) and answer.
struct Mutation<'a> {
    c: &'a Console,
    actor: Actor,
    action: ActionType,
    target: Entities,
    page: &'static str,
}

impl<'a> Mutation<'a> {
    /// Checks the credential (and, for a session, the CSRF token and origin): the mutation, or
    /// the refusal to answer with.
    fn authorize(
        app: &'a Shared,
        headers: &HeaderMap,
        csrf: Option<&str>,
        action: ActionType,
        page: &'static str,
    ) -> Result<Self, Refused> {
        let c = console(app);
        match authorize(c, headers, csrf) {
            Ok(actor) => Ok(Mutation {
                c,
                actor,
                action,
                target: Entities::default(),
                page,
            }),
            Err(why) => Err(Refused(Box::new(refused(c, why)))),
        }
    }

    /// Refuses a malformed form (not audited: nothing was attempted).
    fn bad_form(&self, msg: String) -> Refused {
        Refused(Box::new(bad_form(self.c, msg)))
    }

    /// Records the mutation: an `ActionEvent` with the actor, and the counter.
    async fn audit(&self, outcome: ActionOutcome, detail: String, error: Option<String>) {
        let (c, action, actor) = (self.c, self.action, &self.actor);
        let mut ev = ActionEvent::manual(action, outcome, Severity::Info);
        ev.target = self.target.clone();
        ev.target.user = Some(actor.name());
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

    /// Audits a success (`detail`) and gives `message` back.
    async fn succeeded(&self, detail: String, message: String) -> Outcome {
        self.audit(ActionOutcome::Success, detail, None).await;
        Ok(message)
    }

    /// Audits a failure of `attempt` with `message` and gives both back with `status`.
    async fn failed(&self, attempt: String, status: StatusCode, message: String) -> Outcome {
        self.audit(ActionOutcome::Failure, attempt, Some(message.clone()))
            .await;
        Err((status, message))
    }

    /// The answer: a redirect with the outcome for a browser, text for a script.
    fn answer(&self, result: Outcome) -> Response {
        let page = self.page;
        match (&self.actor, result) {
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

    /// The answer when the module that would act is not enabled (audited as a failure).
    async fn not_enabled(&self, attempt: String, why: &str) -> Response {
        let result = self
            .failed(attempt, StatusCode::CONFLICT, why.to_owned())
            .await;
        self.answer(result)
    }
}

/// A mutation's response: `Err` when it is refused before anything is attempted (credential,
/// CSRF, malformed form), not audited; otherwise `Ok` with the audited outcome.
type Refusable = Result<Response, Refused>;

/// The response that refuses a mutation (boxed: a `Response` is large).
pub(crate) struct Refused(Box<Response>);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// A module's error with its causes, for the audit and the answer.
fn chain<E: std::error::Error + Send + Sync + 'static>(e: E) -> String {
    format!("{:#}", anyhow::Error::new(e))
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

/// The form's `cidr` field, or the refusal to answer with.
fn parse_cidr(m: &Mutation<'_>, text: &str) -> Result<Cidr, Refused> {
    request::parse_cidr(text).map_err(|e| m.bad_form(e))
}

const NO_ENGINE: &str = "the XDP engine is not enabled ([ebpf] enabled = false)";

pub(crate) async fn unblock(
    State(app): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(f): Form<UnblockForm>,
) -> Refusable {
    let mut m = Mutation::authorize(
        &app,
        &headers,
        f.csrf.as_deref(),
        ActionType::IpUnblock,
        "/blocks",
    )?;
    let cidr = parse_cidr(&m, &f.cidr)?;
    m.target = ip_target(cidr);
    let attempt = format!("unblock {cidr}");
    let Some(engine) = &app.ebpf else {
        return Ok(m.not_enabled(attempt, NO_ENGINE).await);
    };
    let result = match engine.unblock(cidr).await {
        Ok(Some(_)) => {
            // An operator's unblock goes fleet-wide, as `ironpost-cli block remove` does.
            if let Some(fleet) = &app.fleet {
                fleet.unblocked(cidr);
            }
            let done = format!("unblocked {cidr}");
            m.succeeded(done.clone(), done).await
        }
        Ok(None) => {
            m.failed(
                attempt,
                StatusCode::NOT_FOUND,
                format!("{cidr} is not blocked"),
            )
            .await
        }
        Err(e) => {
            m.failed(attempt, StatusCode::INTERNAL_SERVER_ERROR, chain(e))
                .await
        }
    };
    Ok(m.answer(result))
}

pub(crate) async fn block(
    State(app): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(f): Form<BlockForm>,
) -> Refusable {
    let mut m = Mutation::authorize(
        &app,
        &headers,
        f.csrf.as_deref(),
        ActionType::IpBlock,
        "/blocks",
    )?;
    let BlockInput { cidr, ttl, reason } = f.parse().map_err(|e| m.bad_form(e))?;
    m.target = ip_target(cidr);
    let ttl_text = ttl.map_or("permanent".to_owned(), |t| format!("ttl {}s", t.as_secs()));
    let attempt = format!("block {cidr}, {ttl_text}");
    let Some(engine) = &app.ebpf else {
        return Ok(m.not_enabled(attempt, NO_ENGINE).await);
    };
    let req = BlockRequest {
        cidr,
        ttl,
        reason: if reason.is_empty() {
            format!("manual ({})", m.actor.name())
        } else {
            format!("{reason} ({})", m.actor.name())
        },
        alert_id: None,
        trace_id: None,
        escalate: false,
        // An operator's decision: never evicted, never downgraded.
        evidence: Evidence::Verified,
    };
    let result = match engine.block(req).await {
        Ok(_) => {
            m.succeeded(
                format!("blocked {cidr}, {ttl_text}"),
                format!("blocked {cidr}"),
            )
            .await
        }
        Err(e) => {
            m.failed(attempt, StatusCode::INTERNAL_SERVER_ERROR, chain(e))
                .await
        }
    };
    Ok(m.answer(result))
}

pub(crate) async fn restore(
    State(app): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(f): Form<RestoreForm>,
) -> Refusable {
    let mut m = Mutation::authorize(
        &app,
        &headers,
        f.csrf.as_deref(),
        ActionType::ContainerUnpause,
        "/containers",
    )?;
    let name = f.container_name().map_err(|e| m.bad_form(e))?;
    m.target = Entities {
        container: Some(ContainerRef {
            id: None,
            name: Some(name.to_owned()),
        }),
        ..Entities::default()
    };
    let attempt = format!("restore {name}");
    let Some(guard) = &app.guard else {
        return Ok(m
            .not_enabled(
                attempt,
                "the container guard is not enabled ([container] enabled = false)",
            )
            .await);
    };
    // The guard records each step it takes (unpause, start, reconnect) as its own action; this
    // one records who asked.
    let result = match guard.restore(name).await {
        Ok(steps) => {
            let done = format!("restored {name} ({} steps)", steps.len());
            m.succeeded(done.clone(), done).await
        }
        Err(e) => m.failed(attempt, StatusCode::CONFLICT, chain(e)).await,
    };
    Ok(m.answer(result))
}
