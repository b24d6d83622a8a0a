//! HTML building blocks: escaping, the page layout, times, and the embedded assets.
//!
//! Every value from an event, the store or the request goes through [`esc`]; pages are built
//! with `format!` into one `String`. No inline script or style anywhere (the CSP forbids them):
//! behaviour lives in `assets/console.js`, looks in `assets/console.css`.

use std::fmt::Write as _;

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};

use super::auth::SessionView;

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

pub(crate) use super::request::{esc, url_enc};

/// A time: UTC in the text and the title; `console.js` rewrites the text in the viewer's zone.
pub(crate) fn time(t: DateTime<Utc>) -> String {
    let iso = t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let utc = t.format("%Y-%m-%d %H:%M:%S UTC");
    format!("<time datetime=\"{iso}\" title=\"{utc}\">{utc}</time>")
}

/// The hidden CSRF field of a session's forms (empty without a session).
pub(crate) fn csrf_field(s: Option<&SessionView>) -> String {
    s.map(|s| {
        format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
            esc(&s.csrf)
        )
    })
    .unwrap_or_default()
}

const NAV: [(&str, &str); 6] = [
    ("/", "Overview"),
    ("/alerts", "Alerts"),
    ("/blocks", "Blocks"),
    ("/containers", "Containers"),
    ("/sbom", "SBOM"),
    ("/rules", "Rules"),
];

/// The whole page around `body`. `active` is the nav entry's path.
pub(crate) fn page(title: &str, active: &str, session: Option<&SessionView>, body: &str) -> String {
    let mut nav = String::new();
    for (href, label) in NAV {
        let current = if href == active {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(nav, "<li><a href=\"{href}\"{current}>{label}</a></li>");
    }
    let who = match session {
        Some(s) => format!(
            "<form method=\"post\" action=\"/logout\" class=\"who\">{}\
             <span>session {}</span> <button type=\"submit\">Log out</button></form>",
            csrf_field(Some(s)),
            esc(&s.short)
        ),
        None => "<a class=\"who\" href=\"/login\">Log in</a>".to_owned(),
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · Ironpost</title>\
         <link rel=\"stylesheet\" href=\"/assets/console.css\">\
         <script src=\"/assets/console.js\" defer></script></head>\
         <body><a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header><nav aria-label=\"Console\"><span class=\"brand\">Ironpost</span><ul>{nav}</ul>{who}</nav></header>\
         <main id=\"main\" tabindex=\"-1\"><h1>{t}</h1>{body}</main></body></html>\n",
        t = esc(title),
    )
}

pub(crate) fn page_response(
    title: &str,
    active: &str,
    session: Option<&SessionView>,
    body: String,
) -> Html<String> {
    Html(page(title, active, session, &body))
}

pub(crate) async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        CSS,
    )
        .into_response()
}

pub(crate) async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        JS,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>"x"&'y'</script>"#),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
        assert_eq!(url_enc("a b/ü"), "a%20b%2F%C3%BC");
    }

    #[test]
    fn times_carry_utc_in_the_title() {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(
            time(t),
            "<time datetime=\"2023-11-14T22:13:20.000Z\" title=\"2023-11-14 22:13:20 UTC\">2023-11-14 22:13:20 UTC</time>"
        );
    }
}
