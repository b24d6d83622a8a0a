//! `/blocks`: the XDP engine's block list, with unblock and block forms for a session.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;

use super::{View, flash};
use crate::console::html::{csrf_field, esc, time};
use crate::console::request::Flash;
use crate::shared::Shared;

/// `fleet:<node>: <reason>` (a block applied for another node) → (node, reason).
fn origin(reason: &str) -> (&str, &str) {
    match reason
        .strip_prefix(ironpost_fleet::REMOTE_REASON_PREFIX)
        .and_then(|r| r.split_once(": "))
    {
        Some((node, rest)) => (node, rest),
        None => ("this node", reason),
    }
}

pub(crate) async fn blocks(
    State(app): State<Arc<Shared>>,
    Query(f): Query<Flash>,
    headers: HeaderMap,
) -> Response {
    let v = View::new(&app, &headers, "Blocks", "/blocks");
    let Some(engine) = &app.ebpf else {
        return v.page(
            "<p>The XDP engine is not enabled ([ebpf] enabled = false): there is no block list.</p>".into(),
        );
    };
    let list = match engine.list() {
        Ok(l) => l,
        Err(e) => {
            return v.titled(
                StatusCode::SERVICE_UNAVAILABLE,
                v.title,
                format!(
                    "<p class=\"error\">{}</p>",
                    esc(&format!("{:#}", anyhow::Error::new(e)))
                ),
            );
        }
    };
    let mut body = String::new();
    body.push_str(&flash(&f));
    let _ = write!(
        body,
        "<div class=\"scroll\"><table id=\"blocks\"><thead><tr><th scope=\"col\">Source</th><th scope=\"col\">Reason</th>\
         <th scope=\"col\">Evidence</th><th scope=\"col\">Hits</th><th scope=\"col\">Added</th><th scope=\"col\">Expires in</th>\
         <th scope=\"col\">Origin</th><th scope=\"col\"><span class=\"sr\">Action</span></th></tr></thead><tbody>"
    );
    for row in &list {
        let b = &row.block;
        let cidr = b.cidr.to_string();
        let (node, reason) = origin(&b.reason);
        let ttl = match b.expires_at {
            Some(t) => format!(
                "<span class=\"ttl\" data-expires=\"{}\" title=\"{}\">{}s</span>",
                t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                t.format("%Y-%m-%d %H:%M:%S UTC"),
                (t - Utc::now()).num_seconds().max(0)
            ),
            None => "never".to_owned(),
        };
        let alert = b
            .alert_id
            .map(|id| format!(" (<a href=\"/alerts/{id}\">alert</a>)"))
            .unwrap_or_default();
        let action = match &v.s {
            Some(sv) => format!(
                "<form method=\"post\" action=\"/blocks/unblock\">{}<input type=\"hidden\" name=\"cidr\" value=\"{}\">\
                 <button type=\"submit\" class=\"unblock\" aria-label=\"Unblock {1}\">Unblock</button></form>",
                csrf_field(Some(sv)),
                esc(&cidr)
            ),
            None => String::new(),
        };
        let _ = write!(
            body,
            "<tr data-cidr=\"{c}\"><td>{c}</td><td>{r}{alert}</td><td>{e}</td><td class=\"hits\">{h}</td><td>{added}</td><td>{ttl}</td><td>{node}</td><td>{action}</td></tr>",
            c = esc(&cidr),
            r = esc(reason),
            e = b.evidence.as_str(),
            h = row.hits,
            added = time(b.added_at),
            node = esc(node),
        );
    }
    if list.is_empty() {
        body.push_str("<tr><td colspan=\"8\">No source is blocked.</td></tr>");
    }
    body.push_str("</tbody></table></div>");
    match &v.s {
        Some(sv) => {
            let _ = write!(
                body,
                "<h2>Block a source</h2><form method=\"post\" action=\"/blocks/add\" class=\"filters\">{}\
                 <label>Address or CIDR <input name=\"cidr\" required size=\"18\"></label>\
                 <label>TTL (seconds, empty = permanent) <input name=\"ttl_secs\" inputmode=\"numeric\" size=\"8\"></label>\
                 <label>Reason <input name=\"reason\" size=\"20\"></label>\
                 <button type=\"submit\">Block</button></form>",
                csrf_field(Some(sv))
            );
        }
        None => body.push_str(LOGIN_TO_BLOCK),
    }
    v.page(body)
}

const LOGIN_TO_BLOCK: &str = "<p class=\"hint\"><a href=\"/login?next=/blocks\">Log in</a> with the console token (or open <code>ironpost-cli console login</code>'s link) to unblock or block.</p>";
