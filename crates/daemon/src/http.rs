//! Read-only HTTP listener: `GET /health` (per-module status from live state; 200, or 503 when a
//! module is unhealthy) and `GET /metrics` (Prometheus text format).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ironpost_core::Health;
use serde::Serialize;

use crate::app::Shared;

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

pub(crate) fn router(app: Arc<Shared>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(app)
}
