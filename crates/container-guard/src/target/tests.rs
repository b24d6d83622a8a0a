//! Targeting and policy choice, one line per case: policies, an alert written as `key=value`
//! words, and what the guard decides (`POLICY CONTAINER LINK` or `OUTCOME NAMES`).

use ironpost_core::{AlertSource, ContainerRef, Evidence, Severity};

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

fn inventory() -> Vec<ContainerInfo> {
    vec![
        c(
            "aaaaaaaaaaaa1111",
            "web-1",
            &["172.17.0.2", "fd00:17::2"],
            &[8080],
        ),
        c("bbbbbbbbbbbb2222", "web-2", &["172.17.0.3"], &[8081]),
        c("cccccccccccc3333", "db", &["172.18.0.2"], &[]),
    ]
}

const HOST: &str = "192.0.2.10";

/// Every container, any alert from medium up, disconnected; `extra` adds keys to the policy.
fn actor_policy(extra: &str) -> String {
    format!(
        "[[policy]]\nname = \"iso\"\npriority = 20\nseverity_threshold = \"medium\"\nfilters.container_names = [\"*\"]\naction = \"network_disconnect\"\n{extra}"
    )
}

/// The default actor policy, and before it one that pauses the `web-*` containers attacks are
/// aimed at.
fn with_destination_policy() -> String {
    actor_policy("")
        + "[[policy]]\nname = \"guard_web\"\npriority = 10\nseverity_threshold = \"medium\"\nfilters.container_names = [\"web-*\"]\naction = \"pause\"\nlink = \"destination\"\n"
}

fn policies(toml: &str) -> PolicySet {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("p.toml"), toml).unwrap();
    PolicySet::load_dir(d.path()).unwrap()
}

/// `src=… dst=… port=… name=… id=… ev=… sev=…`; evidence defaults to `forgeable` (as for an
/// alert that does not say) and severity to `high`.
fn alert(spec: &str) -> AlertEvent {
    let mut a = AlertEvent::new(AlertSource::External, "r", "t", Severity::High);
    for word in spec.split_whitespace() {
        let (k, v) = word.split_once('=').unwrap();
        let e = &mut a.entities;
        match k {
            "src" => e.src_ip = Some(v.parse().unwrap()),
            "dst" => e.dst_ip = Some(v.parse().unwrap()),
            "port" => e.dst_port = Some(v.parse().unwrap()),
            "name" => e.container.get_or_insert_with(ContainerRef::default).name = Some(v.into()),
            "id" => e.container.get_or_insert_with(ContainerRef::default).id = Some(v.into()),
            "ev" => a.evidence = v.parse().unwrap(),
            "sev" => a.severity = v.parse().unwrap(),
            _ => panic!("unknown key {k}"),
        }
    }
    a
}

fn render(d: &Decision<'_>) -> String {
    match d {
        Decision::Act {
            policy,
            container,
            link,
        } => format!("{} {} {}", policy.name, container.name, link.label()),
        Decision::Skip(s) => {
            let names = match s {
                Skip::Unrelated => String::new(),
                Skip::Ambiguous(n) | Skip::DestinationOnly(n) => n.join(","),
                Skip::SelfDirected(n) | Skip::WeakEvidence(n) | Skip::NoPolicy(n) => n.clone(),
            };
            format!("{} {names}", s.outcome()).trim_end().to_owned()
        }
    }
}

fn check(set: &PolicySet, inv: &[ContainerInfo], cases: &[(&str, &str)]) {
    let host = [HOST.parse().unwrap()];
    let mut wrong = Vec::new();
    for (spec, want) in cases {
        let got = render(&decide(set, &alert(spec), inv, &host));
        if got != *want {
            wrong.push(format!("`{spec}`: got `{got}`, want `{want}`"));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn the_default_policy_isolates_the_actor_and_never_the_victim() {
    check(
        &policies(&actor_policy("")),
        &inventory(),
        &[
            // web-1 scans or brute-forces its neighbour: web-1 is the actor.
            (
                "src=172.17.0.2 dst=172.17.0.3 port=22 ev=spoofable",
                "iso web-1 source_address",
            ),
            (
                "src=172.17.0.2 dst=172.17.0.3 port=22 ev=verified",
                "iso web-1 source_address",
            ),
            ("src=fd00:17::2 ev=spoofable", "iso web-1 source_address"),
            // … or floods the outside world.
            (
                "src=172.17.0.2 dst=203.0.113.5 port=53 ev=spoofable",
                "iso web-1 source_address",
            ),
            // A log line anyone could have written names web-1's address: not enough.
            (
                "src=172.17.0.2 dst=172.17.0.3 port=22 ev=forgeable",
                "weak_evidence web-1",
            ),
            ("src=172.17.0.2", "weak_evidence web-1"),
            // Inbound attacks on a container leave it alone, however strong the evidence.
            (
                "src=198.18.9.9 dst=172.17.0.3 port=80 ev=verified",
                "destination_only web-2",
            ),
            (
                "src=198.18.9.9 dst=192.0.2.10 port=8080 ev=spoofable",
                "destination_only web-1",
            ),
            ("port=8081", "destination_only web-2"),
            (
                "src=127.0.0.1 dst=127.0.0.1 port=8081",
                "destination_only web-2",
            ),
            // The host (bridge gateway) talking to a container: the host is no container.
            (
                "src=172.17.0.1 dst=172.18.0.2 ev=verified",
                "destination_only db",
            ),
            // A container "talking to itself" across a sensor: the source was forged.
            (
                "src=172.17.0.2 dst=172.17.0.2 ev=verified",
                "self_directed web-1",
            ),
            (
                "src=fd00:17::2 dst=172.17.0.2 ev=spoofable",
                "self_directed web-1",
            ),
            // Named links: the alert came from the container's own logs or processes.
            ("name=web-2", "iso web-2 named"),
            ("name=/db", "iso db named"),
            ("id=cccccccccccc", "iso db named"),
            ("id=cccccccccccc3333", "iso db named"),
            ("id=ccc", "no_target"),
            ("name=web-2 src=172.17.0.2 ev=verified", "iso web-2 named"),
            (
                "name=gone src=172.17.0.2 ev=spoofable",
                "iso web-1 source_address",
            ),
            // A published port on another machine's address is not this host's container.
            ("src=198.18.9.9 dst=203.0.113.5 port=8080", "no_target"),
            ("", "no_target"),
            // Linked, but below the policy's severity.
            ("src=172.17.0.2 ev=verified sev=low", "no_policy web-1"),
            ("name=db sev=low", "no_policy db"),
        ],
    );
}

#[test]
fn min_source_evidence_sets_what_a_source_address_link_needs() {
    let inv = inventory();
    check(
        &policies(&actor_policy("min_source_evidence = \"verified\"\n")),
        &inv,
        &[
            (
                "src=172.17.0.2 dst=172.17.0.3 ev=spoofable",
                "weak_evidence web-1",
            ),
            (
                "src=172.17.0.2 dst=172.17.0.3 ev=forgeable",
                "weak_evidence web-1",
            ),
            (
                "src=172.17.0.2 dst=172.17.0.3 ev=verified",
                "iso web-1 source_address",
            ),
            // A name is not an address: evidence does not enter into it.
            ("name=web-1 ev=forgeable", "iso web-1 named"),
        ],
    );
    check(
        &policies(&actor_policy("min_source_evidence = \"forgeable\"\n")),
        &inv,
        &[
            ("src=172.17.0.2 ev=forgeable", "iso web-1 source_address"),
            // Still never the victim, and never a self-directed source.
            ("src=198.18.9.9 dst=172.17.0.3", "destination_only web-2"),
            ("src=172.17.0.2 dst=172.17.0.2", "self_directed web-1"),
        ],
    );
    // A stricter policy first does not hide a laxer one after it.
    let two = actor_policy("min_source_evidence = \"verified\"\n").replace("\"iso\"", "\"strict\"")
        + &actor_policy("").replace("priority = 20", "priority = 30");
    check(
        &policies(&two),
        &inv,
        &[
            ("src=172.17.0.2 ev=verified", "strict web-1 source_address"),
            ("src=172.17.0.2 ev=spoofable", "iso web-1 source_address"),
            ("src=172.17.0.2 ev=forgeable", "weak_evidence web-1"),
        ],
    );
}

#[test]
fn destination_links_only_for_policies_that_opt_in() {
    check(
        &policies(&with_destination_policy()),
        &inventory(),
        &[
            (
                "src=198.18.9.9 dst=172.17.0.3 port=80 ev=verified",
                "guard_web web-2 destination_address",
            ),
            (
                "src=198.18.9.9 dst=192.0.2.10 port=8080",
                "guard_web web-1 published_port",
            ),
            ("port=8081", "guard_web web-2 published_port"),
            // Priority decides between the two sides: the destination policy comes first here.
            (
                "src=172.17.0.2 dst=172.17.0.3 ev=spoofable",
                "guard_web web-2 destination_address",
            ),
            // Its filters do not fit db, so the actor policy acts on the actor.
            (
                "src=172.17.0.2 dst=172.18.0.2 ev=spoofable",
                "iso web-1 source_address",
            ),
            ("src=198.18.9.9 dst=172.18.0.2 ev=verified", "no_policy db"),
            ("src=198.18.9.9 dst=172.17.0.3 sev=low", "no_policy web-2"),
        ],
    );
}

#[test]
fn two_candidates_are_ambiguous() {
    let mut inv = inventory();
    inv.push(c("dddddddddddd4444", "web-3", &["172.17.0.9"], &[8080]));
    // Two containers with one address (separate networks that reuse a subnet).
    inv.push(c("eeeeeeeeeeee5555", "clone", &["172.18.0.2"], &[]));
    check(
        &policies(&actor_policy("")),
        &inv,
        &[
            ("src=172.18.0.2 ev=verified", "ambiguous db,clone"),
            (
                "src=172.18.0.2 dst=172.18.0.2 ev=verified",
                "ambiguous db,clone",
            ),
            // The id names one container, the name another.
            ("name=db id=aaaaaaaaaaaa", "ambiguous web-1,db"),
            // Without a destination policy, an ambiguous destination is still only a victim.
            ("port=8080", "destination_only web-1,web-3"),
            ("src=198.18.9.9 dst=172.18.0.2", "destination_only db,clone"),
        ],
    );
    check(
        &policies(&with_destination_policy()),
        &inv,
        &[
            ("port=8080", "ambiguous web-1,web-3"),
            ("src=198.18.9.9 dst=172.18.0.2", "ambiguous db,clone"),
            (
                "src=172.18.0.2 dst=172.17.0.3 ev=verified",
                "guard_web web-2 destination_address",
            ),
        ],
    );
}

#[test]
fn every_link_has_a_side_and_a_label() {
    for (link, mode, label) in [
        (Link::Named, LinkMode::Actor, "named"),
        (Link::SourceAddress, LinkMode::Actor, "source_address"),
        (
            Link::DestinationAddress,
            LinkMode::Destination,
            "destination_address",
        ),
        (Link::PublishedPort, LinkMode::Destination, "published_port"),
    ] {
        assert_eq!((link.mode(), link.label()), (mode, label));
    }
    assert!(Evidence::Spoofable < Evidence::Verified);
}
