//! `RuleSet`: every enabled rule compiled once, plus the literal prefilter that picks, in one
//! Aho-Corasick pass over the message, the few rules worth evaluating for a record.
//!
//! Each rule gets a required literal set ([`super::literal`]); the set's literals are patterns of
//! one ASCII case-insensitive automaton, each pattern mapped to the rules that need it. Rules
//! without a set (no condition on `message`, or only ones with no usable literal) are evaluated
//! for every record. Every candidate is then evaluated in full, so the prefilter decides only how
//! much work is done, never the result — `matches` and `matches_exhaustive` agree (property test
//! `tests/rules_prefilter.rs`).
//!
//! The same pass also serves the leaves: each condition on `message` that has literals of its own
//! is gated by them (none seen: the leaf is false without reading the text), and an ASCII
//! case-insensitive `contains` whose needle is itself a pattern is decided by the pass alone.

use std::cell::RefCell;
use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use super::compile::{CExpr, Seen, compile_rule};
use super::literal::required;
use super::{Origin, Rule, RuleError, RuleStatus};
use crate::fields::FieldSource;

/// Compiled rules, ready to match records. Immutable: share it (`Arc<RuleSet>`) between workers
/// and swap it whole on reload.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    compiled: Vec<CExpr>,
    /// `None` when no rule has a literal.
    automaton: Option<AhoCorasick>,
    /// Automaton pattern id → indices of the rules that require that literal.
    pattern_rules: Vec<Box<[u32]>>,
    /// Rules evaluated for every record.
    always: Box<[u32]>,
}

/// Figures about the prefilter, for `rules validate` and the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefilterStats {
    /// Rules in the set (enabled and test).
    pub rules: usize,
    /// Rules evaluated only when one of their literals occurs in the message.
    pub prefiltered: usize,
    /// Rules evaluated for every record.
    pub always_checked: usize,
    /// Distinct literals in the automaton.
    pub literals: usize,
    /// The automaton is a DFA (else an NFA, or none without literals).
    pub dfa: bool,
    /// The automaton's heap size in bytes (its transition table, for a DFA).
    pub automaton_bytes: usize,
}

/// Per-thread working memory of [`RuleSet::matches_with`]: grows to the largest set it served and
/// is then reused, so matching does not allocate.
#[derive(Debug, Default)]
pub struct Scratch {
    generation: u32,
    rule_seen: Vec<u32>,
    pattern_seen: Vec<u32>,
    candidates: Vec<u32>,
}

impl Scratch {
    fn begin(&mut self, rules: usize, patterns: usize) {
        if self.rule_seen.len() < rules {
            self.rule_seen.resize(rules, 0);
        }
        if self.pattern_seen.len() < patterns {
            self.pattern_seen.resize(patterns, 0);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.rule_seen.fill(0);
            self.pattern_seen.fill(0);
            self.generation = 1;
        }
        self.candidates.clear();
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Default for RuleSet {
    /// A set without rules: matches nothing.
    fn default() -> Self {
        RuleSet::compile_partial(Vec::new()).0
    }
}

/// Largest transition table the prefilter may take as a DFA (bytes); beyond it, the automaton is
/// what `aho-corasick` picks by itself (a contiguous NFA above 100 patterns).
const DFA_MEMORY_CAP: usize = 4 << 20;

/// The literal prefilter's automaton: a DFA when its table fits [`DFA_MEMORY_CAP`]. The crate
/// picks a DFA only up to 100 patterns; the rule library has more, and the overlapping scan of
/// every message through a contiguous NFA was a fifth of the daemon's CPU time on auth.log
/// (bench/README.md, "Log pipeline end to end").
fn build_automaton(patterns: &[Vec<u8>]) -> Result<AhoCorasick, aho_corasick::BuildError> {
    let mut builder = AhoCorasick::builder();
    builder
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard);
    if let Ok(dfa) = builder.kind(Some(AhoCorasickKind::DFA)).build(patterns)
        && dfa.memory_usage() <= DFA_MEMORY_CAP
    {
        return Ok(dfa);
    }
    builder.kind(None).build(patterns)
}

impl RuleSet {
    /// Compiles `rules`. Any invalid rule (bad regex, duplicate id …) makes the whole set fail with
    /// one error per problem; [`RuleSet::compile_partial`] keeps the good ones instead. Disabled
    /// rules are checked but left out.
    pub fn compile(rules: impl IntoIterator<Item = Rule>) -> Result<RuleSet, Vec<RuleError>> {
        let (set, errors) = RuleSet::compile_partial(rules);
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(errors)
        }
    }

    /// Compiles the rules that are valid and returns the errors of the others.
    pub fn compile_partial(rules: impl IntoIterator<Item = Rule>) -> (RuleSet, Vec<RuleError>) {
        let mut errors = Vec::new();
        let mut seen: HashMap<String, Origin> = HashMap::new();
        let mut kept = Vec::new();
        let mut compiled = Vec::new();
        for rule in rules {
            if let Some(first) = seen.get(&rule.id) {
                errors.push(RuleError::DuplicateId {
                    origin: rule.origin.clone(),
                    rule_id: rule.id.clone(),
                    first: first.clone(),
                });
                continue;
            }
            seen.insert(rule.id.clone(), rule.origin.clone());
            match compile_rule(&rule) {
                Ok(c) if rule.status != RuleStatus::Disabled => {
                    kept.push(rule);
                    compiled.push(c);
                }
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }

        let mut pattern_ids: HashMap<Vec<u8>, u32> = HashMap::new();
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut intern = |lit: Vec<u8>| -> u32 {
            *pattern_ids.entry(lit.clone()).or_insert_with(|| {
                patterns.push(lit);
                u32::try_from(patterns.len() - 1).unwrap_or(u32::MAX)
            })
        };
        let mut rule_sets = Vec::new();
        for rule in &kept {
            rule_sets.push(
                required(&rule.expr)
                    .map(|set| set.into_iter().map(&mut intern).collect::<Vec<_>>()),
            );
        }
        for c in &mut compiled {
            c.assign_gates(&mut intern);
        }
        let mut pattern_rules: Vec<Vec<u32>> = vec![Vec::new(); patterns.len()];
        let mut always = Vec::new();
        for (i, set) in rule_sets.into_iter().enumerate() {
            let idx = u32::try_from(i).unwrap_or(u32::MAX);
            match set {
                Some(pids) => pids
                    .into_iter()
                    .for_each(|p| pattern_rules[p as usize].push(idx)),
                None => always.push(idx),
            }
        }
        let automaton = if patterns.is_empty() {
            None
        } else {
            match build_automaton(&patterns) {
                Ok(ac) => Some(ac),
                Err(_) => {
                    // Too many patterns for the automaton's limits: fall back to evaluating all
                    // (and, with no automaton, `matches_with` never consults the gates).
                    always = (0..kept.len())
                        .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
                        .collect();
                    pattern_rules = Vec::new();
                    None
                }
            }
        };
        let set = RuleSet {
            rules: kept,
            compiled,
            automaton,
            pattern_rules: pattern_rules
                .into_iter()
                .map(Vec::into_boxed_slice)
                .collect(),
            always: always.into_boxed_slice(),
        };
        (set, errors)
    }

    /// The rules in the set, in load order (disabled rules are not in it).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rule with this id.
    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    pub fn prefilter_stats(&self) -> PrefilterStats {
        PrefilterStats {
            rules: self.rules.len(),
            prefiltered: self.rules.len() - self.always.len(),
            always_checked: self.always.len(),
            literals: self.pattern_rules.len(),
            dfa: self
                .automaton
                .as_ref()
                .is_some_and(|a| a.kind() == AhoCorasickKind::DFA),
            automaton_bytes: self.automaton.as_ref().map_or(0, AhoCorasick::memory_usage),
        }
    }

    /// Clears `out` and fills it with the rules `rec` matches, in set order. Uses a per-thread
    /// [`Scratch`]; allocation-free once the scratch and `out` have grown.
    pub fn matches<'r, R: FieldSource + ?Sized>(&'r self, rec: &R, out: &mut Vec<&'r Rule>) {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.matches_with(rec, &mut scratch, out),
            // Only reachable if a `FieldSource` matched records itself while being matched.
            Err(_) => self.matches_with(rec, &mut Scratch::default(), out),
        });
    }

    /// [`RuleSet::matches`] with caller-owned working memory.
    pub fn matches_with<'r, R: FieldSource + ?Sized>(
        &'r self,
        rec: &R,
        scratch: &mut Scratch,
        out: &mut Vec<&'r Rule>,
    ) {
        out.clear();
        self.each_match(rec, scratch, |r| out.push(&self.rules[r as usize]));
    }

    /// Clears `out` and fills it with the positions in [`RuleSet::rules`] of the rules `rec`
    /// matches, in set order: what a worker thread hands back without borrowing the record.
    pub fn match_indices<R: FieldSource + ?Sized>(&self, rec: &R, out: &mut Vec<u32>) {
        out.clear();
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.each_match(rec, &mut scratch, |r| out.push(r)),
            Err(_) => self.each_match(rec, &mut Scratch::default(), |r| out.push(r)),
        });
    }

    /// Calls `hit` with the index of every rule `rec` matches, in set order.
    fn each_match<R: FieldSource + ?Sized>(
        &self,
        rec: &R,
        scratch: &mut Scratch,
        mut hit: impl FnMut(u32),
    ) {
        scratch.begin(self.rules.len(), self.pattern_rules.len());
        let generation = scratch.generation;
        if let Some(ac) = &self.automaton {
            for m in ac.find_overlapping_iter(rec.message()) {
                let p = m.pattern().as_usize();
                if scratch.pattern_seen[p] == generation {
                    continue;
                }
                scratch.pattern_seen[p] = generation;
                for &r in self.pattern_rules[p].iter() {
                    let seen = &mut scratch.rule_seen[r as usize];
                    if *seen != generation {
                        *seen = generation;
                        scratch.candidates.push(r);
                    }
                }
            }
        }
        scratch.candidates.extend_from_slice(&self.always);
        scratch.candidates.sort_unstable();
        let seen = self.automaton.as_ref().map(|_| Seen {
            stamps: &scratch.pattern_seen,
            generation,
        });
        for &r in &scratch.candidates {
            if self.compiled[r as usize].eval(rec, seen) {
                hit(r);
            }
        }
    }

    /// Evaluates every rule, bypassing the prefilter (the reference the prefilter is tested
    /// against; also handy for `rules test`).
    pub fn matches_exhaustive<'r, R: FieldSource + ?Sized>(
        &'r self,
        rec: &R,
        out: &mut Vec<&'r Rule>,
    ) {
        out.clear();
        for (rule, c) in self.rules.iter().zip(&self.compiled) {
            if c.eval(rec, None) {
                out.push(rule);
            }
        }
    }
}
