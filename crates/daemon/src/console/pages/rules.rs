//! `/rules`: the log pipeline's rule set from the metrics, and the rules that fired.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::View;
use crate::console::html::{esc, time, url_enc};
use crate::console::request::LIMIT_MAX;
use crate::shared::Shared;

/// A metric's value from the registry (summed over its label sets), if registered.
fn metric(app: &Shared, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
    let fam = app
        .registry
        .gather()
        .into_iter()
        .find(|f| f.name() == name)?;
    Some(
        fam.get_metric()
            .iter()
            .filter(|m| {
                label.is_none_or(|(k, v)| {
                    m.get_label()
                        .iter()
                        .any(|l| l.name() == k && l.value() == v)
                })
            })
            // One of the two is the metric's; the other reads 0.
            .map(|m| m.get_gauge().get_value() + m.get_counter().get_value())
            .sum(),
    )
}

pub(crate) async fn rules(State(app): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let v = View::new(&app, &headers, "Rules", "/rules");
    let mut body = String::from("<h2>Log pipeline rule set</h2>");
    match metric(&app, "ironpost_log_rules_loaded", None) {
        None => body.push_str("<p>The log pipeline is not enabled.</p>"),
        Some(n) => {
            let errors = metric(
                &app,
                "ironpost_log_rule_reloads_total",
                Some(("result", "error")),
            )
            .unwrap_or(0.0);
            let ok = metric(
                &app,
                "ironpost_log_rule_reloads_total",
                Some(("result", "ok")),
            )
            .unwrap_or(0.0);
            let _ = write!(
                body,
                "<p><strong id=\"rules-loaded\">{n}</strong> rules loaded; reloads: {ok} applied, \
                 <span class=\"{}\">{errors} refused</span> (a refused reload keeps the running rules; \
                 the daemon's log names the file and line).</p>",
                if errors > 0.0 { "warn" } else { "ok" }
            );
        }
    }
    body.push_str("<h2>Rules and detectors that fired</h2>");
    let list = match v.read(async |r| r.rule_activity(LIMIT_MAX).await).await {
        Ok(l) => l,
        Err(e) => return v.store_error(&e),
    };
    body.push_str("<div class=\"scroll\"><table id=\"rules\"><thead><tr><th scope=\"col\">Rule</th><th scope=\"col\">Alerts stored</th><th scope=\"col\">Last fired</th></tr></thead><tbody>");
    for r in &list {
        let _ = write!(
            body,
            "<tr><td><a href=\"/alerts?rule={}\">{}</a></td><td>{}</td><td>{}</td></tr>",
            url_enc(&r.rule_id),
            esc(&r.rule_id),
            r.alerts,
            time(r.last_fired)
        );
    }
    if list.is_empty() {
        body.push_str("<tr><td colspan=\"3\">No stored alert.</td></tr>");
    }
    body.push_str("</tbody></table></div>");
    v.page(body)
}
