//! What the console reads from a request, as pure functions: the alert filters of `/alerts` and
//! `/live` (query strings), the forms of the three mutations, of `/login` and `/logout`, the
//! flash of a redirect, the `next` redirect target, the session cookie in a `Cookie` header, the
//! bearer token of an `Authorization` header, the `Origin`/`Sec-Fetch-Site` check, the name of a
//! login ticket; and the escaping of what a page echoes back. Query strings and form bodies are
//! decoded by axum with `serde_urlencoded` into the structs below (`Query`, `Form`).
//!
//! This file depends only on std, serde and `ironpost_core`: the fuzz target `console_request`
//! compiles it as it is (`#[path]`), without linking the daemon (docs/fuzzing.md).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use ironpost_core::net::Cidr;
use ironpost_core::{AlertEvent, ContainerRef, Evidence, Severity};
use serde::Deserialize;

/// Rows an alert list shows unless `limit` asks for another number (at most `LIMIT_MAX`).
pub(crate) const LIMIT_DEFAULT: usize = 100;
pub(crate) const LIMIT_MAX: usize = 1000;
/// Longest reason accepted for a block made from the console (characters).
pub(crate) const REASON_MAX: usize = 200;
/// Longest container name or id accepted by restore.
pub(crate) const CONTAINER_MAX: usize = 128;
/// Name of the session cookie.
pub(crate) const COOKIE: &str = "ironpost_session";

/// Escapes text for an HTML element or a double-quoted attribute.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query value (everything but ASCII letters, digits and `-_.~`).
pub(crate) fn url_enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The filters of `/alerts` and `/live`, as the query string gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct AlertsQuery {
    pub(crate) severity: Option<String>,
    pub(crate) rule: Option<String>,
    pub(crate) src: Option<String>,
    pub(crate) evidence: Option<String>,
    pub(crate) container: Option<String>,
    /// The fleet node the alert comes from (the central role stores every node's).
    pub(crate) node: Option<String>,
    pub(crate) limit: Option<String>,
}

/// The filters, checked: what the store's query and the live stream's matcher use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AlertFilter {
    pub(crate) min_severity: Option<Severity>,
    pub(crate) evidence: Option<Evidence>,
    pub(crate) rule: Option<String>,
    pub(crate) src: Option<IpAddr>,
    pub(crate) container: Option<String>,
    pub(crate) node: Option<String>,
    /// 1 to `LIMIT_MAX`.
    pub(crate) limit: usize,
}

/// A field's value, trimmed; empty counts as absent.
pub(crate) fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl AlertsQuery {
    /// The checked filters, or what is wrong (shown to the viewer).
    pub(crate) fn parse(&self) -> Result<AlertFilter, String> {
        let limit = match nonempty(&self.limit) {
            None => LIMIT_DEFAULT,
            Some(l) => l
                .parse::<usize>()
                .map_err(|_| format!("limit is not a number: {l:?}"))?
                .clamp(1, LIMIT_MAX),
        };
        Ok(AlertFilter {
            min_severity: nonempty(&self.severity)
                .map(|s| s.parse().map_err(|_| format!("unknown severity {s:?}")))
                .transpose()?,
            evidence: nonempty(&self.evidence)
                .map(|s| s.parse().map_err(|_| format!("unknown evidence {s:?}")))
                .transpose()?,
            rule: nonempty(&self.rule).map(str::to_owned),
            src: nonempty(&self.src)
                .map(|s| s.parse().map_err(|_| format!("not an IP address: {s:?}")))
                .transpose()?,
            container: nonempty(&self.container).map(str::to_owned),
            node: nonempty(&self.node).map(str::to_owned),
            limit,
        })
    }

    /// The filters (not the limit) as a query string, trimmed and percent-encoded: the live
    /// stream's URL of an `/alerts` page.
    pub(crate) fn query_string(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("severity", &self.severity),
            ("rule", &self.rule),
            ("src", &self.src),
            ("evidence", &self.evidence),
            ("container", &self.container),
            ("node", &self.node),
        ] {
            if let Some(v) = nonempty(v) {
                parts.push(format!("{k}={}", url_enc(v)));
            }
        }
        parts.join("&")
    }
}

impl AlertFilter {
    /// The alert `a` of fleet node `node` passes every filter (the limit aside).
    pub(crate) fn matches(&self, a: &AlertEvent, node: &str) -> bool {
        self.node.as_deref().is_none_or(|n| n == node)
            && self.min_severity.is_none_or(|m| a.severity >= m)
            && self.rule.as_ref().is_none_or(|r| *r == a.rule_id)
            && self.src.is_none_or(|ip| a.entities.src_ip == Some(ip))
            && self.evidence.is_none_or(|e| e == a.evidence)
            && self.container.as_ref().is_none_or(|c| {
                a.entities
                    .container
                    .as_ref()
                    .is_some_and(|k| container_matches(k, c))
            })
    }
}

/// `c` is the container's name, its id, or a prefix of its id of 12+ characters (as the store's
/// container filter).
pub(crate) fn container_matches(k: &ContainerRef, c: &str) -> bool {
    k.name.as_deref() == Some(c)
        || k.id.as_deref() == Some(c)
        || (c.len() >= 12 && k.id.as_deref().is_some_and(|id| id.starts_with(c)))
}

/// A form's `cidr` field: an address or a network.
pub(crate) fn parse_cidr(text: &str) -> Result<Cidr, String> {
    text.trim().parse().map_err(|e| format!("cidr: {e}"))
}

/// `POST /blocks/unblock`.
#[derive(Debug, Deserialize)]
pub(crate) struct UnblockForm {
    pub(crate) cidr: String,
    pub(crate) csrf: Option<String>,
}

/// `POST /blocks/add`.
#[derive(Debug, Deserialize)]
pub(crate) struct BlockForm {
    pub(crate) cidr: String,
    pub(crate) ttl_secs: Option<String>,
    pub(crate) reason: Option<String>,
    pub(crate) csrf: Option<String>,
}

/// A block form, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockInput {
    pub(crate) cidr: Cidr,
    /// None: permanent.
    pub(crate) ttl: Option<Duration>,
    /// Trimmed; at most `REASON_MAX` characters, no control character; may be empty.
    pub(crate) reason: String,
}

impl BlockForm {
    pub(crate) fn parse(&self) -> Result<BlockInput, String> {
        let cidr = parse_cidr(&self.cidr)?;
        let ttl = match nonempty(&self.ttl_secs) {
            None => None,
            Some(t) => match t.parse::<u64>() {
                Ok(n) if n > 0 => Some(Duration::from_secs(n)),
                _ => return Err(format!("ttl_secs: not a positive number of seconds: {t:?}")),
            },
        };
        let reason = self.reason.as_deref().map(str::trim).unwrap_or("");
        if reason.chars().count() > REASON_MAX || reason.chars().any(char::is_control) {
            return Err(format!(
                "reason: at most {REASON_MAX} characters, no control characters"
            ));
        }
        Ok(BlockInput {
            cidr,
            ttl,
            reason: reason.to_owned(),
        })
    }
}

/// `POST /containers/restore`.
#[derive(Debug, Deserialize)]
pub(crate) struct RestoreForm {
    pub(crate) container: String,
    pub(crate) csrf: Option<String>,
}

impl RestoreForm {
    /// The container's name or id: 1 to `CONTAINER_MAX` of ASCII letters, digits, `_.-`.
    pub(crate) fn container_name(&self) -> Result<&str, String> {
        let name = self.container.trim();
        if name.is_empty()
            || name.len() > CONTAINER_MAX
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        {
            return Err("container: a container name or id".into());
        }
        Ok(name)
    }
}

/// `POST /login`.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    pub(crate) token: String,
    pub(crate) next: Option<String>,
}

/// `GET /login?next=`.
#[derive(Debug, Deserialize)]
pub(crate) struct NextQuery {
    pub(crate) next: Option<String>,
}

/// `POST /logout`.
#[derive(Debug, Deserialize)]
pub(crate) struct LogoutForm {
    pub(crate) csrf: Option<String>,
}

/// The outcome of the last mutation, passed in the redirect's query (`?done=` / `?failed=`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Flash {
    pub(crate) done: Option<String>,
    pub(crate) failed: Option<String>,
}

/// A local redirect target: an absolute path on this site, nothing else.
pub(crate) fn local_path(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// The session cookie's value among the `Cookie` headers' values (`a=1; ironpost_session=…`).
pub(crate) fn session_cookie<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<&'a str> {
    values
        .into_iter()
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == COOKIE).then_some(v)
        })
}

/// The token of an `Authorization: Bearer <token>` header (empty when it is not one).
pub(crate) fn bearer(authorization: &[u8]) -> &[u8] {
    authorization
        .strip_prefix(b"Bearer ")
        .unwrap_or(b"")
        .trim_ascii()
}

/// A request's `Origin` (and `Sec-Fetch-Site`) name this listener (`host`, the `Host` header),
/// or say nothing. `tls`: the listener speaks TLS, so its origin is `https://` and `http://` is
/// another site.
pub(crate) fn same_origin(
    sec_fetch_site: Option<&[u8]>,
    origin: Option<&[u8]>,
    host: Option<&[u8]>,
    tls: bool,
) -> bool {
    if let Some(site) = sec_fetch_site
        && !matches!(site, b"same-origin" | b"none")
    {
        return false;
    }
    let Some(origin) = origin else {
        return true;
    };
    let Some(host) = host.filter(|h| !h.is_empty()) else {
        return false;
    };
    let scheme: &[u8] = if tls { b"https://" } else { b"http://" };
    origin.strip_prefix(scheme) == Some(host)
}

/// A login ticket's name: 64 lower-case hex digits (what `ironpost-cli console login` writes),
/// so it never names a path outside the ticket directory.
pub(crate) fn is_ticket_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_this_site() {
        assert_eq!(local_path(Some("/blocks?x=1")), "/blocks?x=1");
        for bad in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil",
            "blocks",
            "/\r\nSet-Cookie: x=1",
        ] {
            assert_eq!(local_path(Some(bad)), "/", "{bad}");
        }
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn origin_must_be_this_listener() {
        let host = Some(&b"127.0.0.1:9470"[..]);
        assert!(
            same_origin(None, None, host, false),
            "no Origin: a same-site form or a script"
        );
        let http = Some(&b"http://127.0.0.1:9470"[..]);
        let https = Some(&b"https://127.0.0.1:9470"[..]);
        assert!(same_origin(None, http, host, false));
        assert!(
            !same_origin(None, http, host, true),
            "http:// is another site of a TLS listener"
        );
        assert!(same_origin(None, https, host, true));
        assert!(!same_origin(None, https, host, false));
        assert!(!same_origin(
            None,
            Some(b"http://evil.example"),
            host,
            false
        ));
        assert!(!same_origin(None, http, None, false), "no Host");
        assert!(!same_origin(Some(b"cross-site"), http, host, false));
        assert!(!same_origin(Some(b"same-site"), None, host, false));
        assert!(same_origin(Some(b"same-origin"), http, host, false));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let v: [&[u8]; 2] = [b"a=1; b=2", b"x=y; ironpost_session=abc; z=1"];
        assert_eq!(session_cookie(v), Some("abc"));
        let none: [&[u8]; 1] = [b"ironpost_sessionx=1; \xff"];
        assert_eq!(session_cookie(none), None);
        assert_eq!(bearer(b"Bearer  tok "), b"tok");
        assert_eq!(bearer(b"Basic tok"), b"");
    }

    #[test]
    fn filters_parse_and_round_trip() {
        let q = AlertsQuery {
            severity: Some(" high ".into()),
            src: Some("198.18.0.1".into()),
            node: Some("edge a&b".into()),
            limit: Some("5000".into()),
            ..AlertsQuery::default()
        };
        let f = q.parse().unwrap();
        assert_eq!(f.min_severity, Some(Severity::High));
        assert_eq!(f.limit, LIMIT_MAX);
        assert_eq!(f.node.as_deref(), Some("edge a&b"));
        assert_eq!(
            q.query_string(),
            "severity=high&src=198.18.0.1&node=edge%20a%26b"
        );
        for bad in [
            AlertsQuery {
                limit: Some("x".into()),
                ..AlertsQuery::default()
            },
            AlertsQuery {
                src: Some("nope".into()),
                ..AlertsQuery::default()
            },
            AlertsQuery {
                evidence: Some("maybe".into()),
                ..AlertsQuery::default()
            },
        ] {
            assert!(bad.parse().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn forms_are_checked() {
        let block = |ttl: &str, reason: &str| BlockForm {
            cidr: " 198.18.0.0/24 ".into(),
            ttl_secs: Some(ttl.into()),
            reason: Some(reason.into()),
            csrf: None,
        };
        let ok = block("60", " scan ").parse().unwrap();
        assert_eq!(ok.ttl, Some(Duration::from_secs(60)));
        assert_eq!(ok.reason, "scan");
        assert_eq!(block("", "").parse().unwrap().ttl, None);
        assert!(block("0", "").parse().is_err());
        assert!(block("-1", "").parse().is_err());
        assert!(block("60", "a\nb").parse().is_err());
        assert!(block("60", &"x".repeat(REASON_MAX + 1)).parse().is_err());
        let restore = |c: &str| RestoreForm {
            container: c.into(),
            csrf: None,
        };
        assert_eq!(restore(" web-1 ").container_name(), Ok("web-1"));
        assert!(restore("../x y").container_name().is_err());
        assert!(restore("").container_name().is_err());
        assert!(is_ticket_name(&"ab".repeat(32)));
        assert!(!is_ticket_name(&"AB".repeat(32)));
        assert!(!is_ticket_name("../../etc/passwd"));
    }
}
