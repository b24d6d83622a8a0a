//! `/alerts` (filtered list, then live) and `/alerts/{id}` (one alert, its evidence and actions).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ironpost_core::{ActionEvent, AlertEvent, EventId};
use ironpost_store::{ActionQuery, AlertQuery};

use super::{View, error_p};
use crate::console::html::{esc, time, url_enc};
use crate::console::request::AlertsQuery;
use crate::shared::Shared;

/// The store's query for the page's filters.
fn to_query(q: &AlertsQuery) -> Result<AlertQuery, String> {
    let f = q.parse()?;
    Ok(AlertQuery {
        min_severity: f.min_severity,
        evidence: f.evidence,
        rule_id: f.rule,
        src_ip: f.src,
        container: f.container,
        node: f.node,
        limit: f.limit,
        ..AlertQuery::default()
    })
}

fn select(name: &str, label: &str, options: &[&str], current: Option<&str>) -> String {
    let mut s = format!("<label>{label} <select name=\"{name}\"><option value=\"\">any</option>");
    for o in options {
        let sel = if current == Some(*o) { " selected" } else { "" };
        let _ = write!(s, "<option{sel}>{o}</option>");
    }
    s.push_str("</select></label>");
    s
}

fn text_input(name: &str, label: &str, current: Option<&str>) -> String {
    format!(
        "<label>{label} <input name=\"{name}\" value=\"{}\" size=\"14\"></label>",
        esc(current.unwrap_or(""))
    )
}

/// One row of the alert list; `node`: the Node column's cell (fleet central), with a link that
/// filters by it.
fn alert_row(a: &AlertEvent, node: Option<&str>) -> String {
    let src = a.entities.src_ip.map(|i| i.to_string()).unwrap_or_default();
    let container = a
        .entities
        .container
        .as_ref()
        .and_then(|c| c.name.as_deref().or(c.id.as_deref()))
        .unwrap_or("");
    let node = node
        .map(|n| {
            format!(
                "<td class=\"node\"><a href=\"/alerts?node={}\">{}</a></td>",
                url_enc(n),
                esc(n)
            )
        })
        .unwrap_or_default();
    format!(
        "<tr data-id=\"{id}\"><td>{t}</td>{node}<td class=\"sev-{sev}\">{sev}</td><td>{rule}</td>\
         <td><a href=\"/alerts/{id}\">{title}</a></td><td>{src}</td><td>{container}</td><td>{ev}</td></tr>",
        id = a.id,
        t = time(a.timestamp),
        sev = a.severity.as_str(),
        rule = esc(&a.rule_id),
        title = esc(&a.title),
        src = esc(&src),
        container = esc(container),
        ev = a.evidence.as_str(),
    )
}

/// The list's head, with the Node column after the time when `node`.
fn alert_head(node: bool) -> String {
    format!(
        "<thead><tr><th scope=\"col\">Time</th>{}<th scope=\"col\">Severity</th><th scope=\"col\">Rule</th><th scope=\"col\">Title</th><th scope=\"col\">Source</th><th scope=\"col\">Container</th><th scope=\"col\">Evidence</th></tr></thead>",
        if node {
            "<th scope=\"col\">Node</th>"
        } else {
            ""
        }
    )
}

pub(crate) async fn alerts(
    State(app): State<Arc<Shared>>,
    Query(q): Query<AlertsQuery>,
    headers: HeaderMap,
) -> Response {
    let v = View::new(&app, &headers, "Alerts", "/alerts");
    let mut body =
        String::from("<form method=\"get\" action=\"/alerts\" class=\"filters\" role=\"search\">");
    body.push_str(&select(
        "severity",
        "Severity at least",
        &["info", "low", "medium", "high", "critical"],
        q.severity.as_deref(),
    ));
    body.push_str(&text_input("rule", "Rule", q.rule.as_deref()));
    body.push_str(&text_input("src", "Source", q.src.as_deref()));
    body.push_str(&select(
        "evidence",
        "Evidence",
        &["verified", "spoofable", "forgeable"],
        q.evidence.as_deref(),
    ));
    body.push_str(&text_input(
        "container",
        "Container",
        q.container.as_deref(),
    ));
    // Fleet central: the store holds every node's alerts.
    let node_filter = q.node.as_deref().is_some_and(|n| !n.trim().is_empty());
    if v.c.central || node_filter {
        body.push_str(&text_input("node", "Node", q.node.as_deref()));
    }
    body.push_str("<button type=\"submit\">Filter</button></form>");
    let query = match to_query(&q) {
        Ok(x) => x,
        Err(e) => {
            let _ = write!(body, "<p class=\"error\" role=\"alert\">{}</p>", esc(&e));
            return v.titled(StatusCode::BAD_REQUEST, v.title, body);
        }
    };
    let list = match v.read(async |r| r.alerts_with_node(&query).await).await {
        Ok(l) => l,
        Err(e) => return v.store_error(&e),
    };
    // The Node column: in the central role, when filtering by node, or when the rows come from
    // more than one node (a store shared by several daemons).
    let show_node = v.c.central
        || node_filter
        || list
            .first()
            .is_some_and(|(n0, _)| list.iter().any(|(n, _)| n != n0));
    let _ = write!(
        body,
        "<p class=\"live\" aria-live=\"polite\"><span id=\"live-state\">Live: connecting…</span> \
         <span id=\"live-count\">0</span> new</p>\
         <div class=\"scroll\"><table id=\"alerts\">{}<tbody id=\"alert-rows\" data-live=\"/live?{}\"{}>",
        alert_head(show_node),
        esc(&q.query_string()),
        if show_node { " data-node=\"1\"" } else { "" }
    );
    for (n, a) in &list {
        body.push_str(&alert_row(a, show_node.then_some(n.as_str())));
    }
    body.push_str("</tbody></table></div>");
    if list.is_empty() {
        body.push_str("<p id=\"no-alerts\">No stored alert matches.</p>");
    }
    v.page(body)
}

fn action_rows(actions: &[ActionEvent]) -> String {
    let mut out = String::from(
        "<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Time</th><th scope=\"col\">Action</th><th scope=\"col\">Outcome</th><th scope=\"col\">Target</th><th scope=\"col\">By</th><th scope=\"col\">Detail</th></tr></thead><tbody>",
    );
    for a in actions {
        let mut target = Vec::new();
        if let Some(ip) = a.target.src_ip {
            target.push(ip.to_string());
        }
        if let Some(c) = &a.target.container
            && let Some(n) = c.name.as_deref().or(c.id.as_deref())
        {
            target.push(n.to_owned());
        }
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
            time(a.timestamp),
            a.action_type.as_str(),
            a.outcome.as_str(),
            esc(&target.join(", ")),
            esc(a.target.user.as_deref().unwrap_or("")),
            esc(&a.detail),
            a.error
                .as_deref()
                .map(|e| format!(" <span class=\"error\">{}</span>", esc(e)))
                .unwrap_or_default()
        );
    }
    if actions.is_empty() {
        out.push_str("<tr><td colspan=\"6\">None.</td></tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

pub(crate) async fn alert_detail(
    State(app): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let v = View::new(&app, &headers, "Alert", "/alerts");
    let Ok(id) = id.parse::<EventId>() else {
        return v.titled(
            StatusCode::NOT_FOUND,
            "No such alert",
            "<p>Not an alert id.</p>".into(),
        );
    };
    let reader = match v.c.reader().await {
        Ok(r) => r,
        Err(e) => return v.store_error(&e),
    };
    let (node, a) = match reader.alert_with_node(id).await {
        Ok(Some(x)) => x,
        Ok(None) => {
            return v.titled(
                StatusCode::NOT_FOUND,
                "No such alert",
                "<p>No stored alert has this id.</p>".into(),
            );
        }
        Err(e) => return v.store_error(&e),
    };
    let actions = reader
        .actions(&ActionQuery {
            alert_id: Some(a.id),
            limit: 200,
            ..Default::default()
        })
        .await;
    let evidence = reader.trace_evidence(a.trace_id, 200).await;
    let mut body = String::from("<dl class=\"detail\">");
    let mut row = |k: &str, v: String| {
        let _ = write!(body, "<dt>{k}</dt><dd>{v}</dd>");
    };
    row("Time", time(a.timestamp));
    row(
        "Severity",
        format!("<span class=\"sev-{0}\">{0}</span>", a.severity.as_str()),
    );
    if let Some(n) = &a.severity_note {
        row("Severity note", esc(n));
    }
    row(
        "Rule",
        format!(
            "<a href=\"/alerts?rule={}\">{}</a>",
            url_enc(&a.rule_id),
            esc(&a.rule_id)
        ),
    );
    if v.c.central || (!node.is_empty() && node != v.c.node) {
        row(
            "Node",
            format!(
                "<a href=\"/alerts?node={}\">{}</a>",
                url_enc(&node),
                esc(&node)
            ),
        );
    }
    row("Producer", a.source.as_str().into());
    row("Evidence", a.evidence.as_str().into());
    row("Trace", esc(&a.trace_id.to_string()));
    if !a.description.is_empty() {
        row("Description", format!("<pre>{}</pre>", esc(&a.description)));
    }
    let e = &a.entities;
    if let Some(ip) = e.src_ip {
        row(
            "Source",
            format!(
                "<a href=\"/alerts?src={0}\">{0}</a>{1}",
                ip,
                e.src_port.map(|p| format!(":{p}")).unwrap_or_default()
            ),
        );
    }
    if let Some(ip) = e.dst_ip {
        row(
            "Destination",
            format!(
                "{ip}{}",
                e.dst_port.map(|p| format!(":{p}")).unwrap_or_default()
            ),
        );
    }
    if let Some(p) = e.protocol {
        row("Protocol", esc(&p.to_string()));
    }
    if let Some(u) = &e.user {
        row("User", esc(u));
    }
    if let Some(h) = &e.hostname {
        row("Host", esc(h));
    }
    if let Some(k) = &e.container {
        row(
            "Container",
            esc(&[k.name.as_deref(), k.id.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")),
        );
    }
    if let Some(p) = &e.package {
        row(
            "Package",
            format!(
                "{} {} ({}){}",
                esc(&p.name),
                esc(&p.version),
                esc(&p.ecosystem),
                p.advisory_id
                    .as_deref()
                    .map(|a| format!(", {}", esc(a)))
                    .unwrap_or_default()
            ),
        );
    }
    if !a.tags.is_empty() {
        row("Tags", esc(&a.tags.join(", ")));
    }
    body.push_str("</dl><h2>Evidence</h2>");
    match evidence {
        Err(err) => body.push_str(&error_p(&err)),
        Ok((logs, packets)) => {
            if logs.is_empty() && packets.is_empty() {
                body.push_str("<p>No stored log line or packet shares this alert's trace.</p>");
            }
            if !logs.is_empty() {
                body.push_str("<h3>Log lines</h3><pre class=\"evidence\" id=\"evidence-lines\">");
                for l in &logs {
                    let _ = writeln!(
                        body,
                        "{} {} {}",
                        l.timestamp.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                        esc(&l.source),
                        esc(&l.message)
                    );
                }
                body.push_str("</pre>");
            }
            if !packets.is_empty() {
                body.push_str("<h3>Packets</h3><div class=\"scroll\"><table><thead><tr><th scope=\"col\">Time</th><th scope=\"col\">From</th><th scope=\"col\">To</th><th scope=\"col\">Protocol</th><th scope=\"col\">Flags</th><th scope=\"col\">Length</th><th scope=\"col\">Action</th></tr></thead><tbody>");
                for p in &packets {
                    let _ = write!(
                        body,
                        "<tr><td>{}</td><td>{}{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        time(p.timestamp),
                        p.src_ip,
                        p.src_port.map(|x| format!(":{x}")).unwrap_or_default(),
                        p.dst_ip,
                        p.dst_port.map(|x| format!(":{x}")).unwrap_or_default(),
                        esc(&p.protocol.to_string()),
                        p.tcp_flags.map(|f| format!("{f:#04x}")).unwrap_or_default(),
                        p.length,
                        p.action.as_str(),
                    );
                }
                body.push_str("</tbody></table></div>");
            }
        }
    }
    body.push_str("<h2>Actions it caused</h2>");
    match actions {
        Ok(list) => body.push_str(&action_rows(&list)),
        Err(err) => body.push_str(&error_p(&err)),
    }
    v.titled(StatusCode::OK, &a.title, body)
}
