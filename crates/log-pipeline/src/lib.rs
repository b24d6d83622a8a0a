//! log-pipeline: log collection (files, syslog), parsing and rule-based detection.
//!
//! This crate owns the `[log_pipeline]` config section. Sources, parsers and the rule engine
//! arrive with the log-pipeline issue; until then the daemon reports the module as unavailable when
//! it is enabled.
//!
//! Architecture invariant: depends on `ironpost-core` only.

pub mod config;
pub mod fields;
pub mod parse;
pub mod pipeline;
pub mod rules;
pub mod source;
pub mod trust;

pub use config::{LogPipelineConfig, SourceKind};
pub use fields::{FieldSource, FieldValue, MapFields};
pub use parse::{Format, ParseContext, Record, parse};
pub use rules::{Alerter, AlertingConfig, Rule, RuleError, RuleSet};
