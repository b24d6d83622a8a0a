//! Fuzz target: what the web console reads from a request (anyone who reaches the HTTP
//! listener): the `/alerts` and `/live` query string, the form bodies of unblock, block, restore,
//! login and logout, the flash of a redirect, the `next` target, `Cookie`, `Authorization`,
//! `Origin`/`Sec-Fetch-Site`/`Host`, a login ticket's name. The input is decoded as each query or
//! form (with `serde_urlencoded`, as axum's `Query` and `Form` do) and split into header lines.
//! The functions are the daemon's own: `crates/daemon/src/console/request.rs`, compiled here as
//! it is, so the target need not link the daemon.
//!
//! Run with `make fuzz FUZZ_TARGETS=console_request` (see docs/fuzzing.md).

#![no_main]

use ironpost_core::{AlertEvent, AlertSource, ContainerRef, Severity};
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../crates/daemon/src/console/request.rs"]
mod request;

use request::*;

/// What `esc` returns never opens a tag or closes an attribute.
fn escaped(s: &str) {
    let e = esc(s);
    assert!(!e.contains(['<', '>', '"', '\'']), "{e:?}");
}

/// A header value axum can send: no control character but tab (`http::HeaderValue`).
fn header_safe(s: &str) -> bool {
    s.bytes().all(|b| (b >= 0x20 && b != 0x7f) || b == b'\t')
}

fn filters(data: &[u8]) {
    let Ok(q) = serde_urlencoded::from_bytes::<AlertsQuery>(data) else {
        return;
    };
    for v in [
        &q.severity,
        &q.rule,
        &q.src,
        &q.evidence,
        &q.container,
        &q.node,
        &q.limit,
    ]
    .into_iter()
    .flatten()
    {
        escaped(v);
    }
    let qs = q.query_string();
    assert!(
        qs.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~%=&".contains(&b)),
        "{qs:?}"
    );
    let Ok(f) = q.parse() else {
        return;
    };
    assert!((1..=LIMIT_MAX).contains(&f.limit));
    // The live stream's URL of the page reads back as the same filters (the limit aside).
    let back: AlertsQuery = serde_urlencoded::from_str(&qs).expect("own query string decodes");
    let again = back.parse().expect("own query string parses");
    assert_eq!(
        again,
        AlertFilter {
            limit: LIMIT_DEFAULT,
            ..f.clone()
        }
    );
    // An alert made to fit the filters matches them; on another node it does not, when a node
    // is asked for.
    let mut a = AlertEvent::new(
        AlertSource::External,
        f.rule.clone().unwrap_or_default(),
        "t",
        Severity::Critical,
    );
    a.entities.src_ip = f.src;
    if let Some(e) = f.evidence {
        a.evidence = e;
    }
    a.entities.container = f.container.as_ref().map(|c| ContainerRef {
        id: None,
        name: Some(c.clone()),
    });
    let node = f.node.clone().unwrap_or_else(|| "n".into());
    assert!(f.matches(&a, &node), "{f:?}");
    if f.node.is_some() {
        assert!(!f.matches(&a, &format!("{node}x")));
    }
}

fn forms(data: &[u8]) {
    if let Ok(u) = serde_urlencoded::from_bytes::<UnblockForm>(data) {
        let _ = parse_cidr(&u.cidr);
    }
    if let Ok(b) = serde_urlencoded::from_bytes::<BlockForm>(data)
        && let Ok(x) = b.parse()
    {
        assert!(x.reason.chars().count() <= REASON_MAX);
        assert!(!x.reason.chars().any(char::is_control));
        assert!(x.ttl.is_none_or(|t| !t.is_zero()));
        assert_eq!(x.cidr, parse_cidr(&b.cidr).expect("the same cidr"));
    }
    if let Ok(r) = serde_urlencoded::from_bytes::<RestoreForm>(data)
        && let Ok(name) = r.container_name()
    {
        assert!(!name.is_empty() && name.len() <= CONTAINER_MAX);
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        );
    }
    let next = |n: Option<&str>| {
        let p = local_path(n);
        assert!(
            p.starts_with('/') && !p.starts_with("//") && !p.contains('\\'),
            "{p:?}"
        );
        assert!(header_safe(&p), "a Location header axum cannot send: {p:?}");
    };
    if let Ok(l) = serde_urlencoded::from_bytes::<LoginForm>(data) {
        next(l.next.as_deref());
        let _ = bearer(l.token.as_bytes());
    }
    if let Ok(n) = serde_urlencoded::from_bytes::<NextQuery>(data) {
        next(n.next.as_deref());
    }
    if let Ok(o) = serde_urlencoded::from_bytes::<LogoutForm>(data) {
        let _ = o.csrf.map(|c| c.len());
    }
    if let Ok(f) = serde_urlencoded::from_bytes::<Flash>(data) {
        for v in [&f.done, &f.failed].into_iter().flatten() {
            escaped(v);
            assert!(url_enc(v).bytes().all(|b| b.is_ascii_graphic()));
        }
    }
}

fn headers(data: &[u8]) {
    // Lines: Sec-Fetch-Site, Origin, Host; all lines are also Cookie header values.
    let mut lines = data.split(|b| *b == b'\n');
    let site = lines.next();
    let origin = lines.next();
    let host = lines.next();
    for tls in [false, true] {
        if same_origin(site, origin, host, tls)
            && let Some(o) = origin
        {
            let scheme: &[u8] = if tls { b"https://" } else { b"http://" };
            let h = host.expect("an Origin is only accepted with a Host");
            assert_eq!(o, [scheme, h].concat().as_slice());
            assert!(site.is_none_or(|s| s == b"same-origin" || s == b"none"));
        }
    }
    if let Some(v) = session_cookie(data.split(|b| *b == b'\n')) {
        assert!(!v.contains(';'));
    }
    let t = bearer(data);
    assert!(t.len() <= data.len());
    assert!(t.first().is_none_or(|b| !b.is_ascii_whitespace()));
    assert!(t.last().is_none_or(|b| !b.is_ascii_whitespace()));
    if let Ok(s) = std::str::from_utf8(data)
        && is_ticket_name(s)
    {
        assert!(!s.contains(['/', '.']) && s.len() == 64);
    }
}

fuzz_target!(|data: &[u8]| {
    filters(data);
    forms(data);
    headers(data);
});
