//! The console's read-only pages, one file per view. Each reads live state (module health, the
//! XDP engine's block list, the guard's isolations) and the store (alerts, actions, evidence),
//! and renders HTML. This file holds what the views share: the page being answered (`View`),
//! the store error, the flash of the last mutation.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ironpost_store::{StoreError, StoreReader};

use super::Console;
use super::auth::{SessionView, session};
use super::html::{esc, page_response};
use crate::shared::Shared;

mod alerts;
mod blocks;
mod containers;
mod overview;
mod rules;

pub(crate) use alerts::{alert_detail, alerts};
pub(crate) use blocks::blocks;
pub(crate) use containers::{containers, sbom};
pub(crate) use overview::overview;
pub(crate) use rules::rules;

use super::request::Flash;

/// The page being answered: the console, the viewer's session (if logged in), and the page's
/// title and navigation entry.
struct View<'a> {
    c: &'a Arc<Console>,
    s: Option<SessionView>,
    title: &'a str,
    active: &'static str,
}

impl<'a> View<'a> {
    fn new(app: &'a Shared, headers: &HeaderMap, title: &'a str, active: &'static str) -> Self {
        let c = app
            .console
            .as_ref()
            .expect("console routes are only served with the console");
        View {
            s: session(c, headers),
            c,
            title,
            active,
        }
    }

    /// The page with `body`.
    fn page(&self, body: String) -> Response {
        self.titled(StatusCode::OK, self.title, body)
    }

    /// A page with its own title and status (not found, bad request…).
    fn titled(&self, status: StatusCode, title: &str, body: String) -> Response {
        (
            status,
            page_response(title, self.active, self.s.as_ref(), body),
        )
            .into_response()
    }

    /// The page that says the store cannot be read (503).
    fn store_error(&self, e: &StoreError) -> Response {
        self.titled(
            StatusCode::SERVICE_UNAVAILABLE,
            self.title,
            format!(
                "<p class=\"error\" role=\"alert\">The store cannot be read: {}</p>",
                esc(&ironpost_core::error_chain(e))
            ),
        )
    }

    /// Runs `query` on the store's reader (opened on first use).
    async fn read<T>(
        &self,
        query: impl AsyncFnOnce(&StoreReader) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        query(self.c.reader().await?).await
    }
}

/// A store error inside a page that shows the rest.
fn error_p(e: &StoreError) -> String {
    format!(
        "<p class=\"error\">{}</p>",
        esc(&ironpost_core::error_chain(e))
    )
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
