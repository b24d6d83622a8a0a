//! The responder: alerts that qualify (`[response]`: minimum severity, rule ids, tags) block their
//! source address in XDP, as far as the alert's evidence allows.
//!
//! # Policy on evidence
//!
//! An address is only as good as what it rests on (`AlertEvent.evidence`):
//!
//! - `verified` (the peer completed a TCP handshake): blocked for `block_ttl_secs`, doubled for
//!   repeat offenders when `escalate` is on.
//! - `spoofable` (SYN-only, UDP, ICMP) and `forgeable` (a log line of an unauthenticated
//!   writer): not blocked (decision `unverified`), unless `block_unverified` is on; then blocked
//!   for `unverified_block_ttl_secs`, never escalated, at most `unverified_blocks_per_minute`
//!   of them (beyond it: `unverified_rate_limited`), and never when the address is a protected
//!   peer (`protected_peer`; `peers.rs`: established TCP peers, DNS resolvers, NTP servers,
//!   `infrastructure` CIDRs).
//! - Whatever the evidence: loopback, this host's addresses, its default gateways,
//!   `response.allowlist` and `ebpf.allowlist` are never blocked (`allowlisted`).
//! - A SYN flood alert never blocks its source (`syn_flood_source`): the flood's sources are
//!   forged at will, and blocking them is what an attacker would want. The mitigation is at the
//!   destination, the kernel's SYN cookies (`net.ipv4.tcp_syncookies`, which the ebpf engine
//!   checks and reports in its health when it is 0).
//!
//! In the blocklist an unverified block never evicts anything, and never shortens or
//! downgrades a block on verified evidence (`ironpost_ebpf_engine::blocklist`).
//!
//! The block's `ActionEvent` (emitted by the engine) carries the alert's id and trace id and
//! says the evidence; so does the unblock when the TTL expires. Every decision is counted in
//! `ironpost_response_decisions_total{decision}`: `blocked`, `blocked_unverified`, `dry_run`,
//! `unverified`, `protected_peer`, `unverified_rate_limited`, `allowlisted`,
//! `syn_flood_source`, `not_selected`, `no_source`, `failed`. Problems in the files protected
//! peers come from are counted in `ironpost_response_peer_source_errors_total{source}`.

pub mod peers;

use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::detect::SYN_FLOOD_RULE_ID;
use crate::response_config::ResponseConfig;
use crate::{BlockRequest, EngineHandle};
use ironpost_core::metrics::{self, prometheus};
use ironpost_core::net::Cidr;
use ironpost_core::{ActionEvent, ActionOutcome, ActionType, AlertEvent, Evidence};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use peers::{PEER_POLL, PeerFiles, Peers};

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.is_ok();
}

/// Capacity of the responder's queue (the alert router counts what does not fit).
pub const RESPONSE_CHANNEL_CAPACITY: usize = 4096;
/// How often this host's addresses, gateways, resolvers and NTP servers are re-read.
const HOST_REFRESH: Duration = Duration::from_secs(30);
/// How often NTP host names are resolved again.
const RESOLVE_EVERY: Duration = Duration::from_secs(300);
/// The window of `unverified_blocks_per_minute`.
const MINUTE: Duration = Duration::from_secs(60);

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

/// What the policy decided for an alert whose source is not allowlisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Block for `ttl`; `label` is the decision counted.
    Block {
        ttl: Duration,
        escalate: bool,
        label: &'static str,
    },
    /// Do not block; the decision counted and, for a protected peer, why.
    Skip {
        label: &'static str,
        why: Option<&'static str>,
    },
}

/// New unverified blocks within the last minute (at most `per_minute` instants kept).
#[derive(Debug, Default)]
pub(crate) struct UnverifiedBudget {
    recent: VecDeque<Instant>,
}

impl UnverifiedBudget {
    /// Takes one unit if fewer than `per_minute` were taken within the last minute.
    fn take(&mut self, per_minute: u32, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= MINUTE)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= per_minute as usize {
            return false;
        }
        self.recent.push_back(now);
        true
    }
}

/// The evidence policy (see the module doc). `protected` is asked only for unverified evidence
/// with `block_unverified` on, since it may re-read the socket tables.
pub(crate) fn decide(
    cfg: &ResponseConfig,
    evidence: Evidence,
    protected: impl FnOnce() -> Option<&'static str>,
    budget: &mut UnverifiedBudget,
    now: Instant,
) -> Decision {
    if evidence.is_verified() {
        return Decision::Block {
            ttl: cfg.block_ttl,
            escalate: cfg.escalate,
            label: "blocked",
        };
    }
    if !cfg.block_unverified {
        return Decision::Skip {
            label: "unverified",
            why: None,
        };
    }
    if let Some(why) = protected() {
        return Decision::Skip {
            label: "protected_peer",
            why: Some(why),
        };
    }
    if !budget.take(cfg.unverified_blocks_per_minute, now) {
        return Decision::Skip {
            label: "unverified_rate_limited",
            why: None,
        };
    }
    Decision::Block {
        ttl: cfg.unverified_block_ttl,
        escalate: false,
        label: "blocked_unverified",
    }
}

/// The responder's metrics.
#[derive(Clone)]
pub(crate) struct ResponderMetrics {
    decisions: prometheus::IntCounterVec,
    peer_errors: prometheus::IntCounterVec,
    peer_overflow: prometheus::IntCounter,
    peers: prometheus::IntGauge,
}

/// Turns qualifying alerts into XDP blocks (see the module docs for the policy).
pub struct Responder {
    pub(crate) cfg: ResponseConfig,
    pub(crate) ebpf_allowlist: Vec<Cidr>,
    /// None: `dry_run` only (the engine is off).
    pub(crate) ebpf: Option<EngineHandle>,
    pub(crate) actions: mpsc::Sender<ActionEvent>,
    pub(crate) decisions: ResponderMetrics,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("cfg", &self.cfg)
            .field("engine", &self.ebpf.is_some())
            .finish_non_exhaustive()
    }
}

/// What the responder task keeps between alerts.
struct State {
    allow: Allowlist,
    peers: Peers,
    budget: UnverifiedBudget,
}

impl Responder {
    /// A responder for `cfg`; `ebpf_allowlist` (the engine's own allowlist) is never blocked
    /// either. Its actions (dry runs, failures) go to `actions`; the engine reports the blocks.
    pub fn new(
        cfg: ResponseConfig,
        ebpf_allowlist: Vec<Cidr>,
        ebpf: Option<EngineHandle>,
        actions: mpsc::Sender<ActionEvent>,
        registry: &prometheus::Registry,
    ) -> Self {
        Responder {
            cfg,
            ebpf_allowlist,
            ebpf,
            actions,
            decisions: Responder::metrics(registry),
        }
    }

    pub(crate) fn metrics(r: &prometheus::Registry) -> ResponderMetrics {
        ResponderMetrics {
            decisions: metrics::int_counter_vec(
                r,
                "response_decisions_total",
                "Responder decisions on alerts (blocked, blocked_unverified, dry_run, unverified, protected_peer, unverified_rate_limited, allowlisted, syn_flood_source, not_selected, no_source, failed).",
                &["decision"],
            ),
            peer_errors: metrics::int_counter_vec(
                r,
                "response_peer_source_errors_total",
                "Unreadable files and invalid lines in the sources of protected peers (proc_net, resolv_conf, ntp).",
                &["source"],
            ),
            peer_overflow: metrics::int_counter(
                r,
                "response_protected_peers_overflow_total",
                "Established peers not remembered because the protected-peer table was full.",
            ),
            peers: metrics::int_gauge(
                r,
                "response_protected_peers",
                "Learned protected peers (established TCP peers, DNS and NTP servers in use).",
            ),
        }
    }

    fn count(&self, d: &str) {
        self.decisions.decisions.with_label_values(&[d]).inc();
    }

    /// Counts and reports what the last reads of the peer sources found wrong. The same broken
    /// file is re-read every few seconds: each distinct problem is logged once (`reported`,
    /// bounded).
    fn drain_peer_errors(&self, peers: &mut Peers, reported: &mut HashSet<String>) {
        let m = &self.decisions;
        m.peer_overflow.inc_by(std::mem::take(&mut peers.overflow));
        m.peers
            .set(i64::try_from(peers.learned_len()).unwrap_or(i64::MAX));
        let mut logged = 0;
        for e in std::mem::take(&mut peers.errors) {
            m.peer_errors.with_label_values(&[e.source]).inc();
            if reported.len() >= 256 {
                reported.clear();
            }
            let text = e.to_string();
            // At most 16 lines per read: a table of garbage must not flood the log.
            if logged < 16 && reported.insert(text.clone()) {
                logged += 1;
                warn!(error = %text, "invalid line in a source of protected peers");
            }
        }
    }

    async fn on_alert(&self, alert: &AlertEvent, st: &mut State) {
        if !self.cfg.selects(alert) {
            return self.count("not_selected");
        }
        let Some(src) = alert.entities.src_ip else {
            return self.count("no_source");
        };
        if alert.rule_id == SYN_FLOOD_RULE_ID {
            info!(trace_id = %alert.trace_id, src = %src, "a SYN flood's source is never blocked (forged at will)");
            return self.count("syn_flood_source");
        }
        if let Some(why) = st.allow.reason(&src) {
            info!(trace_id = %alert.trace_id, src = %src, why, "alert source not blocked");
            return self.count("allowlisted");
        }
        let now = Instant::now();
        let peers = &mut st.peers;
        let decision = decide(
            &self.cfg,
            alert.evidence,
            || peers.protects(&src, now),
            &mut st.budget,
            now,
        );
        let (ttl, escalate, label) = match decision {
            Decision::Skip { label, why } => {
                info!(trace_id = %alert.trace_id, src = %src, evidence = %alert.evidence, decision = label, why, "alert source not blocked");
                return self.count(label);
            }
            Decision::Block {
                ttl,
                escalate,
                label,
            } => (ttl, escalate, label),
        };
        let cidr = Cidr::from(src);
        let reason = format!("{}: {}", alert.rule_id, alert.title);
        if self.cfg.dry_run {
            let mut ev = ActionEvent::for_alert(alert, ActionType::IpBlock, ActionOutcome::DryRun);
            ev.target.src_ip = Some(src);
            ev.detail = format!(
                "dry run: would block {cidr} for {}s ({reason}; evidence {})",
                ttl.as_secs(),
                alert.evidence
            );
            let _ = self.actions.send(ev).await;
            return self.count("dry_run");
        }
        let result = match &self.ebpf {
            Some(engine) => engine
                .block(BlockRequest {
                    cidr,
                    ttl: Some(ttl),
                    reason,
                    alert_id: Some(alert.id),
                    trace_id: Some(alert.trace_id),
                    escalate,
                    evidence: alert.evidence,
                })
                .await
                .map(drop)
                .map_err(|e| ironpost_core::error_chain(&e)),
            None => Err("the ebpf module is not enabled".to_owned()),
        };
        match result {
            Ok(()) => self.count(label),
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

/// Resolves the NTP configuration's host names in the background, every [`RESOLVE_EVERY`].
async fn resolve_loop(
    files: PeerFiles,
    tx: watch::Sender<Vec<IpAddr>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let mut errors = Vec::new();
        let names = peers::read_host_servers(&files, &mut errors).ntp_names;
        if !names.is_empty() {
            let ips = tokio::select! {
                ips = peers::resolve_names(&names) => ips,
                _ = stopped(&mut stop) => return,
            };
            if tx.send(ips).is_err() {
                return;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(RESOLVE_EVERY) => {}
            _ = stopped(&mut stop) => return,
        }
    }
}

/// Handles alerts until the channel closes or `stop` turns true; then drains what is queued.
pub async fn run(r: Arc<Responder>, rx: mpsc::Receiver<AlertEvent>, stop: watch::Receiver<bool>) {
    run_with(r, rx, stop, PeerFiles::system()).await;
}

async fn run_with(
    r: Arc<Responder>,
    mut rx: mpsc::Receiver<AlertEvent>,
    mut stop: watch::Receiver<bool>,
    files: PeerFiles,
) {
    let mut peers = Peers::new(
        files.clone(),
        r.cfg.protected_peer_ttl,
        r.cfg.infrastructure.clone(),
    );
    let _names = peers.refresh_servers();
    peers.refresh_sockets(Instant::now());
    let mut reported = HashSet::new();
    r.drain_peer_errors(&mut peers, &mut reported);
    let (resolved_tx, mut resolved_rx) = watch::channel(Vec::new());
    let resolver = tokio::spawn(resolve_loop(files, resolved_tx, stop.clone()));
    let mut st = State {
        allow: Allowlist::new(&r.cfg.allowlist, &r.ebpf_allowlist),
        peers,
        budget: UnverifiedBudget::default(),
    };
    let mut refreshed = Instant::now();
    let mut poll = tokio::time::interval(PEER_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let alert = tokio::select! {
            a = rx.recv() => match a { Some(a) => a, None => break },
            _ = stopped(&mut stop) => break,
            _ = poll.tick() => {
                st.peers.refresh_sockets(Instant::now());
                r.drain_peer_errors(&mut st.peers, &mut reported);
                continue;
            }
            Ok(()) = resolved_rx.changed() => {
                let ips = resolved_rx.borrow_and_update().clone();
                st.peers.set_resolved(ips);
                continue;
            }
        };
        if refreshed.elapsed() > HOST_REFRESH {
            st.allow = Allowlist::new(&r.cfg.allowlist, &r.ebpf_allowlist);
            let _names = st.peers.refresh_servers();
            r.drain_peer_errors(&mut st.peers, &mut reported);
            refreshed = Instant::now();
        }
        r.on_alert(&alert, &mut st).await;
    }
    rx.close();
    while let Some(a) = rx.recv().await {
        r.on_alert(&a, &mut st).await;
    }
    resolver.abort();
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpost_core::config::{Issues, Validate};
    use ironpost_core::{AlertSource, Severity};

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

    #[test]
    fn unverified_settings_are_bounded() {
        let c = ResponseConfig {
            unverified_block_ttl: Duration::from_secs(0),
            unverified_blocks_per_minute: 10_001,
            protected_peer_ttl: Duration::from_secs(8 * 24 * 3600),
            ..ResponseConfig::default()
        };
        let mut issues = Issues::default();
        c.validate("response", &mut issues);
        let keys: Vec<String> = issues.into_vec().into_iter().map(|i| i.key).collect();
        assert_eq!(
            keys,
            [
                "response.unverified_block_ttl_secs",
                "response.unverified_blocks_per_minute",
                "response.protected_peer_ttl_secs"
            ]
        );
        let d = ResponseConfig::default();
        assert!(
            !d.block_unverified,
            "default: block only on verified evidence"
        );
        assert_eq!(
            (
                d.unverified_block_ttl.as_secs(),
                d.unverified_blocks_per_minute
            ),
            (300, 10)
        );
    }

    /// Evidence × block_unverified × protected peer × budget left → decision.
    #[test]
    fn the_policy_table() {
        use Evidence::{Forgeable, Spoofable, Verified};
        let hour = Duration::from_secs(3600);
        let short = Duration::from_secs(300);
        // evidence, block_unverified, protected, budget left, decision, (ttl, escalate)
        type Case = (
            Evidence,
            bool,
            bool,
            bool,
            &'static str,
            Option<(Duration, bool)>,
        );
        let cases: &[Case] = &[
            (Verified, false, false, true, "blocked", Some((hour, true))),
            (Verified, false, true, true, "blocked", Some((hour, true))),
            (Verified, true, true, false, "blocked", Some((hour, true))),
            (Verified, true, false, false, "blocked", Some((hour, true))),
            (Spoofable, false, false, true, "unverified", None),
            (Spoofable, false, true, true, "unverified", None),
            (Forgeable, false, false, true, "unverified", None),
            (Spoofable, true, true, true, "protected_peer", None),
            (Forgeable, true, true, false, "protected_peer", None),
            (
                Spoofable,
                true,
                false,
                false,
                "unverified_rate_limited",
                None,
            ),
            (
                Forgeable,
                true,
                false,
                false,
                "unverified_rate_limited",
                None,
            ),
            (
                Spoofable,
                true,
                false,
                true,
                "blocked_unverified",
                Some((short, false)),
            ),
            (
                Forgeable,
                true,
                false,
                true,
                "blocked_unverified",
                Some((short, false)),
            ),
        ];
        let now = Instant::now();
        for &(evidence, block_unverified, protected, budget_left, want, block) in cases {
            let cfg = ResponseConfig {
                block_unverified,
                unverified_blocks_per_minute: 1,
                ..ResponseConfig::default()
            };
            let mut budget = UnverifiedBudget::default();
            if !budget_left {
                assert!(budget.take(1, now));
            }
            let mut asked = false;
            let got = decide(
                &cfg,
                evidence,
                || {
                    asked = true;
                    protected.then_some("established TCP peer")
                },
                &mut budget,
                now,
            );
            let case = format!(
                "{evidence} block_unverified={block_unverified} protected={protected} budget={budget_left}"
            );
            match (got, block) {
                (
                    Decision::Block {
                        ttl,
                        escalate,
                        label,
                    },
                    Some(b),
                ) => {
                    assert_eq!((label, (ttl, escalate)), (want, b), "{case}");
                }
                (Decision::Skip { label, why }, None) => {
                    assert_eq!(label, want, "{case}");
                    assert_eq!(why.is_some(), want == "protected_peer", "{case}");
                }
                (got, _) => panic!("{case}: {got:?}, want {want}"),
            }
            // The socket tables are consulted only when the answer depends on them.
            assert_eq!(asked, block_unverified && !evidence.is_verified(), "{case}");
        }
    }

    #[test]
    fn the_unverified_budget_is_a_sliding_minute() {
        let mut b = UnverifiedBudget::default();
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(b.take(3, t0 + Duration::from_secs(i)), "{i}");
        }
        assert!(!b.take(3, t0 + Duration::from_secs(30)));
        assert!(!b.take(3, t0 + Duration::from_secs(59)));
        // The first one leaves the window: one more fits, not two.
        assert!(b.take(3, t0 + Duration::from_secs(60)));
        assert!(!b.take(3, t0 + Duration::from_secs(60)));
        assert_eq!(b.recent.len(), 3, "bounded by the cap");
        assert!(!UnverifiedBudget::default().take(0, t0), "0: none");
    }
}
