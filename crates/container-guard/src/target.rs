//! Which container does an alert concern? Only an explicit link counts — never "the first
//! container whose name matches a glob":
//!
//! 1. the alert names the container (`entities.container`: full id, an id prefix of at least 12
//!    hex digits, or the name, with or without Docker's leading `/`);
//! 2. its destination address is one of a container's network addresses;
//! 3. its destination port is a host port a container publishes, and the destination address is
//!    absent, unspecified or one of the host's own addresses.
//!
//! Two candidates at the same step are ambiguous: no container is chosen (the caller counts it).

use std::net::IpAddr;

use ironpost_core::AlertEvent;

use crate::policy::ContainerInfo;

/// Shortest id prefix accepted (Docker's short ids are 12 hex digits).
const MIN_ID_PREFIX: usize = 12;

/// How the container was found, for the action's detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Named,
    DestinationAddress,
    PublishedPort,
}

/// Why no container was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoTarget {
    /// Nothing in the alert links it to a container.
    Unrelated,
    /// Several containers fit equally; acting on any of them would be a guess.
    Ambiguous(Vec<String>),
}

fn one(found: Vec<&ContainerInfo>, link: Link) -> Option<Result<(&ContainerInfo, Link), NoTarget>> {
    match found.len() {
        0 => None,
        1 => Some(Ok((found[0], link))),
        _ => Some(Err(NoTarget::Ambiguous(
            found.iter().map(|c| c.name.clone()).collect(),
        ))),
    }
}

/// The container `alert` concerns among `inventory`; `host_ips` are this host's addresses.
pub fn target<'a>(
    alert: &AlertEvent,
    inventory: &'a [ContainerInfo],
    host_ips: &[IpAddr],
) -> Result<(&'a ContainerInfo, Link), NoTarget> {
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

#[cfg(test)]
mod tests {
    use ironpost_core::{AlertSource, ContainerRef, Severity};

    use super::*;

    fn c(id: &str, name: &str, ips: &[&str], ports: &[u16]) -> ContainerInfo {
        ContainerInfo {
            id: id.into(),
            name: name.into(),
            image: "busybox".into(),
            ips: ips.iter().map(|i| i.parse().unwrap()).collect(),
            published_ports: ports.to_vec(),
            ..ContainerInfo::default()
        }
    }

    fn alert(f: impl FnOnce(&mut AlertEvent)) -> AlertEvent {
        let mut a = AlertEvent::new(AlertSource::External, "r", "t", Severity::High);
        f(&mut a);
        a
    }

    fn inventory() -> Vec<ContainerInfo> {
        vec![
            c("aaaaaaaaaaaa1111", "web-1", &["172.17.0.2"], &[8080]),
            c("bbbbbbbbbbbb2222", "web-2", &["172.17.0.3"], &[8081]),
            c("cccccccccccc3333", "db", &["172.18.0.2"], &[]),
        ]
    }

    #[test]
    fn explicit_links_only() {
        let inv = inventory();
        let host = ["192.0.2.10".parse().unwrap()];
        let named = |id: Option<&str>, name: Option<&str>| {
            alert(|a| {
                a.entities.container = Some(ContainerRef {
                    id: id.map(Into::into),
                    name: name.map(Into::into),
                })
            })
        };
        let name_of = |a: &AlertEvent| target(a, &inv, &host).map(|(c, l)| (c.name.clone(), l));
        assert_eq!(
            name_of(&named(None, Some("web-2"))),
            Ok(("web-2".into(), Link::Named))
        );
        assert_eq!(
            name_of(&named(None, Some("/db"))),
            Ok(("db".into(), Link::Named))
        );
        assert_eq!(
            name_of(&named(Some("cccccccccccc"), None)),
            Ok(("db".into(), Link::Named))
        );
        // A too-short id prefix is not a link.
        assert_eq!(name_of(&named(Some("ccc"), None)), Err(NoTarget::Unrelated));
        let to = |ip: Option<&str>, port: Option<u16>| {
            alert(|a| {
                a.entities.dst_ip = ip.map(|i| i.parse().unwrap());
                a.entities.dst_port = port;
            })
        };
        assert_eq!(
            name_of(&to(Some("172.17.0.3"), Some(80))),
            Ok(("web-2".into(), Link::DestinationAddress))
        );
        assert_eq!(
            name_of(&to(Some("192.0.2.10"), Some(8080))),
            Ok(("web-1".into(), Link::PublishedPort))
        );
        assert_eq!(
            name_of(&to(None, Some(8081))),
            Ok(("web-2".into(), Link::PublishedPort))
        );
        // A published port on another machine's address is not this host's container.
        assert_eq!(
            name_of(&to(Some("203.0.113.5"), Some(8080))),
            Err(NoTarget::Unrelated)
        );
        // Globs never pick a target: an alert with no link concerns no container.
        assert_eq!(name_of(&alert(|_| {})), Err(NoTarget::Unrelated));
    }

    #[test]
    fn two_candidates_are_ambiguous() {
        let mut inv = inventory();
        inv.push(c("dddddddddddd4444", "web-3", &["172.17.0.9"], &[8080]));
        let a = alert(|a| a.entities.dst_port = Some(8080));
        match target(&a, &inv, &[]) {
            Err(NoTarget::Ambiguous(names)) => assert_eq!(names, ["web-1", "web-3"]),
            other => panic!("{other:?}"),
        }
    }
}
