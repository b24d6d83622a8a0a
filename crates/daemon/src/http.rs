//! HTTP listener: `GET /health` (per-module status from live state; 200, or 503 when a
//! module is unhealthy), `GET /metrics` (Prometheus text format), and `POST /api/v1/notify`, the
//! notifier that receives Alertmanager's webhook: it counts `ironpost_notifier_alerts_total` and logs
//! each alert, and changes no other state. With `[console] enabled` the web console's routes are
//! merged in (`console/`): read-only pages and stream, and three mutations that need the console
//! token.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ironpost_anomaly_ids::alertmanager::parse_webhook;
use ironpost_core::Health;
use serde::Serialize;
use tracing::info;

use crate::shared::Shared;

#[derive(Serialize)]
struct HealthBody {
    status: &'static str,
    modules: BTreeMap<String, Health>,
}

async fn health(State(app): State<Arc<Shared>>) -> Response {
    let modules = app.module_health();
    let overall = modules
        .iter()
        .fold(Health::Healthy, |acc, m| acc.worst(m.health.clone()));
    let code = if matches!(overall, Health::Unhealthy(_)) {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let body = HealthBody {
        status: overall.status(),
        modules: modules.into_iter().map(|m| (m.name, m.health)).collect(),
    };
    (code, axum::Json(body)).into_response()
}

async fn metrics(State(app): State<Arc<Shared>>) -> Response {
    let text = app.render_metrics();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Largest webhook body accepted (Alertmanager groups alerts; 256 KiB holds hundreds).
const NOTIFY_BODY_LIMIT: usize = 256 * 1024;
/// Alerts logged per webhook call at most (all are counted).
const NOTIFY_LOG_MAX: usize = 100;

async fn notify(State(app): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let hook = match parse_webhook(&body) {
        Ok(h) => h,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("not an Alertmanager webhook payload: {e}\n"),
            )
                .into_response();
        }
    };
    app.metrics.notifier_alerts.inc_by(hook.alerts.len() as u64);
    for a in hook.alerts.iter().take(NOTIFY_LOG_MAX) {
        let label = |k: &str| a.labels.get(k).map(String::as_str).unwrap_or("");
        let note = |k: &str| a.annotations.get(k).map(String::as_str).unwrap_or("");
        info!(
            alertname = label("alertname"), src = label("src"), status = %a.status,
            summary = note("summary"), detail = note("detail"), "notifier: alert from Alertmanager"
        );
    }
    (StatusCode::OK, "ok\n").into_response()
}

pub(crate) fn router(app: Arc<Shared>) -> Router {
    let console = app
        .console
        .is_some()
        .then(|| crate::console::router(app.clone()));
    let base = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route(
            "/api/v1/notify",
            post(notify).layer(DefaultBodyLimit::max(NOTIFY_BODY_LIMIT)),
        )
        .with_state(app);
    // The web console (`[console] enabled`): its pages, live stream and token-guarded mutations.
    match console {
        Some(c) => base.merge(c),
        None => base,
    }
}
