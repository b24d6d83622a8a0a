//! `/`: module health, the last 24 hours of alerts, XDP traffic rates.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, Utc};
use ironpost_core::Health;

use super::View;
use crate::console::TrafficSample;
use crate::console::html::{esc, url_enc};
use crate::shared::Shared;

/// The overview's window and its chart's bucket width.
const OVERVIEW_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);
const OVERVIEW_BUCKET: Duration = Duration::from_secs(3600);

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
    let v = View::new(&app, &headers, "Overview", "/");
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
    let ov = match v
        .read(async |r| r.alert_overview(since, OVERVIEW_BUCKET, 10).await)
        .await
    {
        Ok(o) => o,
        Err(e) => return v.store_error(&e),
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
            let r = rates(&v.c.traffic());
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
    v.page(body)
}
