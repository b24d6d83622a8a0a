//! Tests of the log parsers (`ironpost_log_pipeline::parse`): one table per format (web access
//! logs and the other services in `web.rs`), the auth
//! extraction table, property tests, and the generated sshd corpus in all four renderings.
//!
//! Table cases compare [`render`], a one-line summary of every field a record has, with the
//! expected text, and report every failing case at once.

mod auth;
mod corpus;
mod json;
mod props;
mod rfc3164;
mod rfc5424;
mod web;

use ironpost_log_pipeline::parse::{ParseContext, Record, parse};

/// 2026-12-01T00:00:00Z, UTC: the receive time of every table case.
pub const RECEIVED: i64 = 1_796_083_200_000_000;

pub fn ctx() -> ParseContext {
    ParseContext::new(RECEIVED, 0)
}

/// Microseconds since the epoch as RFC 3339 UTC.
pub fn iso(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string())
        .unwrap_or_else(|| format!("{micros}us"))
}

/// Every field a record has, in a fixed order, on one line.
pub fn render(r: &Record<'_>) -> String {
    let mut out = vec![r.format.as_str().to_string()];
    if let Some(t) = r.timestamp_micros {
        out.push(format!("ts={}", iso(t)));
    }
    if let Some(f) = r.facility_name() {
        out.push(format!("fac={f}"));
    }
    if let Some(s) = r.severity_name() {
        out.push(format!("sev={s}"));
    }
    if let Some(h) = &r.hostname {
        out.push(format!("host={h}"));
    }
    if let Some(a) = &r.app {
        out.push(format!("app={a}"));
    }
    if let Some(p) = r.pid {
        out.push(format!("pid={p}"));
    }
    if let Some(m) = r.msgid {
        out.push(format!("msgid={m}"));
    }
    out.push(format!("msg={:?}", r.message));
    if !r.structured.is_empty() {
        let sd: Vec<String> = r
            .structured
            .iter()
            .map(|p| format!("{}={:?}", p.key(), p.value))
            .collect();
        out.push(format!("sd[{}]", sd.join(" ")));
    }
    out.push(render_auth(r));
    let i = r.issues;
    for (set, name) in [
        (i.invalid_utf8, "!utf8"),
        (i.bad_timestamp, "!ts"),
        (i.malformed_structured_data, "!sd"),
        (i.structured_truncated, "!sd_truncated"),
        (i.json_too_deep, "!deep"),
        (i.invalid_json, "!json"),
    ] {
        if set {
            out.push(name.to_string());
        }
    }
    out.retain(|s| !s.is_empty());
    out.join(" ")
}

/// The auth fields as `auth{ip=… port=… user=… target=… out=…}`, or "" when there are none.
pub fn render_auth(r: &Record<'_>) -> String {
    let a = r.auth();
    let mut out = Vec::new();
    if let Some(ip) = a.src_ip {
        out.push(format!("ip={ip}"));
    }
    if let Some(p) = a.port {
        out.push(format!("port={p}"));
    }
    if let Some(u) = r.user() {
        out.push(format!("user={u:?}"));
    }
    if let Some(u) = r.target_user() {
        out.push(format!("target={u:?}"));
    }
    if let Some(o) = a.outcome {
        out.push(format!("out={}", o.as_str()));
    }
    if out.is_empty() {
        String::new()
    } else {
        format!("auth{{{}}}", out.join(" "))
    }
}

/// Parses every line of a table and compares its rendering; panics listing every mismatch.
pub fn check_table(name: &str, cases: &[(&[u8], &str)]) {
    let ctx = ctx();
    let mut failures = Vec::new();
    for (line, expected) in cases {
        let got = render(&parse(line, &ctx));
        if got != *expected {
            failures.push(format!(
                "line:     {:?}\nexpected: {expected}\ngot:      {got}",
                String::from_utf8_lossy(line)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} of {} cases failed\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
