//! Parses `--since` values (RFC 3339, a date, `90m`, `2h`, `7d`, `1 hour ago`) and durations
//! (`--ttl 1h`).

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Parses a duration: `90` (seconds), `90s`, `30m`, `2h`, `7d`, `1w`, `1 hour`.
pub(crate) fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    parse_relative(s)?
        .to_std()
        .map_err(|_| format!("`{s}` is not a positive duration"))
}

/// `90m`, `2 hours`, `3 days ago` … as a chrono duration.
fn parse_relative(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let body = t.strip_suffix("ago").unwrap_or(t).trim();
    let split = body
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(body.len());
    let (num, unit) = body.split_at(split);
    let n: i64 = num.parse().map_err(|_| {
        format!(
            "cannot read `{s}` as a time: use RFC 3339, YYYY-MM-DD, 90m, 2h, 7d or `1 hour ago`"
        )
    })?;
    let unit = unit.trim().to_ascii_lowercase();
    Ok(match unit.trim_end_matches('s') {
        "" | "sec" | "second" => Duration::seconds(n),
        "m" | "min" | "minute" => Duration::minutes(n),
        "h" | "hour" => Duration::hours(n),
        "d" | "day" => Duration::days(n),
        "w" | "week" => Duration::weeks(n),
        _ => {
            return Err(format!(
                "unknown time unit `{unit}` in `{s}`: use s, m, h, d or w"
            ));
        }
    })
}

pub(crate) fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = s.trim();
    if let Ok(ts) = DateTime::parse_from_rfc3339(t) {
        return Ok(ts.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d")
        && let Some(dt) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(dt.and_utc());
    }
    Ok(now - parse_relative(t)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_documented_form() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s: &str| parse_since(s, now).unwrap().to_rfc3339();
        assert_eq!(at("2026-11-20T08:00:00Z"), "2026-11-20T08:00:00+00:00");
        assert_eq!(at("2026-11-20"), "2026-11-20T00:00:00+00:00");
        assert_eq!(at("90m"), "2026-11-23T10:30:00+00:00");
        assert_eq!(at("2h"), "2026-11-23T10:00:00+00:00");
        assert_eq!(at("1 hour ago"), "2026-11-23T11:00:00+00:00");
        assert_eq!(at("3 days ago"), "2026-11-20T12:00:00+00:00");
        assert_eq!(at("30s"), "2026-11-23T11:59:30+00:00");
        assert!(parse_since("yesterday", now).is_err());
        assert!(parse_since("5 fortnights", now).is_err());
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("2h").unwrap().as_secs(), 7200);
        assert_eq!(parse_duration("1 day").unwrap().as_secs(), 86400);
        assert!(parse_duration("soon").is_err());
    }
}
