//! Which container does an alert concern, and may a policy act on it? The guard isolates the
//! container that *acts*; the container an attack is aimed at only under a policy that opts in
//! (`link = "destination"`), because isolating the victim of an inbound scan hands every scanner
//! a denial of service. Only an explicit link counts — never "the first container whose name
//! matches a glob".
//!
//! Actor links (every policy with `link = "actor"`, the default):
//!
//! 1. **Named**: the alert names the container (`entities.container`: full id, an id prefix of at
//!    least 12 hex digits, or the name, with or without Docker's leading `/`) — an alert raised
//!    from the container's own logs or processes, or an operator's. Evidence is about the source
//!    address and does not enter into it.
//! 2. **Source address**: `entities.src_ip` is one of a container's addresses — an outbound scan,
//!    brute force or flood from it. This link is only as good as what the address rests on
//!    (`AlertEvent.evidence`), so each actor policy sets the weakest evidence it accepts,
//!    `min_source_evidence` (default `spoofable`):
//!    - `verified`: the peer completed a TCP handshake from that address, so the replies reached
//!      whoever holds it. On a Docker bridge that is the container (or a neighbour on the same
//!      bridge answering for its address by ARP spoofing — itself compromised).
//!    - `spoofable` (SYN without handshake, UDP, ICMP): someone else may have written the address.
//!      Who can write a bridge address? Another container on the same bridge: Docker grants
//!      `CAP_NET_RAW` by default and filters no source address between bridge ports. And a host
//!      outside, when packets with the bridge's private source reach this host: Docker (20.10,
//!      Debian 12's engine) installs no anti-spoofing rule for them, and IPv4 reverse-path
//!      filtering is off (`rp_filter = 0`, the kernel default) or loose (`2`, which passes them:
//!      the bridge subnet is routable through the bridge), so a sender on the same segment can.
//!      Neither the bridge nor Docker filters them; strict `rp_filter = 1` on the external
//!      interface does (IPv6 has no `rp_filter`; a netfilter `rpfilter` rule does the same). Yet
//!      a compromised container's outbound SYN scan, UDP or ICMP flood only ever yields
//!      `spoofable` evidence: requiring `verified` would leave the commonest sign of a
//!      compromised container unanswered. So the default acts on it, the action's detail records
//!      the evidence, and a policy for which a forged disconnect costs more than an unanswered
//!      scan says `min_source_evidence = "verified"`.
//!    - `forgeable` (a log line whose writer is not authenticated): the address is text that
//!      anyone able to write a line chose — any local user with `logger`, any container that
//!      reaches a syslog port. Forging it costs nothing and needs no packet, so it links only
//!      under a policy that says `min_source_evidence = "forgeable"`.
//!
//!    Whatever the evidence, an alert whose source *and* destination are the same container's
//!    addresses links nothing: a container's traffic to itself stays on its own loopback and never
//!    reaches a sensor, so that source was forged (counted as `self_directed`).
//!
//! Destination links (only policies with `link = "destination"`):
//!
//! 3. **Destination address**: `entities.dst_ip` is one of a container's addresses;
//! 4. **Published port**: `entities.dst_port` is a host port a container publishes, and the
//!    destination address is absent, unspecified, loopback or one of the host's own addresses.
//!
//! Within each side, the steps are tried in order and the first that finds anything decides; two
//! candidates at one step are ambiguous: no container is chosen (the caller counts it). Policies
//! are then tried in their order (priority, then name), each against the container of its side;
//! the first whose severity and filters fit acts.

use std::net::IpAddr;

use ironpost_core::AlertEvent;

use crate::policy::{ContainerInfo, LinkMode, Policy, PolicySet};

/// Shortest id prefix accepted (Docker's short ids are 12 hex digits).
const MIN_ID_PREFIX: usize = 12;

/// How the container was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The alert names it (actor).
    Named,
    /// The alert's source address is one of its addresses (actor).
    SourceAddress,
    /// The alert's destination address is one of its addresses (destination).
    DestinationAddress,
    /// The alert's destination port is a host port it publishes (destination).
    PublishedPort,
}

impl Link {
    /// The side of the alert this link finds.
    pub fn mode(self) -> LinkMode {
        match self {
            Link::Named | Link::SourceAddress => LinkMode::Actor,
            Link::DestinationAddress | Link::PublishedPort => LinkMode::Destination,
        }
    }

    /// For an action's detail.
    pub fn as_str(self) -> &'static str {
        match self {
            Link::Named => "name in the alert",
            Link::SourceAddress => "source address",
            Link::DestinationAddress => "destination address",
            Link::PublishedPort => "published port",
        }
    }

    /// Metric label value (`ironpost_container_guard_alert_links_total{link}`).
    pub fn label(self) -> &'static str {
        match self {
            Link::Named => "named",
            Link::SourceAddress => "source_address",
            Link::DestinationAddress => "destination_address",
            Link::PublishedPort => "published_port",
        }
    }
}

/// Why one side of an alert links no container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoTarget {
    /// Nothing in the alert links it to a container.
    Unrelated,
    /// Several containers fit equally; acting on any of them would be a guess.
    Ambiguous(Vec<String>),
    /// Source and destination are both addresses of this container: the source was forged.
    SelfDirected(String),
}

/// A container found for one side of an alert, or why none was.
pub type Found<'a> = Result<(&'a ContainerInfo, Link), NoTarget>;

fn one(found: Vec<&ContainerInfo>, link: Link) -> Option<Found<'_>> {
    match found.len() {
        0 => None,
        1 => Some(Ok((found[0], link))),
        _ => Some(Err(NoTarget::Ambiguous(
            found.iter().map(|c| c.name.clone()).collect(),
        ))),
    }
}

/// The container that acts in `alert`: named by it, else holding its source address.
pub fn actor<'a>(alert: &AlertEvent, inventory: &'a [ContainerInfo]) -> Found<'a> {
    let e = &alert.entities;
    if let Some(c) = &e.container {
        let id = c.id.as_deref().filter(|id| id.len() >= MIN_ID_PREFIX);
        let name = c.name.as_deref().map(|n| n.trim_start_matches('/'));
        let found: Vec<&ContainerInfo> = inventory
            .iter()
            .filter(|k| {
                id.is_some_and(|id| k.id.starts_with(id)) || name.is_some_and(|n| k.name == n)
            })
            .collect();
        if let Some(r) = one(found, Link::Named) {
            return r;
        }
    }
    if let Some(src) = e.src_ip {
        let found: Vec<&ContainerInfo> =
            inventory.iter().filter(|k| k.ips.contains(&src)).collect();
        if let [c] = found.as_slice()
            && e.dst_ip.is_some_and(|dst| c.ips.contains(&dst))
        {
            return Err(NoTarget::SelfDirected(c.name.clone()));
        }
        if let Some(r) = one(found, Link::SourceAddress) {
            return r;
        }
    }
    Err(NoTarget::Unrelated)
}

/// The container `alert` was aimed at: holding its destination address, else publishing its
/// destination port on this host (`host_ips`: this host's addresses).
pub fn destination<'a>(
    alert: &AlertEvent,
    inventory: &'a [ContainerInfo],
    host_ips: &[IpAddr],
) -> Found<'a> {
    let e = &alert.entities;
    if let Some(dst) = e.dst_ip {
        let found: Vec<&ContainerInfo> =
            inventory.iter().filter(|k| k.ips.contains(&dst)).collect();
        if let Some(r) = one(found, Link::DestinationAddress) {
            return r;
        }
    }
    if let Some(port) = e.dst_port {
        let to_host = e
            .dst_ip
            .is_none_or(|ip| ip.is_unspecified() || ip.is_loopback() || host_ips.contains(&ip));
        if to_host {
            let found: Vec<&ContainerInfo> = inventory
                .iter()
                .filter(|k| k.published_ports.contains(&port))
                .collect();
            if let Some(r) = one(found, Link::PublishedPort) {
                return r;
            }
        }
    }
    Err(NoTarget::Unrelated)
}

/// What the guard does with an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'a> {
    /// `policy` acts on `container`, found by `link`.
    Act {
        policy: &'a Policy,
        container: &'a ContainerInfo,
        link: Link,
    },
    /// No policy acts.
    Skip(Skip),
}

/// Why no policy acts on an alert; `outcome` is its metric label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// No container is linked to the alert.
    Unrelated,
    /// Several containers fit one step of a side some policy acts on.
    Ambiguous(Vec<String>),
    /// The alert's source and destination are both this container's addresses.
    SelfDirected(String),
    /// An actor policy fits this container, linked by source address, but the alert's evidence
    /// is weaker than the policy's `min_source_evidence`.
    WeakEvidence(String),
    /// The alert only concerns the container(s) it was aimed at, and no `link = "destination"`
    /// policy acts on them: the victim is left alone.
    DestinationOnly(Vec<String>),
    /// A container is linked but no policy's severity and filters fit it.
    NoPolicy(String),
}

impl Skip {
    /// Label value of `ironpost_container_guard_alerts_total{outcome}`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Skip::Unrelated => "no_target",
            Skip::Ambiguous(_) => "ambiguous",
            Skip::SelfDirected(_) => "self_directed",
            Skip::WeakEvidence(_) => "weak_evidence",
            Skip::DestinationOnly(_) => "destination_only",
            Skip::NoPolicy(_) => "no_policy",
        }
    }
}

/// Links `alert` to its actor and its destination among `inventory`, then tries `policies` in
/// order, each against the container of its own side.
pub fn decide<'a>(
    policies: &'a PolicySet,
    alert: &AlertEvent,
    inventory: &'a [ContainerInfo],
    host_ips: &[IpAddr],
) -> Decision<'a> {
    let actor = actor(alert, inventory);
    let dest = destination(alert, inventory, host_ips);
    let mut weak = None;
    for policy in policies.policies().iter().map(|p| &p.policy) {
        let side = match policy.link {
            LinkMode::Actor => &actor,
            LinkMode::Destination => &dest,
        };
        let Ok((container, link)) = *side else {
            continue;
        };
        if !policy.applies(alert.severity, container) {
            continue;
        }
        if link == Link::SourceAddress && alert.evidence < policy.min_source_evidence() {
            weak.get_or_insert_with(|| container.name.clone());
            continue;
        }
        return Decision::Act {
            policy,
            container,
            link,
        };
    }
    let destination_policies = policies
        .policies()
        .iter()
        .any(|p| p.policy.link == LinkMode::Destination);
    if let Some(name) = weak {
        return Decision::Skip(Skip::WeakEvidence(name));
    }
    Decision::Skip(match (actor, dest) {
        (Ok((c, _)), _) => Skip::NoPolicy(c.name.clone()),
        (Err(NoTarget::Ambiguous(names)), _) => Skip::Ambiguous(names),
        (Err(NoTarget::SelfDirected(name)), _) => Skip::SelfDirected(name),
        (Err(NoTarget::Unrelated), Ok((c, _))) if destination_policies => {
            Skip::NoPolicy(c.name.clone())
        }
        (Err(NoTarget::Unrelated), Ok((c, _))) => Skip::DestinationOnly(vec![c.name.clone()]),
        (Err(NoTarget::Unrelated), Err(NoTarget::Ambiguous(names))) if destination_policies => {
            Skip::Ambiguous(names)
        }
        (Err(NoTarget::Unrelated), Err(NoTarget::Ambiguous(names))) => Skip::DestinationOnly(names),
        (Err(NoTarget::Unrelated), Err(_)) => Skip::Unrelated,
    })
}

#[cfg(test)]
mod tests;
