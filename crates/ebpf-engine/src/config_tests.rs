//! Tests of `config.rs` (kept apart: the module is long enough without them).

use super::*;

fn issues(cfg: &EbpfConfig) -> Vec<String> {
    let mut i = Issues::default();
    cfg.validate("ebpf", &mut i);
    i.into_vec()
        .into_iter()
        .map(|i| format!("{}: {}", i.key, i.message))
        .collect()
}

#[test]
fn seed_002_rules_load() {
    let cfg: EbpfConfig = toml::from_str(
        r#"
enabled = true
interface = "eth0"
xdp_mode = "native"
ring_buffer_size = 262144
blocklist_max_entries = 10000

[[rules]]
id = "block_scanner"
description = "Block port scanner"
src_ip = "10.0.0.1"
action = "drop"

[[rules]]
id = "monitor_ssh"
description = "Monitor SSH traffic"
dst_port = 22
protocol = 6  # TCP
action = "monitor"
"#,
    )
    .unwrap();
    assert_eq!(cfg.xdp_mode, XdpMode::Native);
    assert_eq!(cfg.rules[1].protocol, Some(Protocol::Tcp));
    assert_eq!(cfg.rules[0].src_ip.unwrap().to_string(), "10.0.0.1");
    assert!(issues(&cfg).is_empty(), "{:?}", issues(&cfg));
}

#[test]
fn extra_interfaces_are_checked_one_by_one() {
    let cfg: EbpfConfig = toml::from_str(
        r#"
interface = "eth0"
extra_interfaces = ["veth1a2b3c", "eth0", "veth1a2b3c", "bad/name", "", "eth0:1", "a-very-long-interface-name"]
"#,
    )
    .unwrap();
    assert_eq!(
        issues(&cfg),
        [
            "ebpf.extra_interfaces[1]: `eth0` is already `interface`",
            "ebpf.extra_interfaces[2]: `veth1a2b3c` is listed twice",
            "ebpf.extra_interfaces[3]: `bad/name` must be a Linux interface name (1-15 bytes, no `/`, `:` or space)",
            "ebpf.extra_interfaces[4]: `` must be a Linux interface name (1-15 bytes, no `/`, `:` or space)",
            "ebpf.extra_interfaces[5]: `eth0:1` must be a Linux interface name (1-15 bytes, no `/`, `:` or space)",
            "ebpf.extra_interfaces[6]: `a-very-long-interface-name` must be a Linux interface name (1-15 bytes, no `/`, `:` or space)",
        ]
    );
    let many = EbpfConfig {
        extra_interfaces: (0..17).map(|i| format!("veth{i}")).collect(),
        ..EbpfConfig::default()
    };
    assert_eq!(
        issues(&many),
        ["ebpf.extra_interfaces: 17 interfaces: at most 16"]
    );
    assert!(issues(&EbpfConfig::default()).is_empty());
}

#[test]
fn rejects_dangerous_or_impossible_rules() {
    let cfg = EbpfConfig {
        ring_buffer_size: 256,
        interface: "a-very-long-interface-name".into(),
        rules: vec![
            FilterRule {
                id: "all".into(),
                description: String::new(),
                src_ip: None,
                dst_ip: None,
                dst_port: None,
                protocol: None,
                action: RuleAction::Drop,
            },
            FilterRule {
                id: "all".into(),
                description: String::new(),
                src_ip: None,
                dst_ip: None,
                dst_port: Some(22),
                protocol: Some(Protocol::Icmp),
                action: RuleAction::Drop,
            },
        ],
        ..EbpfConfig::default()
    };
    let got = issues(&cfg);
    for needle in [
        "ebpf.ring_buffer_size",
        "ebpf.interface",
        "ebpf.rules[0]: matches every packet",
        "ebpf.rules[1].id: duplicate",
        "ebpf.rules[1].dst_port",
    ] {
        assert!(
            got.iter().any(|g| g.starts_with(needle)),
            "{needle} not in {got:#?}"
        );
    }
}

#[test]
fn kernel_knobs_load_and_are_checked() {
    let cfg: EbpfConfig = toml::from_str(
        r#"
allowlist = ["192.0.2.0/24", "2001:db8::1"]
pin_path = "/sys/fs/bpf/ironpost"
events_per_second = 50
events_burst = 200
"#,
    )
    .unwrap();
    assert_eq!(cfg.allowlist.len(), 2);
    assert_eq!(
        cfg.pin_path.as_deref(),
        Some(std::path::Path::new("/sys/fs/bpf/ironpost"))
    );
    assert_eq!(
        cfg.pin_dir().as_deref(),
        Some(std::path::Path::new("/sys/fs/bpf/ironpost/eth0"))
    );
    assert!(!cfg.detach_on_stop);
    assert!(issues(&cfg).is_empty(), "{:?}", issues(&cfg));
    // Pinned by default; "" turns it off, and that survives a round trip.
    assert_eq!(EbpfConfig::default().pin_path, cfg.pin_path);
    let off: EbpfConfig = toml::from_str("pin_path = \"\"\ndetach_on_stop = true").unwrap();
    assert_eq!((off.pin_path.as_ref(), off.detach_on_stop), (None, true));
    let back: EbpfConfig = toml::from_str(&toml::to_string(&off).unwrap()).unwrap();
    assert_eq!(back, off);

    let mut bad = EbpfConfig {
        pin_path: Some("relative/dir".into()),
        events_per_second: 0,
        events_burst: MAX_EVENT_RATE + 1,
        ..EbpfConfig::default()
    };
    bad.rules = (0..=MAX_MATCH_RULES)
        .map(|i| FilterRule {
            id: format!("r{i}"),
            description: String::new(),
            src_ip: None,
            dst_ip: None,
            dst_port: Some(1000 + i as u16),
            protocol: Some(Protocol::Tcp),
            action: RuleAction::Monitor,
        })
        .collect();
    let got = issues(&bad);
    for needle in [
        "ebpf.pin_path",
        "ebpf.events_per_second",
        "ebpf.events_burst",
        "ebpf.rules: 65 rules use dst_ip",
    ] {
        assert!(
            got.iter().any(|g| g.starts_with(needle)),
            "{needle} not in {got:#?}"
        );
    }
    // Source-only rules live in the blocklist maps and are not limited to 64.
    bad.rules.iter_mut().for_each(|r| {
        r.src_ip = Some("10.0.0.1".parse().unwrap());
        r.dst_port = None;
        r.protocol = None;
    });
    assert!(!issues(&bad).iter().any(|g| g.starts_with("ebpf.rules:")));
}

#[test]
fn detector_sections_load_with_defaults_and_are_checked() {
    let cfg: EbpfConfig = toml::from_str(
        r#"
[syn_flood]
threshold = 500
ratio = 0.9

[port_scan]
enabled = false
window_secs = 30
"#,
    )
    .unwrap();
    assert_eq!(
        cfg.syn_flood,
        SynFloodConfig {
            threshold: 500,
            ratio: 0.9,
            ..SynFloodConfig::default()
        }
    );
    assert_eq!(cfg.port_scan.window, Duration::from_secs(30));
    assert_eq!(
        (cfg.port_scan.enabled, cfg.port_scan.port_threshold),
        (false, 20)
    );
    assert!(issues(&cfg).is_empty(), "{:?}", issues(&cfg));

    let err = toml::from_str::<EbpfConfig>("[syn_flood]\nthreshhold = 5")
        .unwrap_err()
        .to_string();
    assert!(err.contains("threshhold"), "{err}");

    // (syn_flood, port_scan, the keys that must be reported)
    let bad = |sf: SynFloodConfig, ps: PortScanConfig| EbpfConfig {
        syn_flood: sf,
        port_scan: ps,
        ..EbpfConfig::default()
    };
    let sf = SynFloodConfig::default;
    let ps = PortScanConfig::default;
    let cases: Vec<(EbpfConfig, &[&str])> = vec![
        (bad(sf(), ps()), &[]),
        (
            bad(SynFloodConfig { ratio: 0.0, ..sf() }, ps()),
            &["ebpf.syn_flood.ratio"],
        ),
        (bad(SynFloodConfig { ratio: 1.0, ..sf() }, ps()), &[]),
        (
            bad(
                SynFloodConfig {
                    ratio: 1.01,
                    ..sf()
                },
                ps(),
            ),
            &["ebpf.syn_flood.ratio"],
        ),
        (
            bad(
                SynFloodConfig {
                    ratio: f64::NAN,
                    ..sf()
                },
                ps(),
            ),
            &["ebpf.syn_flood.ratio"],
        ),
        (
            bad(
                SynFloodConfig {
                    window: Duration::ZERO,
                    threshold: 0,
                    max_tracked: 0,
                    ..sf()
                },
                ps(),
            ),
            &[
                "ebpf.syn_flood.window_secs",
                "ebpf.syn_flood.threshold",
                "ebpf.syn_flood.max_tracked",
            ],
        ),
        (
            bad(
                sf(),
                PortScanConfig {
                    window: Duration::from_secs(3601),
                    port_threshold: 1,
                    max_tracked: MAX_TRACKED + 1,
                    ..ps()
                },
            ),
            &[
                "ebpf.port_scan.window_secs",
                "ebpf.port_scan.port_threshold",
                "ebpf.port_scan.max_tracked",
            ],
        ),
        (
            bad(
                sf(),
                PortScanConfig {
                    port_threshold: MAX_PORT_THRESHOLD + 1,
                    ..ps()
                },
            ),
            &["ebpf.port_scan.port_threshold"],
        ),
    ];
    for (cfg, want) in cases {
        let got: Vec<String> = issues(&cfg)
            .into_iter()
            .map(|i| i.split(':').next().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(got, want, "{:?} {:?}", cfg.syn_flood, cfg.port_scan);
    }
}

#[test]
fn detector_sections_survive_a_toml_round_trip() {
    let cfg = EbpfConfig {
        rules: vec![FilterRule {
            id: "r".into(),
            description: String::new(),
            src_ip: Some("10.0.0.1".parse().unwrap()),
            dst_ip: None,
            dst_port: None,
            protocol: None,
            action: RuleAction::Drop,
        }],
        ..EbpfConfig::default()
    };
    let text = toml::to_string(&cfg).unwrap();
    assert!(
        text.contains("[syn_flood]") && text.contains("window_secs = 10"),
        "{text}"
    );
    assert_eq!(toml::from_str::<EbpfConfig>(&text).unwrap(), cfg);
}

#[test]
fn xdp_mode_is_an_enum() {
    let err = toml::from_str::<EbpfConfig>("xdp_mode = \"turbo\"")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("native") && err.contains("skb") && err.contains("hw"),
        "{err}"
    );
}
