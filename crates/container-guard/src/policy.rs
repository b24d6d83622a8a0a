//! Isolation policies: TOML files in `policy_path`, the seed 003 format
//!
//! ```toml
//! [[policy]]
//! name = "isolate_high_severity"
//! priority = 10                       # lower runs first
//! severity_threshold = "high"         # alerts at or above this
//! filters.container_names = ["web-*", "api-*"]   # `*` and `?` globs
//! filters.image_patterns = ["nginx:*", "node:*"]
//! filters.labels = { tier = "front*" }           # every label must match (value is a glob)
//! action = "network_disconnect"       # pause, stop, network_disconnect
//! link = "actor"                      # default; or "destination"
//! min_source_evidence = "spoofable"   # default; or "verified", "forgeable" (actor policies)
//! ```
//!
//! `link` says which container of an alert the policy acts on (`target.rs` has the reasoning):
//! `actor` (the default) — the container the alert names, or whose address is the alert's
//! source; `destination` — the container the alert was aimed at (its address or a host port it
//! publishes). Isolating the destination turns an inbound scan into a denial of service of its
//! victim, so only a policy that says so does it. `min_source_evidence` is the weakest evidence
//! (`AlertEvent.evidence`) on which a source address links an actor policy to a container; it
//! means nothing to a destination policy and is rejected there.
//!
//! Files are read with core's config loader, so mistakes are reported with file:line and key.
//! The order is deterministic: priority, then name. A policy with no filter at all would match
//! every container and is rejected. Loading is all or nothing, so a reload that meets a broken
//! file keeps the previous policies.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use ironpost_core::config::{self, ConfigError, ConfigText, Issues, Validate, key};
use ironpost_core::glob::glob_match;
use ironpost_core::{Evidence, Severity};
use serde::{Deserialize, Serialize};

/// Longest glob accepted in a filter.
const MAX_PATTERN: usize = 256;
/// Policy files read from a directory at most.
const MAX_FILES: usize = 1000;

/// What a policy does to the container an alert concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IsolationAction {
    Pause,
    Stop,
    NetworkDisconnect,
}

/// Which of an alert's containers a policy acts on (`link` in a policy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkMode {
    /// The container that acts: named by the alert, or the holder of its source address.
    #[default]
    Actor,
    /// The container the alert was aimed at: its destination address or a published port.
    Destination,
}

impl LinkMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkMode::Actor => "actor",
            LinkMode::Destination => "destination",
        }
    }
}

/// The weakest evidence an actor policy accepts for a source-address link when the policy does
/// not say: a compromised container's outbound SYN scan or flood is only ever `spoofable`
/// (`target.rs` weighs this).
pub const DEFAULT_MIN_SOURCE_EVIDENCE: Evidence = Evidence::Spoofable;

/// Which containers a policy applies to; every non-empty filter must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Filters {
    pub container_names: Vec<String>,
    pub image_patterns: Vec<String>,
    /// Label name → glob on its value.
    pub labels: BTreeMap<String, String>,
}

impl Filters {
    fn is_empty(&self) -> bool {
        self.container_names.is_empty() && self.image_patterns.is_empty() && self.labels.is_empty()
    }
}

/// One `[[policy]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub name: String,
    #[serde(default)]
    pub priority: i32,
    pub severity_threshold: Severity,
    #[serde(default)]
    pub filters: Filters,
    pub action: IsolationAction,
    /// Which of the alert's containers this policy acts on.
    #[serde(default)]
    pub link: LinkMode,
    /// Actor policies: the weakest evidence on which a source address is a link
    /// (default [`DEFAULT_MIN_SOURCE_EVIDENCE`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_source_evidence: Option<Evidence>,
}

/// One policy file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyFile {
    pub policy: Vec<Policy>,
}

impl Validate for PolicyFile {
    fn validate(&self, prefix: &str, issues: &mut Issues) {
        let mut seen = HashMap::new();
        for (i, p) in self.policy.iter().enumerate() {
            let at = |field: &str| format!("{}[{i}].{field}", key(prefix, "policy"));
            if p.name.trim().is_empty() {
                issues.push(at("name"), "must not be empty");
            } else if let Some(first) = seen.insert(p.name.as_str(), i) {
                issues.push(
                    at("name"),
                    format!("`{}` is already the name of policy[{first}]", p.name),
                );
            }
            if p.link == LinkMode::Destination && p.min_source_evidence.is_some() {
                issues.push(
                    at("min_source_evidence"),
                    "applies to source-address links of `link = \"actor\"` policies only; a `link = \"destination\"` policy never links by source",
                );
            }
            if p.filters.is_empty() {
                issues.push(
                    at("filters"),
                    "no filter: the policy would act on every container; set container_names, image_patterns or labels",
                );
            }
            let globs = p
                .filters
                .container_names
                .iter()
                .chain(&p.filters.image_patterns)
                .chain(p.filters.labels.values());
            for g in globs {
                if g.is_empty() || g.len() > MAX_PATTERN {
                    issues.push(
                        at("filters"),
                        format!("pattern `{g}` must be 1 to {MAX_PATTERN} characters"),
                    );
                }
            }
        }
    }
}

/// What policies and targeting look at in a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: String,
    pub image: String,
    pub labels: BTreeMap<String, String>,
    /// Its addresses on every network it is connected to.
    pub ips: Vec<std::net::IpAddr>,
    /// Host ports it publishes.
    pub published_ports: Vec<u16>,
    /// Docker's state (`running`, `paused`, `exited` …).
    pub state: String,
}

impl Policy {
    /// The weakest evidence on which this policy accepts a source-address link.
    pub fn min_source_evidence(&self) -> Evidence {
        self.min_source_evidence
            .unwrap_or(DEFAULT_MIN_SOURCE_EVIDENCE)
    }

    /// Whether this policy acts on `c` for an alert of `severity`.
    pub fn applies(&self, severity: Severity, c: &ContainerInfo) -> bool {
        let f = &self.filters;
        severity >= self.severity_threshold
            && !f.is_empty()
            && (f.container_names.is_empty()
                || f.container_names.iter().any(|g| glob_match(g, &c.name)))
            && (f.image_patterns.is_empty()
                || f.image_patterns.iter().any(|g| glob_match(g, &c.image)))
            && f.labels
                .iter()
                .all(|(k, g)| c.labels.get(k).is_some_and(|v| glob_match(g, v)))
    }
}

/// A policy and the file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedPolicy {
    pub file: PathBuf,
    pub policy: Policy,
}

/// What is wrong with one policy file (or the directory). Data, not the guard's failure: a load
/// collects one per bad file, and the guard reports them together as `GuardError::Policies`
/// (the crate's one error enum, `error.rs`). It is its own type because the policy language
/// builds without the `runtime` feature (and bollard), where `GuardError` does not exist.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read the policy directory {}", dir.display())]
    Dir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} has more than {MAX_FILES} policy files", dir.display())]
    TooManyFiles { dir: PathBuf },
    #[error(transparent)]
    File(#[from] ConfigError),
    #[error("policy `{name}` is defined in {} and in {}", first.display(), second.display())]
    Duplicate {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
}

/// Every policy, in evaluation order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicySet {
    policies: Vec<LoadedPolicy>,
}

impl PolicySet {
    /// Reads every `*.toml` in `dir`; any error rejects the whole set (the caller keeps the old one).
    pub fn load_dir(dir: &Path) -> Result<PolicySet, Vec<PolicyError>> {
        let rd = std::fs::read_dir(dir).map_err(|source| {
            vec![PolicyError::Dir {
                dir: dir.to_owned(),
                source,
            }]
        })?;
        let mut files: Vec<PathBuf> = rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.is_file())
            .collect();
        if files.len() > MAX_FILES {
            return Err(vec![PolicyError::TooManyFiles {
                dir: dir.to_owned(),
            }]);
        }
        files.sort();
        let mut errors = Vec::new();
        let mut policies: Vec<LoadedPolicy> = Vec::new();
        for file in files {
            // Policy files take no environment overrides.
            match ConfigText::read(&file).and_then(|t| config::load::<PolicyFile>(&t, Vec::new())) {
                Ok(l) => {
                    for policy in l.value.policy {
                        if let Some(prev) = policies.iter().find(|p| p.policy.name == policy.name) {
                            errors.push(PolicyError::Duplicate {
                                name: policy.name.clone(),
                                first: prev.file.clone(),
                                second: file.clone(),
                            });
                        }
                        policies.push(LoadedPolicy {
                            file: file.clone(),
                            policy,
                        });
                    }
                }
                Err(e) => errors.push(PolicyError::File(e)),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        policies.sort_by(|a, b| {
            (a.policy.priority, &a.policy.name).cmp(&(b.policy.priority, &b.policy.name))
        });
        Ok(PolicySet { policies })
    }

    pub fn policies(&self) -> &[LoadedPolicy] {
        &self.policies
    }

    /// The first policy (by priority, then name) whose severity and filters fit `c`, whatever
    /// its `link` (`target::decide` is what the guard uses).
    pub fn first_match(&self, severity: Severity, c: &ContainerInfo) -> Option<&Policy> {
        self.policies
            .iter()
            .map(|p| &p.policy)
            .find(|p| p.applies(severity, c))
    }
}

#[cfg(test)]
mod tests;
