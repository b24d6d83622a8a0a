//! Blocklist bookkeeping: escalation, capacity, eviction order and its cost, expiry, and the
//! journal (restart, damaged records, no rewrite per block).

use super::*;

fn req(cidr: &str, ttl: Option<u64>, escalate: bool) -> BlockRequest {
    BlockRequest {
        cidr: cidr.parse().unwrap(),
        ttl: ttl.map(Duration::from_secs),
        reason: "test".into(),
        alert_id: None,
        trace_id: None,
        escalate,
        evidence: Evidence::Verified,
    }
}

/// An alert-driven request with `evidence`.
fn alert_req(cidr: &str, evidence: Evidence) -> BlockRequest {
    BlockRequest {
        alert_id: Some(EventId::new()),
        escalate: evidence.is_verified(),
        evidence,
        ..req(cidr, Some(3600), false)
    }
}

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

fn cidrs(v: &[Block]) -> Vec<String> {
    v.iter().map(|b| b.cidr.to_string()).collect()
}

#[test]
fn ttl_escalates_for_repeat_offenders_only() {
    let mut b = Blocklist::new(100, None);
    let first = b
        .add(&req("198.18.0.1", Some(60), true), 0, t(0))
        .unwrap()
        .block;
    assert_eq!(first.expires_at, Some(t(60)));
    assert_eq!(first.offence, 1);
    b.remove(&first.cidr);
    let second = b
        .add(&req("198.18.0.1", Some(60), true), 0, t(100))
        .unwrap()
        .block;
    assert_eq!((second.offence, second.expires_at), (2, Some(t(220))));
    b.remove(&second.cidr);
    let third = b
        .add(&req("198.18.0.1", Some(60), true), 0, t(300))
        .unwrap()
        .block;
    assert_eq!((third.offence, third.expires_at), (3, Some(t(540))));
    // Forgotten after OFFENCE_MEMORY.
    b.remove(&third.cidr);
    let later = b
        .add(
            &req("198.18.0.1", Some(60), true),
            0,
            t(300 + 24 * 3600 + 1),
        )
        .unwrap()
        .block;
    assert_eq!(later.offence, 1);
    // Manual blocks never escalate.
    let manual = b
        .add(&req("198.18.0.9", Some(60), false), 0, t(0))
        .unwrap()
        .block;
    b.remove(&manual.cidr);
    assert_eq!(
        b.add(&req("198.18.0.9", Some(60), false), 0, t(10))
            .unwrap()
            .block
            .offence,
        1
    );
}

#[test]
fn escalation_is_capped() {
    assert_eq!(
        escalated_ttl(Duration::from_secs(3600), 1),
        Duration::from_secs(3600)
    );
    assert_eq!(
        escalated_ttl(Duration::from_secs(3600), 4),
        Duration::from_secs(8 * 3600)
    );
    assert_eq!(escalated_ttl(Duration::from_secs(3600), 40), MAX_TTL);
    assert_eq!(
        escalated_ttl(Duration::from_secs(30 * 24 * 3600), 2),
        Duration::from_secs(30 * 24 * 3600)
    );
}

#[test]
fn capacity_counts_config_entries_per_family() {
    let mut b = Blocklist::new(3, None);
    b.add(&req("198.18.0.1", None, false), 1, t(0)).unwrap();
    b.add(&req("198.18.0.2", None, false), 1, t(0)).unwrap();
    let err = b.add(&req("198.18.0.3", None, false), 1, t(0)).unwrap_err();
    assert!(
        err.to_string().contains("blocklist_max_entries = 3"),
        "{err}"
    );
    // Renewing an existing entry needs no room; the other family has its own map.
    b.add(&req("198.18.0.2", Some(5), false), 1, t(0)).unwrap();
    b.add(&req("2001:db8::1", None, false), 1, t(0)).unwrap();
}

#[test]
fn expiry_and_rule_ids() {
    let mut b = Blocklist::new(100, None);
    let a = b
        .add(&req("198.18.0.1", Some(10), false), 0, t(0))
        .unwrap()
        .block;
    let c = b
        .add(&req("198.18.1.0/24", None, false), 0, t(0))
        .unwrap()
        .block;
    assert!(a.rule_id >= DYNAMIC_RULE_BASE && c.rule_id > a.rule_id);
    let renewed = b
        .add(&req("198.18.0.1", Some(100), false), 0, t(5))
        .unwrap()
        .block;
    assert_eq!(
        renewed.rule_id, a.rule_id,
        "a renewed block keeps its rule id"
    );
    assert!(b.expired(t(50)).is_empty());
    assert_eq!(b.expired(t(105)), vec![a.cidr]);
}

/// A directory for journal tests; on tmpfs when there is one, since every record is synced.
fn state_dir() -> tempfile::TempDir {
    if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

#[test]
fn the_journal_alone_restores_blocks_history_and_removals() {
    let dir = state_dir();
    let path = dir.path().join("ebpf/blocklist.json");
    let mut b = Blocklist::new(100, Some(path.clone()));
    let kept = b
        .add(&req("2001:db8::/64", Some(60), true), 0, t(0))
        .unwrap()
        .block;
    let gone = b.add(&alert_req("198.18.0.7", Evidence::Spoofable), 0, t(1));
    b.remove(&gone.unwrap().block.cidr);
    b.sync();
    assert!(b.take_error().is_none());
    assert!(!path.exists(), "no snapshot written per block");
    assert_eq!(b.journal_records(), 3);
    drop(b);

    let (mut back, report) = Blocklist::load(100, &path);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(report.replayed, 3);
    assert_eq!(back.len(), 1);
    assert_eq!(back.get(&kept.cidr), Some(&kept));
    // The offence history came back too: the next block is a second offence.
    back.remove(&kept.cidr);
    let again = back
        .add(&req("2001:db8::/64", Some(60), true), 0, t(10))
        .unwrap()
        .block;
    assert_eq!(again.offence, 2);
    // Compaction: the snapshot holds it all and the journal is empty.
    back.save().unwrap();
    assert_eq!(back.journal_records(), 0);
    let journal = path.with_extension("journal");
    assert_eq!(std::fs::metadata(&journal).unwrap().len(), 0);
    let (third, report) = Blocklist::load(100, &path);
    assert_eq!(report.replayed, 0);
    assert_eq!(third.get(&again.cidr), Some(&again));
}

#[test]
fn damaged_journal_records_are_skipped_and_counted_and_a_damaged_snapshot_reported() {
    let dir = state_dir();
    let path = dir.path().join("blocklist.json");
    let mut b = Blocklist::new(100, Some(path.clone()));
    b.add(&req("198.18.0.1", None, false), 0, t(0)).unwrap();
    b.add(&req("198.18.0.2", None, false), 0, t(0)).unwrap();
    b.sync();
    drop(b);
    let journal = path.with_extension("journal");
    let mut text = std::fs::read_to_string(&journal).unwrap();
    // A garbage line in the middle and a torn record at the tail (a crash mid-write).
    let second = text.lines().nth(1).unwrap().to_owned();
    text = format!(
        "{}\n{{\"op\":\"nonsense\"}}\n{second}\n{}",
        text.lines().next().unwrap(),
        &second[..second.len() / 2]
    );
    std::fs::write(&journal, text).unwrap();
    let (back, report) = Blocklist::load(100, &path);
    assert_eq!(report.corrupt_records, 2, "{:?}", report.warnings);
    assert!(
        report.warnings[0].contains("blocklist.journal:2"),
        "{:?}",
        report.warnings
    );
    assert_eq!(back.len(), 2, "records around the damage still apply");

    std::fs::write(&path, b"{not json").unwrap();
    let (fromj, report) = Blocklist::load(100, &path);
    assert!(report.warnings.iter().any(|w| w.contains("damaged")));
    assert_eq!(fromj.len(), 2, "the journal still applies");
}

#[test]
fn old_snapshots_without_evidence_read_back_as_forgeable() {
    let dir = state_dir();
    let path = dir.path().join("blocklist.json");
    std::fs::write(
        &path,
        r#"{"blocks":[{"cidr":"198.18.0.1","rule_id":65536,"reason":"r","added_at":"2027-01-15T08:00:00Z","offence":1}],"history":[]}"#,
    )
    .unwrap();
    let (b, report) = Blocklist::load(100, &path);
    assert!(report.warnings.is_empty());
    assert_eq!(
        b.get(&"198.18.0.1".parse().unwrap()).unwrap().evidence,
        Evidence::Forgeable
    );
}

#[test]
fn a_full_table_evicts_unverified_first_then_the_oldest_lowest_offence_verified() {
    let mut b = Blocklist::new(6, None);
    // One config rule takes an entry: five run-time blocks fit.
    let reserved = 1;
    let manual = req("198.18.0.1", None, false);
    b.add(&manual, reserved, t(0)).unwrap();
    // A repeat offender (offence 2), then two first offenders, then two spoofable sources.
    let mut rep = alert_req("198.18.0.2", Evidence::Verified);
    b.add(&rep, reserved, t(1)).unwrap();
    b.remove(&rep.cidr);
    rep.alert_id = Some(EventId::new());
    assert_eq!(b.add(&rep, reserved, t(2)).unwrap().block.offence, 2);
    b.add(&alert_req("198.18.0.3", Evidence::Verified), reserved, t(3))
        .unwrap();
    b.add(
        &alert_req("198.18.0.4", Evidence::Spoofable),
        reserved,
        t(4),
    )
    .unwrap();
    b.add(
        &alert_req("198.18.0.5", Evidence::Forgeable),
        reserved,
        t(5),
    )
    .unwrap();
    assert_eq!(b.len(), 5);

    // Unverified requests never evict.
    let err = b
        .add(
            &alert_req("198.18.0.9", Evidence::Spoofable),
            reserved,
            t(6),
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("unverified evidence never evicts"),
        "{err}"
    );
    assert_eq!(b.len(), 5);

    // Verified ones do, in policy order: unverified, oldest first; then verified first
    // offenders, oldest first (including the blocks just added), never the repeat offender
    // while a first offender is left, nor the operator's manual block.
    let mut order = Vec::new();
    for (i, evidence) in [Evidence::Verified; 5].into_iter().enumerate() {
        let added = b
            .add(
                &alert_req(&format!("198.18.1.{i}"), evidence),
                reserved,
                t(10 + i as i64),
            )
            .unwrap();
        assert!(added.changed);
        order.extend(cidrs(&added.evicted));
    }
    assert_eq!(
        order,
        [
            "198.18.0.4",
            "198.18.0.5",
            "198.18.0.3",
            "198.18.1.0",
            "198.18.1.1"
        ]
    );
    assert!(b.get(&rep.cidr).is_some(), "the repeat offender stays");
    assert!(b.get(&manual.cidr).is_some());
    // A manual request also evicts, but a table of manual blocks is simply full.
    let mut m = Blocklist::new(2, None);
    m.add(&req("198.18.0.1", None, false), 0, t(0)).unwrap();
    m.add(&req("198.18.0.2", None, false), 0, t(0)).unwrap();
    let err = m
        .add(&alert_req("198.18.0.3", Evidence::Verified), 0, t(0))
        .unwrap_err();
    assert!(err.to_string().contains("none of them evictable"), "{err}");
    assert_eq!(m.len(), 2);
}

#[test]
fn an_unverified_request_never_shortens_or_downgrades_a_verified_block() {
    let mut b = Blocklist::new(10, None);
    let v = b
        .add(&alert_req("198.18.0.1", Evidence::Verified), 0, t(0))
        .unwrap()
        .block;
    let mut spoof = alert_req("198.18.0.1", Evidence::Spoofable);
    spoof.ttl = Some(Duration::from_secs(5));
    let again = b.add(&spoof, 0, t(1)).unwrap();
    assert!(!again.changed);
    assert_eq!(again.block, v);
    assert_eq!(b.get(&v.cidr), Some(&v));
    // The other way round, verified evidence upgrades an unverified block.
    b.add(&alert_req("198.18.0.2", Evidence::Spoofable), 0, t(0))
        .unwrap();
    let up = b
        .add(&alert_req("198.18.0.2", Evidence::Verified), 0, t(1))
        .unwrap();
    assert!(up.changed);
    assert_eq!(up.block.evidence, Evidence::Verified);
}

/// 100,000 verified blocks through a 1,000-entry table: each add evicts one entry. The indexes
/// stay consistent and every eviction follows the policy (the oldest of the lowest offence).
/// The old bookkeeping counted the family and scanned the history on every add, so this many
/// adds would take minutes; with O(log n) indexes it is quick.
#[test]
fn a_hundred_thousand_blocks_evict_in_order_without_scans() {
    let mut b = Blocklist::new(1_000, None);
    let mut evicted = 0usize;
    for i in 0..100_000u32 {
        let ip = std::net::Ipv4Addr::from(0xC612_0000 + i); // 198.18.0.0/15 and beyond
        let r = alert_req(&ip.to_string(), Evidence::Verified);
        let added = b.add(&r, 0, t(i64::from(i))).unwrap();
        if i >= 1_000 {
            assert_eq!(added.evicted.len(), 1, "add {i}");
            let want = std::net::Ipv4Addr::from(0xC612_0000 + i - 1_000);
            assert_eq!(added.evicted[0].cidr.to_string(), want.to_string());
        }
        evicted += added.evicted.len();
    }
    assert_eq!((b.len(), evicted), (1_000, 99_000));
    assert_eq!(b.counts, [1_000, 0]);
    assert_eq!(b.evictable[0].len(), 1_000);
    assert_eq!(b.history.len(), MAX_HISTORY);
    assert_eq!(b.history_by_age.len(), MAX_HISTORY);
}

/// A change's record is buffered until `sync`: the engine updates the kernel map in between,
/// and a batch of changes shares one write and one `fdatasync`. A change not yet synced is not
/// on disk (a crash there loses it locally: the fleet's watcher applies it again at start).
#[test]
fn records_reach_the_journal_at_sync_one_write_for_a_batch() {
    let dir = state_dir();
    let path = dir.path().join("blocklist.json");
    let journal = path.with_extension("journal");
    let mut b = Blocklist::new(100, Some(path.clone()));
    b.add(&req("198.18.0.1", Some(60), false), 0, t(0)).unwrap();
    b.add(&req("198.18.0.2", Some(60), false), 0, t(0)).unwrap();
    b.remove(&"198.18.0.1".parse().unwrap());
    assert!(!journal.exists(), "nothing written before the sync");
    let (before, _) = Blocklist::load(100, &path);
    assert!(before.is_empty());
    b.sync();
    assert!(b.take_error().is_none());
    let text = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    // Nothing buffered: a second sync writes nothing.
    b.sync();
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), text);
    let (back, report) = Blocklist::load(100, &path);
    assert_eq!(report.replayed, 3);
    assert_eq!(back.len(), 1);
    assert!(back.get(&"198.18.0.2".parse().unwrap()).is_some());
    // A compaction takes what is buffered along: the snapshot holds the whole state.
    b.add(&req("198.18.0.3", Some(60), false), 0, t(1)).unwrap();
    b.save().unwrap();
    b.sync();
    assert_eq!(std::fs::metadata(&journal).unwrap().len(), 0);
    let (back, report) = Blocklist::load(100, &path);
    assert_eq!(report.replayed, 0);
    assert_eq!(back.len(), 2);
}

/// With a journal, per-block persistence is one appended record (two with an eviction): the
/// snapshot is rewritten only at compaction, when the journal is twice the live state.
#[test]
fn persistence_appends_per_block_and_compacts_rarely() {
    let dir = state_dir();
    let path = dir.path().join("blocklist.json");
    let mut b = Blocklist::new(100, Some(path.clone()));
    for i in 0..5_000u32 {
        let ip = std::net::Ipv4Addr::from(0xC612_0000 + i);
        b.add(
            &alert_req(&ip.to_string(), Evidence::Verified),
            0,
            t(i64::from(i)),
        )
        .unwrap();
        b.sync();
        b.compact_if_due();
    }
    assert!(b.take_error().is_none());
    // 100 adds alone, then 4,900 adds each with an eviction: 9,900 records; a compaction at
    // every 4,096 records.
    assert_eq!(b.snapshots_written(), 2);
    assert_eq!(b.journal_records(), 9_900 - 2 * 4_096);
    drop(b);
    let (back, report) = Blocklist::load(100, &path);
    assert!(report.warnings.is_empty());
    assert_eq!(back.len(), 100);
    assert!(
        back.get(&"198.18.19.135".parse().unwrap()).is_some(),
        "the last block"
    );
}
