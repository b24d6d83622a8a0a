//! The one rule representation every format compiles to: a boolean tree over field conditions.

use ipnet::IpNet;

/// A boolean expression over [`Condition`]s.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// True when every child is (true when empty).
    All(Vec<Expr>),
    /// True when some child is (false when empty).
    Any(Vec<Expr>),
    Not(Box<Expr>),
    Cond(Condition),
}

impl Expr {
    /// `all` of `items`, without a one-child wrapper.
    pub fn all(mut items: Vec<Expr>) -> Expr {
        if items.len() == 1 {
            items.pop().unwrap_or(Expr::All(Vec::new()))
        } else {
            Expr::All(items)
        }
    }

    /// `any` of `items`, without a one-child wrapper.
    pub fn any(mut items: Vec<Expr>) -> Expr {
        if items.len() == 1 {
            items.pop().unwrap_or(Expr::Any(Vec::new()))
        } else {
            Expr::Any(items)
        }
    }

    /// A leaf condition on `field`.
    pub fn cond(field: impl Into<String>, op: Op, case_insensitive: bool) -> Expr {
        Expr::Cond(Condition {
            field: field.into(),
            op,
            case_insensitive,
        })
    }

    /// Every leaf condition, depth first.
    pub fn conditions(&self) -> Vec<&Condition> {
        fn walk<'a>(e: &'a Expr, out: &mut Vec<&'a Condition>) {
            match e {
                Expr::All(xs) | Expr::Any(xs) => xs.iter().for_each(|x| walk(x, out)),
                Expr::Not(x) => walk(x, out),
                Expr::Cond(c) => out.push(c),
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }
}

/// One test of one field.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Canonical field name (`message`, `process`, `src_ip` …).
    pub field: String,
    pub op: Op,
    /// Compare text ignoring case (string operators and `in` only).
    pub case_insensitive: bool,
}

/// What a condition tests. Text operators compare the field's text (IPs and numbers rendered);
/// `cidr` and the numeric comparisons use the typed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Equals(String),
    Contains(String),
    StartsWith(String),
    EndsWith(String),
    /// Unanchored search with the `regex` crate.
    Regex(String),
    /// Equals one of the values.
    In(Vec<String>),
    /// The value (an IP, or text that parses as one) is in one of the networks.
    Cidr(Vec<IpNet>),
    /// `true`: the field is present; `false`: it is absent.
    Exists(bool),
    /// The value (a number, or text that parses as one) compares to the constant.
    Compare(Cmp, f64),
    /// The value equals (as text; IPs compared as addresses) the value of another field of the
    /// same record, named here canonically. False when either field is absent (Sigma `|fieldref`).
    FieldRef(String),
}

impl Op {
    /// The operator's name as the native format writes it.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Equals(_) => "equals",
            Op::Contains(_) => "contains",
            Op::StartsWith(_) => "startswith",
            Op::EndsWith(_) => "endswith",
            Op::Regex(_) => "regex",
            Op::In(_) => "in",
            Op::Cidr(_) => "cidr",
            Op::Exists(_) => "exists",
            Op::Compare(c, _) => c.name(),
            Op::FieldRef(_) => "fieldref",
        }
    }
}

/// Numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
}

impl Cmp {
    pub fn name(self) -> &'static str {
        match self {
            Cmp::Gt => "gt",
            Cmp::Gte => "gte",
            Cmp::Lt => "lt",
            Cmp::Lte => "lte",
            Cmp::Eq => "eq",
        }
    }

    pub(crate) fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Cmp::Gt => left > right,
            Cmp::Gte => left >= right,
            Cmp::Lt => left < right,
            Cmp::Lte => left <= right,
            Cmp::Eq => left == right,
        }
    }
}
