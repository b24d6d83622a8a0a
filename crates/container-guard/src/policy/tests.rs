//! Policy loading and matching.

use super::*;
use ironpost_core::Evidence;

const SEED: &str = r#"[[policy]]
name = "isolate_high_severity"
priority = 10
severity_threshold = "high"

filters.container_names = ["web-*", "api-*"]
filters.image_patterns = ["nginx:*", "node:*"]

action = "network_disconnect"
"#;

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (name, body) in files {
        std::fs::write(d.path().join(name), body).unwrap();
    }
    d
}

fn container(name: &str, image: &str, labels: &[(&str, &str)]) -> ContainerInfo {
    ContainerInfo {
        id: format!("id-{name}"),
        name: name.into(),
        image: image.into(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        ..ContainerInfo::default()
    }
}

#[test]
fn seed_policy_loads_and_matches() {
    let d = dir_with(&[("isolate_attacks.toml", SEED)]);
    let set = PolicySet::load_dir(d.path()).unwrap();
    let p = &set.policies()[0].policy;
    assert_eq!(p.action, IsolationAction::NetworkDisconnect);
    for (sev, name, image, want) in [
        (Severity::High, "web-1", "nginx:1.25", true),
        (Severity::Critical, "api-7", "node:20", true),
        (Severity::Medium, "web-1", "nginx:1.25", false),
        (Severity::High, "db-1", "nginx:1.25", false),
        (Severity::High, "web-1", "redis:7", false),
    ] {
        assert_eq!(
            set.first_match(sev, &container(name, image, &[])).is_some(),
            want,
            "{sev} {name} {image}"
        );
    }
}

#[test]
fn order_is_priority_then_name_across_files() {
    let d = dir_with(&[
        (
            "b.toml",
            "[[policy]]\nname = \"zeta\"\npriority = 5\nseverity_threshold = \"low\"\nfilters.container_names = [\"*\"]\naction = \"pause\"\n",
        ),
        (
            "a.toml",
            "[[policy]]\nname = \"beta\"\npriority = 5\nseverity_threshold = \"low\"\nfilters.container_names = [\"*\"]\naction = \"stop\"\n\n[[policy]]\nname = \"late\"\npriority = 9\nseverity_threshold = \"low\"\nfilters.labels = { tier = \"front*\" }\naction = \"stop\"\n",
        ),
    ]);
    let set = PolicySet::load_dir(d.path()).unwrap();
    let names: Vec<&str> = set
        .policies()
        .iter()
        .map(|p| p.policy.name.as_str())
        .collect();
    assert_eq!(names, ["beta", "zeta", "late"]);
    assert_eq!(
        set.first_match(Severity::Low, &container("x", "y", &[]))
            .unwrap()
            .name,
        "beta"
    );
    let late = &set.policies()[2].policy;
    assert!(late.applies(Severity::Low, &container("x", "y", &[("tier", "frontend")])));
    assert!(!late.applies(Severity::Low, &container("x", "y", &[("tier", "backend")])));
    assert!(!late.applies(Severity::Low, &container("x", "y", &[])));
}

#[test]
fn mistakes_name_file_line_and_key() {
    let d = dir_with(&[(
        "bad.toml",
        "[[policy]]\nname = \"p\"\nseverity_threshold = \"high\"\nfilters.container_names = [\"web-*\"]\naction = \"quarantine\"\n",
    )]);
    let errs = PolicySet::load_dir(d.path()).unwrap_err();
    let msg = errs[0].to_string();
    assert!(
        msg.contains("bad.toml:5:")
            && msg.contains("policy[0].action")
            && msg.contains("quarantine"),
        "{msg}"
    );

    let d = dir_with(&[(
        "typo.toml",
        "[[policy]]\nname = \"p\"\nseverity_threshold = \"high\"\nfilter.container_names = [\"web-*\"]\naction = \"stop\"\n",
    )]);
    let msg = PolicySet::load_dir(d.path()).unwrap_err()[0].to_string();
    assert!(
        msg.contains("typo.toml:4:") && msg.contains("unknown field"),
        "{msg}"
    );
}

#[test]
fn a_policy_without_filters_or_with_a_duplicate_name_is_rejected() {
    let d = dir_with(&[(
        "all.toml",
        "[[policy]]\nname = \"everything\"\nseverity_threshold = \"low\"\naction = \"stop\"\n",
    )]);
    let msg = PolicySet::load_dir(d.path()).unwrap_err()[0].to_string();
    assert!(
        msg.contains("every container") && msg.contains("all.toml:1:"),
        "{msg}"
    );

    let d = dir_with(&[("a.toml", SEED), ("b.toml", SEED)]);
    let errs = PolicySet::load_dir(d.path()).unwrap_err();
    assert!(
        matches!(&errs[0], PolicyError::Duplicate { name, .. } if name == "isolate_high_severity"),
        "{errs:?}"
    );
}

#[test]
fn missing_directory_is_an_error_naming_it() {
    let errs = PolicySet::load_dir(Path::new("/nonexistent/policies")).unwrap_err();
    assert!(errs[0].to_string().contains("/nonexistent/policies"));
}

#[test]
fn link_and_min_source_evidence_default_to_the_actor_on_spoofable_evidence() {
    let d = dir_with(&[("isolate_attacks.toml", SEED)]);
    let set = PolicySet::load_dir(d.path()).unwrap();
    let p = &set.policies()[0].policy;
    assert_eq!(p.link, LinkMode::Actor);
    assert_eq!(p.min_source_evidence, None);
    assert_eq!(p.min_source_evidence(), Evidence::Spoofable);

    let body = |extra: &str| format!("{SEED}{extra}\n");
    for (extra, link, evidence) in [
        ("link = \"actor\"", LinkMode::Actor, Evidence::Spoofable),
        (
            "link = \"destination\"",
            LinkMode::Destination,
            Evidence::Spoofable,
        ),
        (
            "min_source_evidence = \"verified\"",
            LinkMode::Actor,
            Evidence::Verified,
        ),
        (
            "link = \"actor\"\nmin_source_evidence = \"forgeable\"",
            LinkMode::Actor,
            Evidence::Forgeable,
        ),
    ] {
        let d = dir_with(&[("p.toml", &body(extra))]);
        let set = PolicySet::load_dir(d.path()).unwrap();
        let p = &set.policies()[0].policy;
        assert_eq!(
            (p.link, p.min_source_evidence()),
            (link, evidence),
            "{extra}"
        );
    }
}

#[test]
fn bad_link_or_evidence_values_name_file_line_and_key() {
    // SEED is 9 lines long, so the first added key is on line 10.
    for (extra, key, says) in [
        ("link = \"victim\"", "policy[0].link", "victim"),
        ("link = \"Destination \"", "policy[0].link", "Destination"),
        ("link = 1", "policy[0].link", "link"),
        (
            "min_source_evidence = \"strong\"",
            "policy[0].min_source_evidence",
            "strong",
        ),
        (
            "link = \"destination\"\nmin_source_evidence = \"verified\"",
            "policy[0].min_source_evidence",
            "source-address links",
        ),
    ] {
        let d = dir_with(&[("bad.toml", &format!("{SEED}{extra}\n"))]);
        let msg = PolicySet::load_dir(d.path()).unwrap_err()[0].to_string();
        let line = 9 + extra.lines().count();
        assert!(
            msg.contains(&format!("bad.toml:{line}:")) && msg.contains(key) && msg.contains(says),
            "{extra}: {msg}"
        );
    }
}
