//! Who may change state from the console. The credential is the token of `[console] token_file`:
//!
//! - sent as `Authorization: Bearer <token>` (scripts, the tests): a header a cross-site page
//!   cannot set without a CORS preflight, which this server never grants;
//! - or typed once into `/login`, which opens a session: a random id in an `HttpOnly`,
//!   `SameSite=Strict` cookie, and a random CSRF value that the pages put in a hidden field of
//!   every form and that a cross-site page cannot read. A session mutation needs both.
//!
//! - or, without typing the token, through a one-time login link that `ironpost-cli console
//!   login` makes on the daemon's host: a ticket file under `data_dir/console-login/` (only root
//!   can write there, as only root can use the control socket), spent by `GET /login/{ticket}`.
//!
//! Either way a request whose `Origin` is not this listener, or whose `Sec-Fetch-Site` says
//! `cross-site`/`same-site`, is refused. Tokens and CSRF values are compared in constant time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ironpost_core::EventId;

use super::html;
use super::request::{
    self, COOKIE, LoginForm, LogoutForm, NextQuery, bearer, is_ticket_name, local_path,
    session_cookie,
};
use super::{Console, lock};
use crate::shared::Shared;

/// Shortest token accepted from `token_file`.
const TOKEN_MIN: usize = 32;
/// Longest token file read.
const TOKEN_MAX: usize = 4096;
/// Sessions kept at once; the one closest to expiry makes room for a new one.
const MAX_SESSIONS: usize = 64;

/// Why `token_file` cannot be used; the daemon does not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenError {
    #[error("cannot read console.token_file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "console.token_file {path} is readable by group or others (mode {mode:o}): chmod 600 it"
    )]
    Mode { path: PathBuf, mode: u32 },
    #[error(
        "console.token_file {path}: the token must be {TOKEN_MIN} to {TOKEN_MAX} printable ASCII characters without spaces (got {len})"
    )]
    Shape { path: PathBuf, len: usize },
}

/// The operator token.
pub(crate) struct Token(Box<[u8]>);

impl Token {
    /// Reads `path`: mode 0600 or stricter, one token of printable ASCII (surrounding whitespace
    /// is trimmed).
    pub(crate) fn read(path: &Path) -> Result<Token, TokenError> {
        use std::os::unix::fs::PermissionsExt;
        let read = |source| TokenError::Read {
            path: path.to_owned(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read)?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(TokenError::Mode {
                path: path.to_owned(),
                mode,
            });
        }
        if meta.len() > TOKEN_MAX as u64 * 2 {
            return Err(TokenError::Shape {
                path: path.to_owned(),
                len: usize::try_from(meta.len()).unwrap_or(usize::MAX),
            });
        }
        let text = std::fs::read(path).map_err(read)?;
        let t = text.trim_ascii();
        if !(TOKEN_MIN..=TOKEN_MAX).contains(&t.len()) || !t.iter().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::Shape {
                path: path.to_owned(),
                len: t.len(),
            });
        }
        Ok(Token(t.into()))
    }

    pub(crate) fn matches(&self, given: &[u8]) -> bool {
        ct_eq(&self.0, given)
    }
}

/// Equal in time that depends only on the lengths.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// 244 random bits from the OS generator (two UUIDv4s), as 64 hex digits.
fn random_hex() -> String {
    format!("{}{}", EventId::new().0.simple(), EventId::new().0.simple())
}

struct Entry {
    csrf: String,
    expires: Instant,
}

/// Open sessions (in memory: a restart logs everyone out).
pub(crate) struct Sessions {
    ttl: Duration,
    map: Mutex<HashMap<String, Entry>>,
}

/// A session as a page needs it.
#[derive(Debug, Clone)]
pub(crate) struct SessionView {
    /// The first 8 hex digits of its id: the actor name in audit records.
    pub(crate) short: String,
    pub(crate) csrf: String,
}

impl Sessions {
    pub(crate) fn new(ttl: Duration) -> Self {
        Sessions {
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn open(&self) -> (String, String) {
        let (id, csrf) = (random_hex(), random_hex());
        let now = Instant::now();
        let mut map = lock(&self.map);
        map.retain(|_, e| e.expires > now);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, e)| e.expires)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            id.clone(),
            Entry {
                csrf: csrf.clone(),
                expires: now + self.ttl,
            },
        );
        (id, csrf)
    }

    fn get(&self, id: &str) -> Option<SessionView> {
        let map = lock(&self.map);
        let e = map.get(id)?;
        (e.expires > Instant::now()).then(|| SessionView {
            short: id.chars().take(8).collect(),
            csrf: e.csrf.clone(),
        })
    }

    fn close(&self, id: &str) {
        lock(&self.map).remove(id);
    }
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    session_cookie(
        headers
            .get_all(header::COOKIE)
            .iter()
            .map(HeaderValue::as_bytes),
    )
}

/// The session the request's cookie names, if open.
pub(crate) fn session(console: &Console, headers: &HeaderMap) -> Option<SessionView> {
    console.sessions.get(cookie(headers)?)
}

/// Who made a mutation.
#[derive(Debug, Clone)]
pub(crate) enum Actor {
    Token,
    Session(String),
}

impl Actor {
    /// The name written into the audit record (`ActionEvent::target.user`).
    pub(crate) fn name(&self) -> String {
        match self {
            Actor::Token => "console:token".into(),
            Actor::Session(s) => format!("console:session:{s}"),
        }
    }
}

/// Why a mutation was refused (the `reason` label of `ironpost_console_requests_refused_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `token_file` is not set: the console is read-only.
    NoToken,
    Origin,
    Credential,
    Csrf,
}

impl Refusal {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Refusal::NoToken => "read_only",
            Refusal::Origin => "origin",
            Refusal::Credential => "credential",
            Refusal::Csrf => "csrf",
        }
    }

    pub(crate) fn message(self) -> &'static str {
        match self {
            Refusal::NoToken => {
                "Read-only: console.token_file is not set in the daemon's config; open a session \
                 with `ironpost-cli console login` on the daemon's host."
            }
            Refusal::Origin => "Refused: the request came from another site.",
            Refusal::Credential => "Refused: this needs the console token (log in first).",
            Refusal::Csrf => "Refused: the form's CSRF field does not match your session.",
        }
    }
}

/// The request's `Origin` (and `Sec-Fetch-Site`) name this listener, or say nothing
/// (`request::same_origin`).
fn same_origin(headers: &HeaderMap, tls: bool) -> bool {
    request::same_origin(
        headers.get("sec-fetch-site").map(HeaderValue::as_bytes),
        headers.get(header::ORIGIN).map(HeaderValue::as_bytes),
        headers.get(header::HOST).map(HeaderValue::as_bytes),
        tls,
    )
}

/// Checks a mutation's credential: the bearer token, or a session cookie with its CSRF field.
pub(crate) fn authorize(
    console: &Console,
    headers: &HeaderMap,
    csrf: Option<&str>,
) -> Result<Actor, Refusal> {
    if !same_origin(headers, console.tls) {
        return Err(Refusal::Origin);
    }
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let Some(token) = console.token() else {
            return Err(Refusal::NoToken);
        };
        return if token.matches(bearer(auth.as_bytes())) {
            Ok(Actor::Token)
        } else {
            Err(Refusal::Credential)
        };
    }
    let Some(s) = session(console, headers) else {
        return Err(if console.token().is_none() {
            Refusal::NoToken
        } else {
            Refusal::Credential
        });
    };
    match csrf {
        Some(c) if ct_eq(c.as_bytes(), s.csrf.as_bytes()) => Ok(Actor::Session(s.short)),
        _ => Err(Refusal::Csrf),
    }
}

/// A refused request: 403 with the reason, counted.
pub(crate) fn refused(console: &Console, why: Refusal) -> Response {
    console
        .metrics
        .refused
        .with_label_values(&[why.label()])
        .inc();
    (
        StatusCode::FORBIDDEN,
        html::page_response(
            "Refused",
            "",
            None,
            format!(
                "<p class=\"error\" role=\"alert\">{}</p>",
                html::esc(why.message())
            ),
        ),
    )
        .into_response()
}

fn console(app: &Shared) -> &Arc<Console> {
    app.console
        .as_ref()
        .expect("console routes are only served with the console")
}

pub(crate) async fn login_page(
    State(app): State<Arc<Shared>>,
    axum::extract::Query(q): axum::extract::Query<NextQuery>,
    headers: HeaderMap,
) -> Response {
    let c = console(&app);
    let s = session(c, &headers);
    let body = if c.token().is_none() {
        format!("<p>{}</p>", html::esc(Refusal::NoToken.message()))
    } else {
        format!(
            "<form method=\"post\" action=\"/login\" class=\"login\">\
             <input type=\"hidden\" name=\"next\" value=\"{next}\">\
             <label for=\"token\">Console token</label>\
             <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required autofocus>\
             <button type=\"submit\" id=\"login\">Log in</button></form>\
             <p class=\"hint\">The token is the content of <code>console.token_file</code> on the daemon's host.</p>",
            next = html::esc(&local_path(q.next.as_deref()))
        )
    };
    html::page_response("Log in", "", s.as_ref(), body).into_response()
}

pub(crate) async fn login(
    State(app): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let c = console(&app);
    let Some(token) = c.token() else {
        return refused(c, Refusal::NoToken);
    };
    if !same_origin(&headers, c.tls) {
        return refused(c, Refusal::Origin);
    }
    if !token.matches(f.token.trim().as_bytes()) {
        return refused(c, Refusal::Credential);
    }
    session_response(c, &local_path(f.next.as_deref()))
}

/// Directory under `data_dir` where `ironpost-cli console login` leaves one-time tickets.
pub(crate) const TICKET_DIR: &str = "console-login";
/// Longest lifetime a ticket may claim (the CLI writes 120 s).
const TICKET_MAX_SECS: i64 = 600;

/// Spends the ticket `name` in `dir`: true when it existed, was private, and had not expired.
/// The file is removed first, so a ticket opens at most one session.
pub(crate) fn spend_ticket(dir: &Path, name: &str, now: i64) -> bool {
    use std::os::unix::fs::PermissionsExt;
    if !is_ticket_name(name) {
        return false;
    }
    let private = |p: &Path| {
        std::fs::symlink_metadata(p)
            .is_ok_and(|m| !m.file_type().is_symlink() && m.permissions().mode() & 0o022 == 0)
    };
    let path = dir.join(name);
    if !private(dir) || !private(&path) {
        return false;
    }
    let Ok(text) = std::fs::read_to_string(&path) else {
        return false;
    };
    if std::fs::remove_file(&path).is_err() {
        return false;
    }
    text.trim()
        .parse::<i64>()
        .is_ok_and(|exp| exp > now && exp <= now + TICKET_MAX_SECS)
}

/// `GET /login/{ticket}`: a one-time link from `ironpost-cli console login`.
pub(crate) async fn login_ticket(
    State(app): State<Arc<Shared>>,
    axum::extract::Path(ticket): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let c = console(&app);
    if !same_origin(&headers, c.tls) {
        return refused(c, Refusal::Origin);
    }
    let dir = c.data_dir.join(TICKET_DIR);
    let now = chrono::Utc::now().timestamp();
    let ok = tokio::task::spawn_blocking(move || spend_ticket(&dir, &ticket, now))
        .await
        .unwrap_or(false);
    if !ok {
        c.metrics.refused.with_label_values(&["ticket"]).inc();
        return (
            StatusCode::FORBIDDEN,
            html::page_response(
                "Refused",
                "",
                None,
                "<p class=\"error\" role=\"alert\">This login link is unknown, used or expired: \
                 run <code>ironpost-cli console login</code> again.</p>"
                    .into(),
            ),
        )
            .into_response();
    }
    session_response(c, "/")
}

/// Opens a session and redirects to `next` with its cookie.
fn session_response(c: &Console, next: &str) -> Response {
    let (id, _) = c.sessions.open();
    let cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        c.cfg.session_ttl_secs,
        if c.tls { "; Secure" } else { "" }
    );
    let mut r = Redirect::to(next).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

pub(crate) async fn logout(
    State(app): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(f): Form<LogoutForm>,
) -> Response {
    let c = console(&app);
    if let Some(id) = cookie(&headers)
        && let Some(s) = c.sessions.get(id)
        && same_origin(&headers, c.tls)
        && f.csrf
            .is_some_and(|x| ct_eq(x.as_bytes(), s.csrf.as_bytes()))
    {
        c.sessions.close(id);
    }
    let mut r = Redirect::to("/").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(if c.tls {
            "ironpost_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure"
        } else {
            "ironpost_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        }),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_equality() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }

    #[test]
    fn the_origin_check_reads_the_headers() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9470"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://127.0.0.1:9470"),
        );
        assert!(same_origin(&h, true));
        assert!(!same_origin(&h, false));
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h, true));
    }

    #[test]
    fn a_ticket_opens_one_session_while_fresh_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
        let name = "ab".repeat(32);
        let write = |exp: i64, mode: u32| {
            std::fs::write(d.join(&name), exp.to_string()).unwrap();
            std::fs::set_permissions(d.join(&name), std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write(1_100, 0o600);
        assert!(spend_ticket(d, &name, 1_000));
        assert!(!spend_ticket(d, &name, 1_000), "spent");
        write(999, 0o600);
        assert!(!spend_ticket(d, &name, 1_000), "expired");
        write(1_000 + TICKET_MAX_SECS + 1, 0o600);
        assert!(!spend_ticket(d, &name, 1_000), "too far in the future");
        write(1_100, 0o622);
        assert!(!spend_ticket(d, &name, 1_000), "writable by others");
        assert!(!spend_ticket(d, "../../etc/passwd", 1_000));
        assert!(!spend_ticket(d, &"AB".repeat(32), 1_000));
    }

    #[test]
    fn token_file_must_be_private_and_long() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, "0123456789abcdef0123456789abcdef\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(Token::read(&p), Err(TokenError::Mode { .. })));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let t = Token::read(&p).unwrap();
        assert!(t.matches(b"0123456789abcdef0123456789abcdef"));
        std::fs::write(&p, "short").unwrap();
        assert!(matches!(
            Token::read(&p),
            Err(TokenError::Shape { len: 5, .. })
        ));
    }
}
