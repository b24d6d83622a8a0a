//! Parses `--since` values (RFC 3339, a date, `90m`, `2h`, `7d`, `1h 30m`, `1.5h`, `1 hour ago`) and
//! durations (`--ttl 1h`). Durations are `humantime`'s grammar (case-insensitive here, so `M` is
//! minutes as it always was, not months); a bare number is seconds. Timestamps stay chrono's RFC
//! 3339 parser: humantime's accepts only `Z`, not offsets such as `+02:00`.

use chrono::{DateTime, NaiveDate, Utc};

/// Longest value read (a flag: anything longer is a mistake, not a time).
const MAX_LEN: usize = 64;

/// Why a `--since` or `--ttl` value was refused; the value is quoted as given.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SinceError {
    #[error(
        "cannot read `{value}` as a time: use RFC 3339, YYYY-MM-DD, 90m, 2h, 7d or `1 hour ago`"
    )]
    Unreadable {
        value: String,
        #[source]
        source: Option<humantime::DurationError>,
    },
    #[error("`{value}` is too long for a time (at most {MAX_LEN} characters)")]
    TooLong { value: String },
    #[error("`{value}` is out of range")]
    OutOfRange { value: String },
}

/// Parses a duration: `90` (seconds), `90s`, `30m`, `2h`, `7d`, `1w`, `1 hour`, `1h 30m`.
pub(crate) fn parse_duration(s: &str) -> Result<std::time::Duration, SinceError> {
    if s.len() > MAX_LEN {
        return Err(SinceError::TooLong {
            value: s.chars().take(MAX_LEN).collect(),
        });
    }
    let t = s.trim();
    let body = t.strip_suffix("ago").unwrap_or(t).trim();
    if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
        return body
            .parse()
            .map(std::time::Duration::from_secs)
            .map_err(|_| SinceError::OutOfRange { value: s.into() });
    }
    humantime::parse_duration(&body.to_ascii_lowercase()).map_err(|e| SinceError::Unreadable {
        value: s.into(),
        source: Some(e),
    })
}

/// An instant: RFC 3339, `YYYY-MM-DD` (midnight UTC) or a duration before `now`.
pub(crate) fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, SinceError> {
    let t = s.trim();
    if let Ok(ts) = DateTime::parse_from_rfc3339(t) {
        return Ok(ts.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d")
        && let Some(dt) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(dt.and_utc());
    }
    let back = parse_duration(t)?;
    chrono::Duration::from_std(back)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .ok_or_else(|| SinceError::OutOfRange { value: s.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn accepts_every_documented_form() {
        let at = |s: &str| {
            parse_since(s, now())
                .unwrap_or_else(|e| panic!("{s}: {e}"))
                .to_rfc3339()
        };
        for (input, want) in [
            ("2026-11-20T08:00:00Z", "2026-11-20T08:00:00+00:00"),
            ("2026-11-20T10:00:00+02:00", "2026-11-20T08:00:00+00:00"),
            ("2026-11-20", "2026-11-20T00:00:00+00:00"),
            ("90m", "2026-11-23T10:30:00+00:00"),
            ("90M", "2026-11-23T10:30:00+00:00"),
            ("2h", "2026-11-23T10:00:00+00:00"),
            ("2H", "2026-11-23T10:00:00+00:00"),
            ("1 hour ago", "2026-11-23T11:00:00+00:00"),
            ("3 days ago", "2026-11-20T12:00:00+00:00"),
            ("3days ago", "2026-11-20T12:00:00+00:00"),
            ("30s", "2026-11-23T11:59:30+00:00"),
            ("30", "2026-11-23T11:59:30+00:00"),
            (" 30 sec ", "2026-11-23T11:59:30+00:00"),
            ("10 min", "2026-11-23T11:50:00+00:00"),
            ("10 minutes ago", "2026-11-23T11:50:00+00:00"),
            ("1w", "2026-11-16T12:00:00+00:00"),
            ("2 weeks", "2026-11-09T12:00:00+00:00"),
            // New with humantime: combined units.
            ("1h 30m", "2026-11-23T10:30:00+00:00"),
            ("1h30m ago", "2026-11-23T10:30:00+00:00"),
            ("1.5h", "2026-11-23T10:30:00+00:00"),
        ] {
            assert_eq!(at(input), want, "{input}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for input in [
            "yesterday",
            "5 fortnights",
            "",
            "ago",
            "-5m",
            "2026-13-01",
            "5 parsecs",
        ] {
            let e = parse_since(input, now()).expect_err(input);
            assert!(matches!(e, SinceError::Unreadable { .. }), "{input}: {e:?}");
            assert!(e.to_string().contains(&format!("`{input}`")), "{e}");
        }
        let long = "1".repeat(100);
        assert!(matches!(
            parse_since(&long, now()),
            Err(SinceError::TooLong { .. })
        ));
        assert!(matches!(
            parse_since("99999999999999999999", now()),
            Err(SinceError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse_since("9999999999 weeks", now()),
            Err(SinceError::OutOfRange { .. } | SinceError::Unreadable { .. })
        ));
    }

    #[test]
    fn durations() {
        for (input, secs) in [
            ("90", 90),
            ("2h", 7200),
            ("1 day", 86400),
            ("1h 30m", 5400),
            ("1w", 604_800),
        ] {
            assert_eq!(parse_duration(input).unwrap().as_secs(), secs, "{input}");
        }
        for input in ["soon", "", "h", "1 fortnight"] {
            assert!(parse_duration(input).is_err(), "{input}");
        }
    }
}
