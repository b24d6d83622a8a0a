//! Loading, pinning and attaching against the real kernel: blocks survive a reload through maps
//! pinned on a bpffs mounted for the test (host entries too, and those an earlier version kept in
//! a trie move to the host maps; deadlines it wrote in nanoseconds are converted to jiffies); attach/detach are observed through the kernel
//! refusing a second XDP program on the same interface. Attach tests run in a private network
//! namespace (per thread), so the host's interfaces are never touched.

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use common::*;
use ironpost_ebpf_engine::{Error, LoadOptions, RuleAction, XdpAction, XdpMode};

fn pinned(pin_path: PathBuf) -> LoadOptions {
    LoadOptions {
        pin_path: Some(pin_path),
        ..LoadOptions::default()
    }
}

#[test]
fn pinned_blocks_and_hits_survive_a_reload() {
    let fs = BpfFs::mount();
    let pin = fs.path().join("ironpost");
    let blocked = tcp("203.0.113.9", "192.0.2.1", 80, ACK).bytes();
    {
        let mut f = load_with(pinned(pin.clone()));
        f.insert_block("203.0.113.0/24".parse().unwrap(), 3, RuleAction::Drop)
            .unwrap();
        f.insert_allow("2001:db8::/32".parse().unwrap(), 4).unwrap();
        assert_eq!(f.test_run(&blocked, 1).unwrap(), XdpAction::Drop);
    }
    for map in [
        "blocklist_v4",
        "blocklist_v6",
        "allowlist_v4",
        "allowlist_v6",
        "hits",
    ] {
        assert!(pin.join(map).exists(), "{map} not pinned");
    }
    assert!(
        !pin.join("stats").exists(),
        "stats are per program run, not pinned"
    );

    let mut f = load_with(pinned(pin.clone()));
    let blocks = f.list_blocks().unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(
        (blocks[0].cidr.to_string().as_str(), blocks[0].rule_id),
        ("203.0.113.0/24", 3)
    );
    assert_eq!(f.list_allows().unwrap().len(), 1);
    assert_eq!(f.test_run(&blocked, 1).unwrap(), XdpAction::Drop);
    assert_eq!(f.read_hits().unwrap()[&3].packets, 2);
    assert_eq!(f.read_stats().unwrap().total.packets, 1);

    // An unpinned load shares nothing with the pinned one.
    let mut fresh = load();
    assert!(fresh.list_blocks().unwrap().is_empty());
    assert_eq!(fresh.test_run(&blocked, 1).unwrap(), XdpAction::Pass);
}

/// Host entries (/32, /128) live in their own pinned maps: after a reload they still drop, and
/// they still count against `blocklist_max_entries` with the family's prefixes.
#[test]
fn pinned_host_entries_survive_a_reload_and_still_count() {
    let fs = BpfFs::mount();
    let pin = fs.path().join("ironpost");
    let opts = LoadOptions {
        blocklist_max_entries: 3,
        ..pinned(pin.clone())
    };
    let host4 = tcp("203.0.113.9", "192.0.2.1", 80, ACK).bytes();
    let net4 = tcp("198.51.100.7", "192.0.2.1", 80, ACK).bytes();
    let host6 = tcp("2001:db8::9", "2001:db8::1", 80, ACK).bytes();
    {
        let mut f = load_with(opts.clone());
        for (c, id) in [
            ("203.0.113.9", 5),
            ("198.51.100.0/24", 6),
            ("2001:db8::9", 7),
        ] {
            f.insert_block(c.parse().unwrap(), id, RuleAction::Drop)
                .unwrap();
        }
    }
    for map in ["block_hosts_v4", "block_hosts_v6"] {
        assert!(pin.join(map).exists(), "{map} not pinned");
    }

    let mut f = load_with(opts);
    assert_eq!(f.list_blocks().unwrap().len(), 3);
    for frame in [&host4, &net4, &host6] {
        assert_eq!(f.test_run(frame, 1).unwrap(), XdpAction::Drop);
    }
    // Two IPv4 entries came back from the pins: room for one more.
    f.insert_block("203.0.113.10".parse().unwrap(), 8, RuleAction::Drop)
        .unwrap();
    let err = f
        .insert_block("203.0.113.11".parse().unwrap(), 9, RuleAction::Drop)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::MapFull {
                map: "blocklist_v4",
                max_entries: 3,
                ..
            }
        ),
        "{err:?}"
    );
}

/// A version without host maps kept /32 and /128 entries in the pinned tries. Loading moves
/// them to the host maps, so they are listed once, drop, and can be removed.
#[test]
fn host_entries_a_trie_kept_from_an_earlier_version_move_to_the_host_maps() {
    use aya::maps::lpm_trie::{Key, LpmTrie};
    use aya::maps::{Map, MapData};

    let fs = BpfFs::mount();
    let pin = fs.path().join("ironpost");
    drop(load_with(pinned(pin.clone())));
    // Host entries in the tries, as a version without host maps left them, in today's
    // `struct lpm_value` layout {expires (2 words, 0 = permanent), rule id, ACTION_DROP = 1,
    // hit slot, pad}.
    let trie = |name: &str| Map::from_map_data(MapData::from_pin(pin.join(name)).unwrap()).unwrap();
    let mut v4: LpmTrie<_, [u8; 4], [u32; 6]> = LpmTrie::try_from(trie("blocklist_v4")).unwrap();
    v4.insert(&Key::new(32, [203, 0, 113, 7]), [0, 0, 42, 1, 100, 0], 0)
        .unwrap();
    v4.insert(&Key::new(24, [198, 51, 100, 0]), [0, 0, 43, 1, 101, 0], 0)
        .unwrap();
    let addr6: std::net::Ipv6Addr = "2001:db8::7".parse().unwrap();
    let mut v6: LpmTrie<_, [u8; 16], [u32; 6]> = LpmTrie::try_from(trie("blocklist_v6")).unwrap();
    v6.insert(&Key::new(128, addr6.octets()), [0, 0, 44, 1, 102, 0], 0)
        .unwrap();

    let mut f = load_with(pinned(pin.clone()));
    let mut blocks: Vec<_> = f
        .list_blocks()
        .unwrap()
        .into_iter()
        .map(|b| (b.cidr.to_string(), b.rule_id))
        .collect();
    blocks.sort();
    assert_eq!(
        blocks,
        [
            ("198.51.100.0/24".to_owned(), 43),
            ("2001:db8::7".to_owned(), 44),
            ("203.0.113.7".to_owned(), 42),
        ]
    );
    // Only the prefix is left in the tries.
    let v4_prefixes: Vec<u32> = v4.keys().map(|k| k.unwrap().prefix_len()).collect();
    assert_eq!(v4_prefixes, [24]);
    assert_eq!(v6.keys().count(), 0);

    let host4 = tcp("203.0.113.7", "192.0.2.1", 80, ACK).bytes();
    let host6 = tcp("2001:db8::7", "2001:db8::1", 80, ACK).bytes();
    assert_eq!(f.test_run(&host4, 1).unwrap(), XdpAction::Drop);
    assert_eq!(f.test_run(&host6, 1).unwrap(), XdpAction::Drop);
    assert!(f.remove_block("203.0.113.7".parse().unwrap()).unwrap());
    assert!(f.remove_block("2001:db8::7".parse().unwrap()).unwrap());
    assert_eq!(f.test_run(&host4, 1).unwrap(), XdpAction::Pass);
    assert_eq!(f.test_run(&host6, 1).unwrap(), XdpAction::Pass);
}

/// An earlier version wrote deadlines in `CLOCK_MONOTONIC_COARSE` nanoseconds. Loading converts
/// them to the program's jiffies: a deadline ahead keeps dropping until it passes, one behind
/// passes, a permanent entry stays permanent, and each reads back as the instant it was.
#[test]
fn nanosecond_deadlines_a_pinned_map_kept_are_converted_at_load() {
    use aya::maps::{HashMap, Map, MapData};
    use ironpost_ebpf_engine::clock::MonoTime;

    let fs = BpfFs::mount();
    let pin = fs.path().join("ironpost");
    drop(load_with(pinned(pin.clone())));
    let ahead = MonoTime::now().after(std::time::Duration::from_secs(3600));
    let behind = MonoTime(MonoTime::now().0 - 1_000_000_000);
    let words = |t: MonoTime| [t.0 as u32, (t.0 >> 32) as u32];
    {
        let map =
            Map::from_map_data(MapData::from_pin(pin.join("block_hosts_v4")).unwrap()).unwrap();
        let mut hosts: HashMap<_, [u8; 4], [u32; 6]> = HashMap::try_from(map).unwrap();
        let [lo, hi] = words(ahead);
        hosts
            .insert([203, 0, 113, 1], [lo, hi, 1_000_001, 1, 100, 0], 0)
            .unwrap();
        let [lo, hi] = words(behind);
        hosts
            .insert([203, 0, 113, 2], [lo, hi, 1_000_002, 1, 101, 0], 0)
            .unwrap();
        hosts
            .insert([203, 0, 113, 3], [0, 0, 1_000_003, 1, 102, 0], 0)
            .unwrap();
    }

    let mut f = load_with(pinned(pin.clone()));
    let verdict = |f: &mut ironpost_ebpf_engine::XdpFilter, src: &str| {
        f.test_run(&tcp(src, "192.0.2.1", 80, ACK).bytes(), 1)
            .unwrap()
    };
    assert_eq!(verdict(&mut f, "203.0.113.1"), XdpAction::Drop);
    assert_eq!(verdict(&mut f, "203.0.113.2"), XdpAction::Pass);
    assert_eq!(verdict(&mut f, "203.0.113.3"), XdpAction::Drop);
    let expires = |f: &ironpost_ebpf_engine::XdpFilter, ip: &str| {
        f.list_blocks()
            .unwrap()
            .into_iter()
            .find(|b| b.cidr == ip.parse().unwrap())
            .unwrap()
            .expires
    };
    // Each reads back as the instant the program stops dropping: within two ticks (at most
    // 20 ms at HZ=100) after a deadline ahead, before one behind.
    let got = expires(&f, "203.0.113.1").unwrap();
    assert!(
        got > ahead && got.0 - ahead.0 <= 20_000_000,
        "{ahead:?} -> {got:?}"
    );
    let got = expires(&f, "203.0.113.2").unwrap();
    assert!(
        got < behind && behind.0 - got.0 <= 20_000_000,
        "{behind:?} -> {got:?}"
    );
    assert_eq!(expires(&f, "203.0.113.3"), None);
    // Converted once: a second load (its own clock sample) reads the same deadline, to a tick.
    drop(f);
    let f = load_with(pinned(pin));
    let again = expires(&f, "203.0.113.1").unwrap();
    assert!(
        again.0.abs_diff(ahead.0) <= 20_000_000,
        "{ahead:?} -> {again:?}"
    );
}

#[test]
fn pinning_outside_bpffs_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = ironpost_ebpf_engine::XdpFilter::load(&pinned(dir.path().join("maps"))).unwrap_err();
    assert!(
        matches!(&err, Error::Pin { path, .. } if path.ends_with("maps")),
        "{err:?}"
    );
    assert!(err.to_string().contains("bpffs"), "{err}");
}

#[test]
fn attach_and_detach_on_an_interface() {
    private_netns();
    let mut first = load();
    let mut second = load();

    first
        .attach("lo", XdpMode::Skb)
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert_eq!(first.attached_to(), Some("lo"));
    assert!(matches!(
        first.attach("lo", XdpMode::Skb),
        Err(Error::AlreadyAttached { .. })
    ));
    // The kernel holds our program on `lo`: a second one is refused.
    let busy = second.attach("lo", XdpMode::Skb).unwrap_err();
    assert!(
        matches!(&busy, Error::Attach { iface, mode: XdpMode::Skb, .. } if iface == "lo"),
        "{busy:?}"
    );

    first.detach().unwrap();
    assert_eq!(first.attached_to(), None);
    first.detach().unwrap();
    second
        .attach("lo", XdpMode::Skb)
        .unwrap_or_else(|e| panic!("{}", chain(&e)));

    // Dropping the filter detaches it.
    drop(second);
    first
        .attach("lo", XdpMode::Skb)
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    first.detach().unwrap();
}

#[test]
fn attach_errors_name_the_interface() {
    private_netns();
    let mut f = load();
    let err = f.attach("ironpost-nope0", XdpMode::Skb).unwrap_err();
    assert!(err.to_string().contains("ironpost-nope0"), "{err}");
    // `lo` has no driver-mode XDP.
    let err = f.attach("lo", XdpMode::Native).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Attach {
                mode: XdpMode::Native,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(f.attached_to(), None);
}
