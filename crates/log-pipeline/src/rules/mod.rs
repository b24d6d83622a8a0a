//! Detection rules: loading (the seed's YAML format, the original project's variant, Sigma), one
//! compiled [`RuleSet`] with a literal prefilter, and alerting (thresholds, dedup, rate limit).
//!
//! # Pipeline
//!
//! ```text
//! YAML text ──load──▶ Vec<Rule> ──RuleSet::compile──▶ RuleSet ──matches(rec)──▶ &Rule ──Alerter::observe──▶ AlertEvent
//!   native.rs / sigma.rs          compile.rs + literal.rs   ruleset.rs                    alerting.rs + state.rs
//! ```
//!
//! Every format compiles to one representation, [`Rule`]: metadata plus an [`Expr`], a boolean
//! tree (`all` / `any` / `not`) over leaf [`Condition`]s. The seed format is an `all` (or `any`) of
//! leaves; Sigma's `condition` becomes an arbitrary tree.
//!
//! # Native rule format (seed 003, loaded verbatim)
//!
//! ```yaml
//! id: ssh_brute_force                 # required; no whitespace, at most 256 characters
//! title: SSH Brute Force Attack       # required
//! description: Multiple failed SSH login attempts from same IP
//! severity: high                      # info|low|medium|high|critical, any case
//! status: enabled                     # enabled (default) | disabled (validated, not evaluated) | test (evaluated, never alerts)
//! detection:
//!   condition: all                    # all (default: conditions are ANDed) | any
//!   conditions:
//!     - field: process
//!       operator: equals
//!       value: sshd
//!       modifier: case_insensitive
//!     - field: message
//!       operator: contains
//!       value: "Failed password"
//!   threshold:                        # optional: alert when `count` matches fall in the window
//!     count: 5
//!     timeframe_secs: 60              # or `timeframe: 60` / "1m" / "2h" (variant)
//!     group_by: src_ip                # or a list of fields; `field:` in the variant
//! tags: [attack.credential_access, T1110]
//! ```
//!
//! One file holds one rule, a YAML list of rules, or several `---`-separated documents. Unknown
//! keys are errors that name `file:line:column` and the rule id.
//!
//! **Operators** (`operator:`): `equals` (alias `exact`), `contains`, `startswith`, `endswith`,
//! `regex`, `in` (list value), `cidr` (a CIDR or a list; a bare address is a /32 or /128),
//! `exists` (no value, or `value: false` for "absent"), and numeric `gt`, `gte`, `lt`, `lte`, `eq`.
//! Without `operator` the match is `equals`. A list value for `equals` means `in`; for `contains`,
//! `startswith`, `endswith` and `regex` it means "any of them".
//!
//! **Modifiers** (`modifier:`, one or a list): `case_insensitive` (ASCII case folding for ASCII
//! values, Unicode simple case folding otherwise); `regex` (same as `operator: regex`); and, for
//! the original project's variant that had no `operator`, `exact`, `contains`, `startswith`,
//! `endswith` naming the operator.
//!
//! **Nesting**: a condition may instead be `{ any: [..] }`, `{ all: [..] }` or `{ not: {..} }`.
//!
//! **Fields** are the names of [`crate::fields`]; aliases resolved when a rule loads:
//! `program`, `app`, `app_name` → `process`; `host` → `hostname`; `msg` → `message`;
//! `source_ip` (the original project's name) → `src_ip`.
//!
//! **Regexes** use the `regex` crate (linear time, no backreferences or lookaround), are searched
//! unanchored, may be at most [`MAX_PATTERN_CHARS`] characters, and must compile within
//! [`REGEX_SIZE_LIMIT`] bytes.
//!
//! Architecture invariant: matching is pure (`&self`, no I/O, no clock); time and state live only
//! in [`Alerter`] and its [`AlertState`].

mod alerting;
mod compile;
mod correlate;
mod error;
mod expr;
mod literal;
mod load;
mod native;
mod redis_state;
mod ruleset;
mod samples;
mod sigma;
mod state;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use ironpost_core::severity::Severity;

pub use alerting::{
    AlertCounters, Alerter, AlertingConfig, Clock, ManualClock, Observed, Staged, SystemClock,
};
pub use correlate::{Correlate, Near};
pub use error::RuleError;
pub use expr::{Cmp, Condition, Expr, Op};
pub use load::{
    Loaded, MAX_RULE_FILE_BYTES, RejectKind, Rejected, Report, RuleSummary, load_dir, load_file,
    load_str, validate_dir,
};
pub use redis_state::{
    AlertStateMetrics, MAX_DECISIONS_PER_CALL, RedisAlertState, RedisCause, RedisOptions,
};
pub use ruleset::{PrefilterStats, RuleSet, Scratch};
pub use samples::{
    Malformed, Mismatch, SAMPLE_EXT, SAMPLE_RECEIVED_MICROS, SAMPLES_DIR, SampleReport,
    check_samples,
};
pub use sigma::{MAX_DISTINCT, SIGMA_FIELD_MAP, SIGMA_SERVICES};
pub use state::{
    AlertState, AsyncAlertState, Decision, HitVerdict, MemoryAlertState, Outcome, StateStats,
    decide_now, decide_with,
};

/// The tag that puts a rule in sshd mode `ddos` (also loaded in `aggressive`).
pub const SSHD_MODE_DDOS_TAG: &str = "ironpost.sshd_mode.ddos";
/// The tag that puts a rule in sshd mode `aggressive` only.
pub const SSHD_MODE_AGGRESSIVE_TAG: &str = "ironpost.sshd_mode.aggressive";

/// Which sshd rules run (`log_pipeline.sshd_mode`), as fail2ban's sshd filter modes separate
/// them: `normal` — authentication failures only; `ddos` — also connections dropped before
/// authentication (rules tagged [`SSHD_MODE_DDOS_TAG`]); `aggressive` — also the noisier
/// negotiation failures (tagged [`SSHD_MODE_AGGRESSIVE_TAG`]). Unlike fail2ban's `ddos`, which
/// replaces the normal patterns, each mode here adds to the one before. Rules without either tag
/// run in every mode. Ordered: each mode admits the rules of the ones before it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum SshdMode {
    #[default]
    Normal,
    Ddos,
    Aggressive,
}

impl SshdMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SshdMode::Normal => "normal",
            SshdMode::Ddos => "ddos",
            SshdMode::Aggressive => "aggressive",
        }
    }

    /// The mode a rule's tags put it in (`normal` without a mode tag).
    pub fn of(rule: &Rule) -> SshdMode {
        let has = |t: &str| rule.tags.iter().any(|x| x.eq_ignore_ascii_case(t));
        if has(SSHD_MODE_AGGRESSIVE_TAG) {
            SshdMode::Aggressive
        } else if has(SSHD_MODE_DDOS_TAG) {
            SshdMode::Ddos
        } else {
            SshdMode::Normal
        }
    }

    /// Whether a rule runs in this mode.
    pub fn admits(self, rule: &Rule) -> bool {
        SshdMode::of(rule) <= self
    }
}

/// Longest regex pattern accepted, in characters (seed 000: ReDoS defence).
pub const MAX_PATTERN_CHARS: usize = 1000;
/// `RegexBuilder::size_limit` for every rule regex: the compiled program's size.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// `RegexBuilder::dfa_size_limit` for every rule regex: the lazy DFA's cache per regex.
pub const REGEX_DFA_SIZE_LIMIT: usize = 1 << 20;
/// Longest threshold window accepted.
pub const MAX_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// One detection rule, whatever format it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Stable id (`ssh_brute_force`, a Sigma UUID); alerts carry it as `rule_id`.
    pub id: String,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub status: RuleStatus,
    pub tags: Vec<String>,
    /// What a record must satisfy.
    pub expr: Expr,
    /// Alert only when enough matches fall in a window.
    pub threshold: Option<Threshold>,
    pub format: RuleFormat,
    /// Where the rule came from (for errors and `rules validate`).
    pub origin: Origin,
}

/// Alert when `count` matches with the same `group_by` values fall within `window` (with
/// `correlate`, `count` distinct values or parts instead of matches).
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub count: u32,
    pub window: Duration,
    /// Field names whose values form the group key; empty = one group for the whole rule.
    pub group_by: Vec<String>,
    /// What is counted instead of matches (Sigma `count(field)` and `near`); `None` = matches.
    pub correlate: Option<Correlate>,
}

/// Whether a rule is evaluated and whether it alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuleStatus {
    /// Evaluated; matches alert.
    #[default]
    Enabled,
    /// Loaded and validated, left out of the [`RuleSet`].
    Disabled,
    /// Evaluated and counted, never alerts (trying a rule out in production).
    Test,
}

impl RuleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleStatus::Enabled => "enabled",
            RuleStatus::Disabled => "disabled",
            RuleStatus::Test => "test",
        }
    }
}

/// The format a rule was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleFormat {
    /// The seed's YAML format or the original project's variant.
    Native,
    Sigma,
}

impl RuleFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleFormat::Native => "native",
            RuleFormat::Sigma => "sigma",
        }
    }
}

/// Where a rule (or an error about one) came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// `None` for rules built in code or loaded from a string without a name.
    pub path: Option<PathBuf>,
    /// 1-based line, when known (YAML errors carry it).
    pub line: Option<u32>,
    pub column: Option<u32>,
}

impl Origin {
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Origin {
            path: Some(path.into()),
            line: None,
            column: None,
        }
    }

    pub(crate) fn at(&self, line: usize, column: usize) -> Self {
        Origin {
            path: self.path.clone(),
            line: u32::try_from(line).ok(),
            column: u32::try_from(column).ok(),
        }
    }
}

impl fmt::Display for Origin {
    /// `path:line:column`, as much of it as is known; `<string>` without a path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{}", p.display())?,
            None => f.write_str("<string>")?,
        }
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        Ok(())
    }
}

/// Canonical name of a field as rules write it (aliases of the native format and Sigma resolve
/// here; see the module documentation).
pub(crate) fn canonical_field(name: &str) -> &str {
    match name {
        "program" | "app" | "app_name" => "process",
        "host" => "hostname",
        "msg" => "message",
        "source_ip" => "src_ip",
        other => other,
    }
}
