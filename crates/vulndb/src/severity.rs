//! Severity from CVSS vectors and database ratings.
//!
//! CVSS v3.0/v3.1 base scores are computed here from the specification's formula (section 7 of
//! the v3.1 spec, with its v3.1 `Roundup`); v4.0 scores come from the `cvss` crate, whose
//! scoring needs the spec's large macro-vector table. Scores map to levels by the CVSS
//! qualitative scale: 0.0 none (our `info`), 0.1–3.9 low, 4.0–6.9 medium, 7.0–8.9 high,
//! 9.0–10.0 critical. CVSS v2 vectors are not scored.

use ironpost_core::Severity;

use crate::advisory::{ScoreSource, SeverityScore};

/// The CVSS qualitative rating of a base score.
pub fn level_for_score(score: f64) -> Severity {
    if score >= 9.0 {
        Severity::Critical
    } else if score >= 7.0 {
        Severity::High
    } else if score >= 4.0 {
        Severity::Medium
    } else if score > 0.0 {
        Severity::Low
    } else {
        Severity::Info
    }
}

/// Scores a `CVSS:3.x/…` or `CVSS:4.0/…` vector; `None` when it is neither or malformed.
pub fn score_vector(vector: &str) -> Option<SeverityScore> {
    let v = vector.trim();
    let (source, score) = if v.starts_with("CVSS:3.") {
        (ScoreSource::CvssV3, cvss3_base_score(v)?)
    } else if v.starts_with("CVSS:4.0/") {
        let parsed: cvss::v4::Vector = v.parse().ok()?;
        (ScoreSource::CvssV4, parsed.score().value())
    } else {
        return None;
    };
    Some(SeverityScore {
        source,
        vector: v.to_owned(),
        score: Some(score),
        level: level_for_score(score),
    })
}

/// GitHub-style qualitative ratings found in `database_specific.severity`.
pub fn score_database_rating(rating: &str) -> Option<SeverityScore> {
    let level = match rating.trim().to_ascii_uppercase().as_str() {
        "LOW" => Severity::Low,
        "MODERATE" | "MEDIUM" => Severity::Medium,
        "HIGH" => Severity::High,
        "CRITICAL" => Severity::Critical,
        _ => return None,
    };
    Some(SeverityScore {
        source: ScoreSource::DatabaseSpecific,
        vector: rating.trim().to_owned(),
        score: None,
        level,
    })
}

/// CVSS v3.x base score. Every base metric must appear exactly once; temporal and environmental
/// metrics are allowed and ignored (the base score is what advisories publish).
pub fn cvss3_base_score(vector: &str) -> Option<f64> {
    let mut parts = vector.split('/');
    let minor = match parts.next()? {
        "CVSS:3.0" => 0,
        "CVSS:3.1" => 1,
        _ => return None,
    };
    let (mut av, mut ac, mut pr, mut ui, mut s, mut c, mut i, mut a) =
        (None, None, None, None, None, None, None, None);
    for part in parts {
        let (key, val) = part.split_once(':')?;
        let slot = match key {
            "AV" => &mut av,
            "AC" => &mut ac,
            "PR" => &mut pr,
            "UI" => &mut ui,
            "S" => &mut s,
            "C" => &mut c,
            "I" => &mut i,
            "A" => &mut a,
            // Temporal and environmental metrics do not change the base score.
            _ => continue,
        };
        if slot.replace(val).is_some() {
            return None;
        }
    }
    let changed = match s? {
        "U" => false,
        "C" => true,
        _ => return None,
    };
    let av = match av? {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        "P" => 0.2,
        _ => return None,
    };
    let ac = match ac? {
        "L" => 0.77,
        "H" => 0.44,
        _ => return None,
    };
    let pr = match (pr?, changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        ("H", false) => 0.27,
        ("H", true) => 0.5,
        _ => return None,
    };
    let ui = match ui? {
        "N" => 0.85,
        "R" => 0.62,
        _ => return None,
    };
    let cia = |m: Option<&str>| match m? {
        "H" => Some(0.56),
        "L" => Some(0.22),
        "N" => Some(0.0),
        _ => None,
    };
    let (c, i, a) = (cia(c)?, cia(i)?, cia(a)?);
    let iss = 1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a);
    let impact = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02f64).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Some(0.0);
    }
    let raw = if changed {
        (1.08 * (impact + exploitability)).min(10.0)
    } else {
        (impact + exploitability).min(10.0)
    };
    Some(roundup(raw, minor))
}

/// The smallest one-decimal number ≥ x. v3.1 defines it on integers to avoid floating-point
/// artefacts (Appendix A); v3.0 is the plain ceiling.
fn roundup(x: f64, minor: u8) -> f64 {
    if minor == 0 {
        return (x * 10.0).ceil() / 10.0;
    }
    let int_input = (x * 100_000.0).round() as i64;
    if int_input % 10_000 == 0 {
        int_input as f64 / 100_000.0
    } else {
        ((int_input / 10_000) + 1) as f64 / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvss3_known_scores() {
        // Scores from the FIRST calculator.
        for (vector, want) in [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:N/A:N", 3.7),
            ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
            ("CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9),
            ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O", 9.8),
        ] {
            assert_eq!(cvss3_base_score(vector), Some(want), "{vector}");
        }
    }

    #[test]
    fn cvss3_rejects_incomplete_or_repeated_metrics() {
        for bad in [
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
            "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P",
            "CVSS:3.1/AVN",
        ] {
            assert_eq!(cvss3_base_score(bad), None, "{bad}");
        }
    }

    #[test]
    fn cvss3_agrees_with_the_cvss_crate() {
        let vectors = [
            "CVSS:3.1/AV:A/AC:H/PR:L/UI:R/S:C/C:L/I:H/A:N",
            "CVSS:3.0/AV:L/AC:H/PR:H/UI:N/S:C/C:H/I:L/A:L",
            "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:L/I:L/A:L",
            "CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:C/C:N/I:N/A:H",
        ];
        for v in vectors {
            let theirs: cvss::v3::Vector = v.parse().unwrap();
            assert_eq!(
                cvss3_base_score(v),
                Some(theirs.base_score().value()),
                "{v}"
            );
        }
    }

    #[test]
    fn cvss4_via_crate() {
        let s = score_vector("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")
            .unwrap();
        assert_eq!(s.score, Some(9.3));
        assert_eq!(s.level, Severity::Critical);
        assert_eq!(s.source, ScoreSource::CvssV4);
        assert!(score_vector("CVSS:4.0/AV:N").is_none());
    }

    #[test]
    fn levels_follow_the_qualitative_scale() {
        for (score, want) in [
            (0.0, Severity::Info),
            (0.1, Severity::Low),
            (3.9, Severity::Low),
            (4.0, Severity::Medium),
            (6.9, Severity::Medium),
            (7.0, Severity::High),
            (8.9, Severity::High),
            (9.0, Severity::Critical),
            (10.0, Severity::Critical),
        ] {
            assert_eq!(level_for_score(score), want, "{score}");
        }
    }

    #[test]
    fn database_ratings() {
        assert_eq!(
            score_database_rating("MODERATE").map(|s| s.level),
            Some(Severity::Medium)
        );
        assert_eq!(score_database_rating("unknown"), None);
    }
}
