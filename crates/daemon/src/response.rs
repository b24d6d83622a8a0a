//! The responder: alerts that qualify (`[response]`: minimum severity, rule ids, tags) block their
//! source address in XDP, with the alert's TTL policy and repeat-offender escalation, unless the
//! address is allowlisted (loopback, this host's own addresses, its default gateways, configured
//! CIDRs, `ebpf.allowlist`). Dry run records what would have been blocked.
//!
//! The block's `ActionEvent` (emitted by the engine) carries the alert's id and trace id; so does
//! the unblock when the TTL expires. Decisions are counted in
//! `ironpost_response_decisions_total{decision}`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ironpost_core::config::{Issues, Validate, key, secs};
use ironpost_core::glob::glob_match;
use ironpost_core::metrics::{self, prometheus};
use ironpost_core::net::Cidr;
use ironpost_core::{ActionEvent, ActionOutcome, ActionType, AlertEvent, Severity};
use ironpost_ebpf_engine::{BlockRequest, EngineHandle};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::control;

/// Capacity of the responder's queue (the alert router counts what does not fit).
pub const RESPONSE_CHANNEL_CAPACITY: usize = 4096;
/// How often this host's addresses and gateways are re-read.
const HOST_REFRESH: Duration = Duration::from_secs(30);

/// `[response]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseConfig {
    /// Block the source address of qualifying alerts in XDP (needs `[ebpf] enabled`).
    pub enabled: bool,
    /// Record `ip_block` actions with outcome `dry_run` instead of blocking.
    pub dry_run: bool,
    /// Alerts below this severity never block.
    pub min_severity: Severity,
    /// Rule ids (`*`/`?` globs) whose alerts block. With `tags`: an alert qualifies when its rule
    /// id or one of its tags is listed; both empty: every alert at or above `min_severity`.
    pub rule_ids: Vec<String>,
    /// Alert tags (e.g. `attack.t1110`) whose alerts block.
    pub tags: Vec<String>,
    /// Block duration for a first offence; repeat offenders get twice the previous one (7 days
    /// at most) when `escalate` is on.
    #[serde(rename = "block_ttl_secs", with = "secs")]
    pub block_ttl: Duration,
    pub escalate: bool,
    /// Never blocked, in addition to loopback, this host's addresses and its default gateways.
    pub allowlist: Vec<Cidr>,
}

impl Default for ResponseConfig {
    fn default() -> Self {
        ResponseConfig {
            enabled: false,
            dry_run: false,
            min_severity: Severity::Medium,
            rule_ids: Vec::new(),
            tags: Vec::new(),
            block_ttl: Duration::from_secs(3600),
            escalate: true,
            allowlist: Vec::new(),
        }
    }
}

impl Validate for ResponseConfig {
    fn validate(&self, prefix: &str, issues: &mut Issues) {
        let ttl = self.block_ttl.as_secs();
        if !(1..=7 * 24 * 3600).contains(&ttl) {
            issues.push(
                key(prefix, "block_ttl_secs"),
                "must be between 1 and 604800 (7 days)",
            );
        }
        for (field, list) in [("rule_ids", &self.rule_ids), ("tags", &self.tags)] {
            for g in list {
                if g.is_empty() || g.len() > 256 {
                    issues.push(
                        key(prefix, field),
                        format!("entry `{g}` must be 1 to 256 characters"),
                    );
                }
            }
        }
    }
}

impl ResponseConfig {
    /// Whether `alert` is one this responder acts on (its source is checked separately).
    pub fn selects(&self, alert: &AlertEvent) -> bool {
        if alert.severity < self.min_severity {
            return false;
        }
        if self.rule_ids.is_empty() && self.tags.is_empty() {
            return true;
        }
        self.rule_ids.iter().any(|g| glob_match(g, &alert.rule_id))
            || alert
                .tags
                .iter()
                .any(|t| self.tags.iter().any(|w| w.eq_ignore_ascii_case(t)))
    }
}

/// Addresses that are never blocked.
#[derive(Debug, Clone, Default)]
pub(crate) struct Allowlist {
    host: Vec<IpAddr>,
    cidrs: Vec<Cidr>,
}

impl Allowlist {
    pub(crate) fn new(cfg: &[Cidr], ebpf: &[Cidr]) -> Self {
        let mut host = ironpost_core::net::host_addresses();
        host.extend(ironpost_core::net::default_gateways());
        Allowlist {
            host,
            cidrs: cfg.iter().chain(ebpf).copied().collect(),
        }
    }

    /// Why `ip` must not be blocked, if it must not.
    pub(crate) fn reason(&self, ip: &IpAddr) -> Option<&'static str> {
        if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() {
            Some("loopback, unspecified or multicast")
        } else if self.host.contains(ip) {
            Some("this host's address or default gateway")
        } else if self.cidrs.iter().any(|c| c.contains(ip)) {
            Some("allowlisted")
        } else {
            None
        }
    }
}

pub(crate) struct Responder {
    pub(crate) cfg: ResponseConfig,
    pub(crate) ebpf_allowlist: Vec<Cidr>,
    pub(crate) ebpf: Option<EngineHandle>,
    pub(crate) actions: mpsc::Sender<ActionEvent>,
    pub(crate) decisions: prometheus::IntCounterVec,
}

impl Responder {
    pub(crate) fn metrics(r: &prometheus::Registry) -> prometheus::IntCounterVec {
        metrics::int_counter_vec(
            r,
            "response_decisions_total",
            "Responder decisions on alerts (blocked, dry_run, allowlisted, not_selected, no_source, failed).",
            &["decision"],
        )
    }

    fn count(&self, d: &str) {
        self.decisions.with_label_values(&[d]).inc();
    }

    async fn on_alert(&self, alert: &AlertEvent, allow: &Allowlist) {
        if !self.cfg.selects(alert) {
            return self.count("not_selected");
        }
        let Some(src) = alert.entities.src_ip else {
            return self.count("no_source");
        };
        if let Some(why) = allow.reason(&src) {
            info!(trace_id = %alert.trace_id, src = %src, why, "alert source not blocked");
            return self.count("allowlisted");
        }
        let cidr = Cidr::from(src);
        let reason = format!("{}: {}", alert.rule_id, alert.title);
        if self.cfg.dry_run {
            let mut ev = ActionEvent::for_alert(alert, ActionType::IpBlock, ActionOutcome::DryRun);
            ev.target.src_ip = Some(src);
            ev.detail = format!(
                "dry run: would block {cidr} for {}s ({reason})",
                self.cfg.block_ttl.as_secs()
            );
            let _ = self.actions.send(ev).await;
            return self.count("dry_run");
        }
        let result = match &self.ebpf {
            Some(engine) => engine
                .block(BlockRequest {
                    cidr,
                    ttl: Some(self.cfg.block_ttl),
                    reason,
                    alert_id: Some(alert.id),
                    trace_id: Some(alert.trace_id),
                    escalate: self.cfg.escalate,
                })
                .await
                .map(drop)
                .map_err(|e| format!("{:#}", anyhow::Error::new(e))),
            None => Err("the ebpf module is not enabled".to_owned()),
        };
        match result {
            Ok(()) => self.count("blocked"),
            Err(error) => {
                warn!(trace_id = %alert.trace_id, src = %src, %error, "block failed");
                let mut ev =
                    ActionEvent::for_alert(alert, ActionType::IpBlock, ActionOutcome::Failure);
                ev.target.src_ip = Some(src);
                ev.error = Some(error);
                let _ = self.actions.send(ev).await;
                self.count("failed");
            }
        }
    }
}

/// Handles alerts until the channel closes or `stop` turns true; then drains what is queued.
pub(crate) async fn run(
    r: Arc<Responder>,
    mut rx: mpsc::Receiver<AlertEvent>,
    mut stop: watch::Receiver<bool>,
) {
    let mut allow = Allowlist::new(&r.cfg.allowlist, &r.ebpf_allowlist);
    let mut refreshed = Instant::now();
    loop {
        let alert = tokio::select! {
            a = rx.recv() => match a { Some(a) => a, None => return },
            _ = control::stopped(&mut stop) => break,
        };
        if refreshed.elapsed() > HOST_REFRESH {
            allow = Allowlist::new(&r.cfg.allowlist, &r.ebpf_allowlist);
            refreshed = Instant::now();
        }
        r.on_alert(&alert, &allow).await;
    }
    rx.close();
    while let Some(a) = rx.recv().await {
        r.on_alert(&a, &allow).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpost_core::AlertSource;

    fn alert(rule: &str, sev: Severity, tags: &[&str]) -> AlertEvent {
        let mut a = AlertEvent::new(AlertSource::LogPipeline, rule, "t", sev);
        a.tags = tags.iter().map(|t| (*t).to_owned()).collect();
        a
    }

    #[test]
    fn selection_by_severity_rule_glob_and_tag() {
        let mut c = ResponseConfig::default();
        assert!(c.selects(&alert("any", Severity::Medium, &[])));
        assert!(!c.selects(&alert("any", Severity::Low, &[])));
        c.rule_ids = vec!["ssh_*".into()];
        c.tags = vec!["attack.t1046".into()];
        assert!(c.selects(&alert("ssh_brute_force", Severity::Critical, &[])));
        assert!(c.selects(&alert("port_scan", Severity::High, &["ATTACK.T1046"])));
        assert!(!c.selects(&alert("port_scan", Severity::High, &["attack.t1110"])));
        assert!(!c.selects(&alert("ssh_brute_force", Severity::Info, &[])));
    }

    #[test]
    fn allowlist_covers_loopback_host_gateways_and_cidrs() {
        let allow = Allowlist::new(&["198.18.0.0/24".parse().unwrap()], &[]);
        for ip in ["127.0.0.1", "::1", "0.0.0.0", "198.18.0.9", "224.0.0.1"] {
            assert!(allow.reason(&ip.parse().unwrap()).is_some(), "{ip}");
        }
        assert!(allow.reason(&"198.18.1.9".parse().unwrap()).is_none());
        for host in ironpost_core::net::host_addresses() {
            assert!(allow.reason(&host).is_some(), "{host}");
        }
        for gw in ironpost_core::net::default_gateways() {
            assert!(allow.reason(&gw).is_some(), "{gw}");
        }
    }

    #[test]
    fn ttl_is_bounded() {
        let c = ResponseConfig {
            block_ttl: Duration::from_secs(0),
            ..ResponseConfig::default()
        };
        let mut issues = Issues::default();
        c.validate("response", &mut issues);
        assert_eq!(issues.into_vec()[0].key, "response.block_ttl_secs");
    }
}
