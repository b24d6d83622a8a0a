//! `/containers` (the guard's isolations, SBOM findings per container) and `/sbom`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use ironpost_core::AlertSource;

use super::{View, error_p, flash};
use crate::console::html::{csrf_field, esc, time};
use crate::console::request::{Flash, LIMIT_MAX};
use crate::shared::Shared;

const LOGIN_TO_RESTORE: &str = "<p class=\"hint\"><a href=\"/login?next=/containers\">Log in</a> with the console token (or open <code>ironpost-cli console login</code>'s link) to restore a container.</p>";

pub(crate) async fn containers(
    State(app): State<Arc<Shared>>,
    Query(f): Query<Flash>,
    headers: HeaderMap,
) -> Response {
    let v = View::new(&app, &headers, "Containers", "/containers");
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
                let action = match &v.s {
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
            if v.s.is_none() {
                body.push_str(LOGIN_TO_RESTORE);
            }
        }
    }
    body.push_str("<h2>Known-vulnerable packages per container</h2>");
    match v
        .read(async |r| r.alerts_from(AlertSource::Sbom, LIMIT_MAX).await)
        .await
    {
        Err(e) => body.push_str(&error_p(&e)),
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
    v.page(body)
}

pub(crate) async fn sbom(State(app): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let v = View::new(&app, &headers, "SBOM findings", "/sbom");
    let list = match v
        .read(async |r| r.alerts_from(AlertSource::Sbom, LIMIT_MAX).await)
        .await
    {
        Ok(l) => l,
        Err(e) => return v.store_error(&e),
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
    v.page(body)
}
