//! What a threshold may count instead of matches: distinct values of a field (Sigma
//! `count(field) by g > N`) or the parts of a temporal correlation (Sigma `a near b`). Both reuse
//! the alert state's windows: each hit carries a *member* (the field's value, the part's index)
//! and a member seen again replaces its earlier hit, so the state's count is the number of
//! distinct members whose newest match lies within the window (see [`super::AlertState`]).

use std::fmt;
use std::sync::{Arc, OnceLock};

use super::Rule;
use super::compile::{CExpr, compile_part};
use super::expr::Expr;
use crate::fields::{FieldSource, FieldValue};

/// What a [`super::Threshold`] counts when not matches.
#[derive(Debug, Clone, PartialEq)]
pub enum Correlate {
    /// Distinct values of this (canonical) field per group: the threshold's `count` is of values.
    /// A match without the field is not counted (`missing_group_field`).
    Distinct(String),
    /// Every part must match within the window (in any order); the threshold's `count` is the
    /// number of parts.
    Near(Near),
}

/// The parts of a `near` correlation. The rule's expression is "any part"; which part a record
/// satisfies is decided by evaluating the parts again, compiled once on first use.
#[derive(Clone)]
pub struct Near {
    parts: Vec<Expr>,
    compiled: Arc<OnceLock<Vec<CExpr>>>,
}

impl Near {
    pub fn new(parts: Vec<Expr>) -> Near {
        Near {
            parts,
            compiled: Arc::default(),
        }
    }

    pub fn parts(&self) -> &[Expr] {
        &self.parts
    }

    /// Appends to `out` the index of every part `rec` satisfies.
    pub(crate) fn matched<R: FieldSource + ?Sized>(
        &self,
        rule: &Rule,
        rec: &R,
        out: &mut Vec<String>,
    ) {
        let compiled = self.compiled.get_or_init(|| {
            self.parts
                .iter()
                // Each part is a subtree of the rule's expression, which compiled: a part cannot
                // fail where the whole did not. Should it, it never matches.
                .map(|p| compile_part(p, rule).unwrap_or(CExpr::Any(Box::new([]))))
                .collect()
        });
        for (i, part) in compiled.iter().enumerate() {
            if part.eval(rec, None) {
                out.push(i.to_string());
            }
        }
    }
}

impl PartialEq for Near {
    fn eq(&self, other: &Near) -> bool {
        self.parts == other.parts
    }
}

impl fmt::Debug for Near {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Near").field("parts", &self.parts).finish()
    }
}

impl Correlate {
    /// The members `rec` contributes, into `out` (cleared first); false when it contributes none
    /// (the distinct field is missing).
    pub(crate) fn members<R: FieldSource + ?Sized>(
        &self,
        rule: &Rule,
        rec: &R,
        out: &mut Vec<String>,
    ) -> bool {
        out.clear();
        match self {
            Correlate::Distinct(field) => {
                let value = if field == "message" {
                    Some(FieldValue::Str(rec.message()))
                } else {
                    rec.field(field)
                };
                match value {
                    Some(v) => out.push(v.to_text().into_owned()),
                    None => return false,
                }
            }
            Correlate::Near(near) => near.matched(rule, rec, out),
        }
        !out.is_empty()
    }
}
