//! The console's read-only pages. Each reads live state (module health, the XDP engine's block
//! list, the guard's isolations) and the store (alerts, actions, evidence), and renders HTML.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use ironpost_core::{ActionEvent, AlertEvent, AlertSource, EventId, Health};
use ironpost_store::{ActionQuery, AlertQuery, StoreError};
use serde::Deserialize;

use super::auth::{SessionView, session};
use super::html::{csrf_field, esc, page_response, time, url_enc};
use super::{Console, TrafficSample};
use crate::shared::Shared;

/// Rows an alert list shows unless `limit` asks for another number (at most `LIMIT_MAX`).
const LIMIT_DEFAULT: usize = 100;
const LIMIT_MAX: usize = 1000;
/// The overview's window and its chart's bucket width.
const OVERVIEW_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);
const OVERVIEW_BUCKET: Duration = Duration::from_secs(3600);

fn console(app: &Shared) -> &Arc<Console> {
    app.console
        .as_ref()
        .expect("console routes are only served with the console")
}

fn store_error(title: &str, active: &str, s: Option<&SessionView>, e: &StoreError) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        page_response(
            title,
            active,
            s,
            format!(
                "<p class=\"error\" role=\"alert\">The store cannot be read: {}</p>",
                esc(&ironpost_core::error_chain(e))
            ),
        ),
    )
        .into_response()
}

fn health_cell(h: &Health) -> String {
    let (class, text) = match h {
        Health::Healthy => ("ok", "healthy".to_owned()),
        Health::Degraded(why) => ("warn", format!("degraded: {why}")),
        Health::Unhealthy(why) => ("bad", format!("unhealthy: {why}")),
    };
    format!("<td class=\"{class}\">{}</td>", esc(&text))
}

/// A bar chart of `values` (oldest first) as inline SVG: presentation attributes only, no style.
fn bars(label: &str, values: &[(String, u64)]) -> String {
    let n = values.len().max(1);
    let max = values.iter().map(|v| v.1).max().unwrap_or(0).max(1);
    let (w, h) = (600.0_f64, 80.0_f64);
    let bw = w / n as f64;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\" preserveAspectRatio=\"none\">",
        esc(label)
    );
    for (i, (title, v)) in values.iter().enumerate() {
        let bh = (*v as f64 / max as f64) * (h - 2.0);
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw2:.1}\" height=\"{bh:.1}\"><title>{t}: {v}</title></rect>",
            x = i as f64 * bw,
            y = h - bh,
            bw2 = (bw - 1.0).max(0.5),
            t = esc(title),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Per-second rates between consecutive samples: (time, packets/s, drops/s).
fn rates(samples: &[TrafficSample]) -> Vec<(DateTime<Utc>, u64, u64)> {
    samples
        .windows(2)
        .map(|w| {
            let secs = (w[1].at - w[0].at).num_milliseconds().max(1) as f64 / 1000.0;
            let per = |a: u64, b: u64| (b.saturating_sub(a) as f64 / secs).round() as u64;
            (
                w[1].at,
                per(w[0].packets, w[1].packets),
                per(w[0].drops, w[1].drops),
            )
        })
        .collect()
}

pub(crate) async fn overview(State(app): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let c = console(&app);
    let s = session(c, &headers);
    let mut body = String::from(
        "<section aria-labelledby=\"h-health\"><h2 id=\"h-health\">Modules</h2><div class=\"scroll\"><table><thead><tr><th scope=\"col\">Module</th><th scope=\"col\">Health</th></tr></thead><tbody>",
    );
    for m in app.module_health() {
        let _ = write!(
            body,
            "<tr><td>{}</td>{}</tr>",
            esc(&m.name),
            health_cell(&m.health)
        );
    }
    body.push_str("</tbody></table></div></section>");

    let since = Utc::now() - OVERVIEW_WINDOW;
    let reader = match c.reader().await {
        Ok(r) => r,
        Err(e) => return store_error("Overview", "/", s.as_ref(), &e),
    };
    let ov = match reader.alert_overview(since, OVERVIEW_BUCKET, 10).await {
        Ok(o) => o,
        Err(e) => return store_error("Overview", "/", s.as_ref(), &e),
    };
    let _ = write!(
        body,
        "<section aria-labelledby=\"h-alerts\"><h2 id=\"h-alerts\">Alerts, last 24 hours</h2>\
         <p class=\"big\"><a href=\"/alerts\" id=\"alerts-total\">{}</a> alerts</p><ul class=\"sev\">",
        ov.total
    );
    for (sev, n) in &ov.by_severity {
        let _ = write!(
            body,
            "<li><a class=\"sev-{sev}\" href=\"/alerts?severity={sev}\">{sev}</a> {n}</li>",
            sev = sev.as_str()
        );
    }
    body.push_str("</ul>");
    // One bar per hour of the window, empty hours included.
    let hour0 = since.timestamp() - since.timestamp().rem_euclid(3600);
    let counts: BTreeMap<i64, u64> = ov
        .buckets
        .iter()
        .map(|(t, n)| (t.timestamp(), *n))
        .collect();
    let hours: Vec<(String, u64)> = (0..=24)
        .map(|i| {
            let t = hour0 + i * 3600;
            let label = DateTime::from_timestamp(t, 0)
                .map(|d| d.format("%Y-%m-%d %H:00 UTC").to_string())
                .unwrap_or_default();
            (label, counts.get(&t).copied().unwrap_or(0))
        })
        .collect();
    body.push_str(&bars("Alerts per hour over the last 24 hours", &hours));
    body.push_str("<h3>Top sources</h3><div class=\"scroll\"><table id=\"top-sources\"><thead><tr><th scope=\"col\">Source</th><th scope=\"col\">Alerts</th></tr></thead><tbody>");
    for (ip, n) in &ov.top_sources {
        let ip = ip.to_string();
        let _ = write!(
            body,
            "<tr><td><a href=\"/alerts?src={}\">{}</a></td><td>{n}</td></tr>",
            url_enc(&ip),
            esc(&ip)
        );
    }
    if ov.top_sources.is_empty() {
        body.push_str("<tr><td colspan=\"2\">No alert with a source address.</td></tr>");
    }
    body.push_str("</tbody></table></div></section>");

    body.push_str("<section aria-labelledby=\"h-traffic\"><h2 id=\"h-traffic\">Traffic (XDP)</h2>");
    match &app.ebpf {
        None => body.push_str("<p>The XDP engine is not enabled.</p>"),
        Some(engine) => {
            if let Ok(st) = engine.stats()
                && let Some(t) = st.traffic.get("total")
            {
                let _ = write!(
                    body,
                    "<p>On <code>{}</code>: {} packets seen, <strong id=\"drops-total\">{}</strong> dropped, {} malformed.</p>",
                    esc(&st.interface),
                    t.packets,
                    t.drops,
                    st.malformed
                );
            }
            let r = rates(&c.traffic());
            if r.is_empty() {
                body.push_str(
                    "<p>Rates appear after the first 20 seconds (sampled every 10 s).</p>",
                );
            } else {
                let drops: Vec<(String, u64)> = r
                    .iter()
                    .map(|(t, _, d)| (t.format("%H:%M:%S UTC").to_string(), *d))
                    .collect();
                let packets: Vec<(String, u64)> = r
                    .iter()
                    .map(|(t, p, _)| (t.format("%H:%M:%S UTC").to_string(), *p))
                    .collect();
                body.push_str("<h3>Packets per second (last hour)</h3>");
                body.push_str(&bars("Packets per second over the last hour", &packets));
                body.push_str("<h3>Drops per second (last hour)</h3>");
                body.push_str(&bars("Drops per second over the last hour", &drops));
            }
        }
    }
    body.push_str("</section>");
    page_response("Overview", "/", s.as_ref(), body).into_response()
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AlertsQuery {
    severity: Option<String>,
    rule: Option<String>,
    src: Option<String>,
    evidence: Option<String>,
    container: Option<String>,
    limit: Option<String>,
}

impl AlertsQuery {
    fn to_query(&self) -> Result<AlertQuery, String> {
        let t = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let limit = match t(&self.limit) {
            None => LIMIT_DEFAULT,
            Some(l) => l
                .parse::<usize>()
                .map_err(|_| format!("limit is not a number: {l:?}"))?
                .clamp(1, LIMIT_MAX),
        };
        Ok(AlertQuery {
            min_severity: t(&self.severity)
                .map(|s| s.parse().map_err(|_| format!("unknown severity {s:?}")))
                .transpose()?,
            evidence: t(&self.evidence)
                .map(|s| s.parse().map_err(|_| format!("unknown evidence {s:?}")))
                .transpose()?,
            rule_id: t(&self.rule),
            src_ip: t(&self.src)
                .map(|s| s.parse().map_err(|_| format!("not an IP address: {s:?}")))
                .transpose()?,
            container: t(&self.container),
            limit,
            ..AlertQuery::default()
        })
    }

    /// The filters as a query string (for the live stream's URL).
    fn query_string(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("severity", &self.severity),
            ("rule", &self.rule),
            ("src", &self.src),
            ("evidence", &self.evidence),
            ("container", &self.container),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.trim().is_empty()) {
                parts.push(format!("{k}={}", url_enc(v.trim())));
            }
        }
        parts.join("&")
    }
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

fn alert_row(a: &AlertEvent) -> String {
    let src = a.entities.src_ip.map(|i| i.to_string()).unwrap_or_default();
    let container = a
        .entities
        .container
        .as_ref()
        .and_then(|c| c.name.as_deref().or(c.id.as_deref()))
        .unwrap_or("");
    format!(
        "<tr data-id=\"{id}\"><td>{t}</td><td class=\"sev-{sev}\">{sev}</td><td>{rule}</td>\
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

const ALERT_HEAD: &str = "<thead><tr><th scope=\"col\">Time</th><th scope=\"col\">Severity</th><th scope=\"col\">Rule</th><th scope=\"col\">Title</th><th scope=\"col\">Source</th><th scope=\"col\">Container</th><th scope=\"col\">Evidence</th></tr></thead>";

pub(crate) async fn alerts(
    State(app): State<Arc<Shared>>,
    Query(q): Query<AlertsQuery>,
    headers: HeaderMap,
) -> Response {
    let c = console(&app);
    let s = session(c, &headers);
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
    body.push_str("<button type=\"submit\">Filter</button></form>");
    let query = match q.to_query() {
        Ok(x) => x,
        Err(e) => {
            let _ = write!(body, "<p class=\"error\" role=\"alert\">{}</p>", esc(&e));
            return (
                StatusCode::BAD_REQUEST,
                page_response("Alerts", "/alerts", s.as_ref(), body),
            )
                .into_response();
        }
    };
    let list = match c.reader().await {
        Ok(r) => r.alerts(&query).await,
        Err(e) => Err(e),
    };
    let list = match list {
        Ok(l) => l,
        Err(e) => return store_error("Alerts", "/alerts", s.as_ref(), &e),
    };
    let _ = write!(
        body,
        "<p class=\"live\" aria-live=\"polite\"><span id=\"live-state\">Live: connecting…</span> \
         <span id=\"live-count\">0</span> new</p>\
         <div class=\"scroll\"><table id=\"alerts\">{ALERT_HEAD}<tbody id=\"alert-rows\" data-live=\"/live?{}\">",
        esc(&q.query_string())
    );
    for a in &list {
        body.push_str(&alert_row(a));
    }
    body.push_str("</tbody></table></div>");
    if list.is_empty() {
        body.push_str("<p id=\"no-alerts\">No stored alert matches.</p>");
    }
    page_response("Alerts", "/alerts", s.as_ref(), body).into_response()
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
    let c = console(&app);
    let s = session(c, &headers);
    let Ok(id) = id.parse::<EventId>() else {
        return (
            StatusCode::NOT_FOUND,
            page_response(
                "No such alert",
                "/alerts",
                s.as_ref(),
                "<p>Not an alert id.</p>".into(),
            ),
        )
            .into_response();
    };
    let reader = match c.reader().await {
        Ok(r) => r,
        Err(e) => return store_error("Alert", "/alerts", s.as_ref(), &e),
    };
    let a = match reader.alert(id).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            return (
                StatusCode::NOT_FOUND,
                page_response(
                    "No such alert",
                    "/alerts",
                    s.as_ref(),
                    "<p>No stored alert has this id.</p>".into(),
                ),
            )
                .into_response();
        }
        Err(e) => return store_error("Alert", "/alerts", s.as_ref(), &e),
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
        Err(err) => {
            let _ = write!(
                body,
                "<p class=\"error\">{}</p>",
                esc(&ironpost_core::error_chain(&err))
            );
        }
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
        Err(err) => {
            let _ = write!(
                body,
                "<p class=\"error\">{}</p>",
                esc(&ironpost_core::error_chain(&err))
            );
        }
    }
    page_response(&a.title, "/alerts", s.as_ref(), body).into_response()
}

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
    let c = console(&app);
    let s = session(c, &headers);
    let Some(engine) = &app.ebpf else {
        return page_response(
            "Blocks",
            "/blocks",
            s.as_ref(),
            "<p>The XDP engine is not enabled ([ebpf] enabled = false): there is no block list.</p>".into(),
        )
        .into_response();
    };
    let list = match engine.list() {
        Ok(l) => l,
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                page_response(
                    "Blocks",
                    "/blocks",
                    s.as_ref(),
                    format!(
                        "<p class=\"error\">{}</p>",
                        esc(&format!("{:#}", anyhow::Error::new(e)))
                    ),
                ),
            )
                .into_response();
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
    for v in &list {
        let b = &v.block;
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
        let action = match &s {
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
            h = v.hits,
            added = time(b.added_at),
            node = esc(node),
        );
    }
    if list.is_empty() {
        body.push_str("<tr><td colspan=\"8\">No source is blocked.</td></tr>");
    }
    body.push_str("</tbody></table></div>");
    match &s {
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
    page_response("Blocks", "/blocks", s.as_ref(), body).into_response()
}

const LOGIN_TO_BLOCK: &str = "<p class=\"hint\"><a href=\"/login?next=/blocks\">Log in</a> with the console token (or open <code>ironpost-cli console login</code>'s link) to unblock or block.</p>";
const LOGIN_TO_RESTORE: &str = "<p class=\"hint\"><a href=\"/login?next=/containers\">Log in</a> with the console token (or open <code>ironpost-cli console login</code>'s link) to restore a container.</p>";

/// The outcome of the last mutation, passed in the redirect's query (`?done=` / `?failed=`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Flash {
    done: Option<String>,
    failed: Option<String>,
}

fn flash(f: &Flash) -> String {
    let mut out = String::new();
    if let Some(d) = &f.done {
        let _ = write!(
            out,
            "<p class=\"done\" role=\"status\" id=\"flash\">{}</p>",
            esc(d)
        );
    }
    if let Some(e) = &f.failed {
        let _ = write!(
            out,
            "<p class=\"error\" role=\"alert\" id=\"flash\">{}</p>",
            esc(e)
        );
    }
    out
}

pub(crate) async fn containers(
    State(app): State<Arc<Shared>>,
    Query(f): Query<Flash>,
    headers: HeaderMap,
) -> Response {
    let c = console(&app);
    let s = session(c, &headers);
    let mut body = flash(&f);
    body.push_str("<h2>Isolated containers</h2>");
    match &app.guard {
        None => body
            .push_str("<p>The container guard is not enabled ([container] enabled = false).</p>"),
        Some(guard) => {
            let list = guard.isolations().await;
            body.push_str("<div class=\"scroll\"><table id=\"isolations\"><thead><tr><th scope=\"col\">Container</th><th scope=\"col\">Since</th><th scope=\"col\">Cause</th><th scope=\"col\">Actions</th><th scope=\"col\"><span class=\"sr\">Restore</span></th></tr></thead><tbody>");
            for i in &list {
                let acts: Vec<String> = i.actions.iter().map(|a| format!("{a:?}")).collect();
                let alert = i
                    .alert_id
                    .as_deref()
                    .map(|id| format!(" (<a href=\"/alerts/{}\">alert</a>)", esc(id)))
                    .unwrap_or_default();
                let action = match &s {
                    Some(sv) => format!(
                        "<form method=\"post\" action=\"/containers/restore\">{}<input type=\"hidden\" name=\"container\" value=\"{}\"><button type=\"submit\" aria-label=\"Restore {}\">Restore</button></form>",
                        csrf_field(Some(sv)),
                        esc(&i.container_id),
                        esc(&i.container_name)
                    ),
                    None => String::new(),
                };
                let _ = write!(
                    body,
                    "<tr><td>{} <small>{}</small></td><td>{}</td><td>{}{alert}</td><td>{}</td><td>{action}</td></tr>",
                    esc(&i.container_name),
                    esc(&i.container_id.chars().take(12).collect::<String>()),
                    time(i.since),
                    esc(&i.cause),
                    esc(&acts.join(", ")),
                );
            }
            if list.is_empty() {
                body.push_str("<tr><td colspan=\"5\">No container is isolated.</td></tr>");
            }
            body.push_str("</tbody></table></div>");
            if s.is_none() {
                body.push_str(LOGIN_TO_RESTORE);
            }
        }
    }
    body.push_str("<h2>Known-vulnerable packages per container</h2>");
    let found = match c.reader().await {
        Ok(r) => r.alerts_from(AlertSource::Sbom, LIMIT_MAX).await,
        Err(e) => Err(e),
    };
    match found {
        Err(e) => {
            let _ = write!(
                body,
                "<p class=\"error\">{}</p>",
                esc(&ironpost_core::error_chain(&e))
            );
        }
        Ok(list) => {
            let mut by: BTreeMap<String, BTreeMap<String, (String, String)>> = BTreeMap::new();
            for a in &list {
                let (Some(k), Some(p)) = (&a.entities.container, &a.entities.package) else {
                    continue;
                };
                let name = k.name.clone().or_else(|| k.id.clone()).unwrap_or_default();
                by.entry(name)
                    .or_default()
                    .entry(format!("{} {}", p.name, p.version))
                    .or_insert((
                        p.advisory_id.clone().unwrap_or_default(),
                        a.severity.as_str().to_owned(),
                    ));
            }
            if by.is_empty() {
                body.push_str("<p>No stored SBOM finding names a container.</p>");
            }
            for (container, pkgs) in by {
                let _ = write!(body, "<h3>{}</h3><ul>", esc(&container));
                for (pkg, (adv, sev)) in pkgs {
                    let _ = write!(
                        body,
                        "<li><span class=\"sev-{sev}\">{sev}</span> {} {}</li>",
                        esc(&pkg),
                        esc(&adv)
                    );
                }
                body.push_str("</ul>");
            }
        }
    }
    page_response("Containers", "/containers", s.as_ref(), body).into_response()
}

pub(crate) async fn sbom(State(app): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let c = console(&app);
    let s = session(c, &headers);
    let list = match c.reader().await {
        Ok(r) => r.alerts_from(AlertSource::Sbom, LIMIT_MAX).await,
        Err(e) => Err(e),
    };
    let list = match list {
        Ok(l) => l,
        Err(e) => return store_error("SBOM findings", "/sbom", s.as_ref(), &e),
    };
    let mut body = String::from(
        "<div class=\"scroll\"><table id=\"sbom\"><thead><tr><th scope=\"col\">Time</th><th scope=\"col\">Severity</th><th scope=\"col\">Package</th><th scope=\"col\">Advisory</th><th scope=\"col\">Where</th><th scope=\"col\">Title</th></tr></thead><tbody>",
    );
    for a in &list {
        let (pkg, adv) = match &a.entities.package {
            Some(p) => (
                format!("{} {} ({})", p.name, p.version, p.ecosystem),
                p.advisory_id.clone().unwrap_or_default(),
            ),
            None => (String::new(), a.rule_id.clone()),
        };
        let place = a
            .entities
            .container
            .as_ref()
            .and_then(|k| k.name.clone().or_else(|| k.id.clone()))
            .or_else(|| a.entities.hostname.clone())
            .unwrap_or_default();
        let _ = write!(
            body,
            "<tr><td>{}</td><td class=\"sev-{sev}\">{sev}</td><td>{}</td><td>{}</td><td>{}</td><td><a href=\"/alerts/{}\">{}</a></td></tr>",
            time(a.timestamp),
            esc(&pkg),
            esc(&adv),
            esc(&place),
            a.id,
            esc(&a.title),
            sev = a.severity.as_str(),
        );
    }
    if list.is_empty() {
        body.push_str("<tr><td colspan=\"6\">No SBOM finding is stored.</td></tr>");
    }
    body.push_str("</tbody></table></div>");
    page_response("SBOM findings", "/sbom", s.as_ref(), body).into_response()
}

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
    let c = console(&app);
    let s = session(c, &headers);
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
    let list = match c.reader().await {
        Ok(r) => r.rule_activity(LIMIT_MAX).await,
        Err(e) => Err(e),
    };
    let list = match list {
        Ok(l) => l,
        Err(e) => return store_error("Rules", "/rules", s.as_ref(), &e),
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
    page_response("Rules", "/rules", s.as_ref(), body).into_response()
}
