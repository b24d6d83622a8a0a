//! The real RustSec data in `testdata/rustsec/`: the native advisory-db and its OSV export import
//! to the same advisories, and packages just inside and just outside chosen advisories' ranges
//! yield exactly the expected ids.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns: a panic is the failure report

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use ironpost_vulndb::{Db, FindingKind, Informational, SourceKind};

/// In the OSV branch only: a stale duplicate of RUSTSEC-2025-0065 (same package, aliases and
/// range) that the advisory-db's main branch does not have.
const OSV_ONLY: &[&str] = &["RUSTSEC-2025-0000"];

fn data(dir: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/rustsec")
        .join(dir);
    assert!(p.is_dir(), "test data {} is missing", p.display());
    p
}

fn import(dir: &str) -> (tempfile::TempDir, Db) {
    let tmp = tempfile::tempdir().unwrap();
    let report = Db::import(tmp.path(), data(dir)).unwrap();
    assert!(report.errors.is_empty(), "{dir}: {:#?}", report.errors);
    assert!(report.notes.is_empty(), "{dir}: {:#?}", report.notes);
    let db = Db::open(tmp.path()).unwrap();
    (tmp, db)
}

/// Versions around every event of every advisory: the event itself, its neighbours in patch,
/// minor and major, and pre-releases of it.
fn sweep_versions(db: &Db, name: &str) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = [
        "0.0.0",
        "0.0.1",
        "0.1.0",
        "1.0.0",
        "1.0.0-alpha.1",
        "99.0.0",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    for adv in db.advisories() {
        for aff in adv.affected.iter().filter(|a| a.name == name) {
            for r in &aff.ranges {
                for ev in &r.events {
                    let v = ev.version();
                    out.insert(v.to_owned());
                    let core = v.split(['-', '+']).next().unwrap_or(v);
                    let nums: Vec<u64> = core.split('.').filter_map(|n| n.parse().ok()).collect();
                    if let [a, b, c] = nums[..] {
                        out.insert(format!("{a}.{b}.{}", c + 1));
                        out.insert(format!("{a}.{}.0", b + 1));
                        out.insert(format!("{}.0.0", a + 1));
                        out.insert(format!("{a}.{b}.{c}-rc.1"));
                        out.insert(format!("{a}.{b}.{c}-0"));
                        if c > 0 {
                            out.insert(format!("{a}.{b}.{}", c - 1));
                        }
                        if b > 0 {
                            out.insert(format!("{a}.{}.99", b - 1));
                        }
                    }
                }
            }
        }
    }
    out
}

#[test]
fn native_and_osv_imports_hold_the_same_advisories() {
    let (_n, native) = import("native");
    let (_o, osv) = import("osv");
    assert_eq!(
        native.status().sources[0].meta.kind,
        SourceKind::RustsecNative
    );
    assert_eq!(osv.status().sources[0].meta.kind, SourceKind::OsvDir);

    let native_ids: BTreeSet<&str> = native.advisories().iter().map(|a| a.id.as_str()).collect();
    let osv_ids: BTreeSet<&str> = osv
        .advisories()
        .iter()
        .map(|a| a.id.as_str())
        .filter(|id| !OSV_ONLY.contains(id))
        .collect();
    assert_eq!(native_ids.len(), 1205);
    assert_eq!(native_ids, osv_ids);

    let mut names = BTreeSet::new();
    for n in native.advisories() {
        let o = osv.get(&n.id).unwrap();
        let id = &n.id;
        let sorted = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>();
        assert_eq!(sorted(&n.aliases), sorted(&o.aliases), "{id} aliases");
        assert_eq!(n.severity, o.severity, "{id} severity");
        assert_eq!(n.informational, o.informational, "{id} informational");
        assert_eq!(
            n.withdrawn.is_some(),
            o.withdrawn.is_some(),
            "{id} withdrawn"
        );
        assert_eq!(n.summary, o.summary, "{id} summary");
        assert_eq!(n.url, o.url, "{id} url");
        assert_eq!(n.published, o.published, "{id} published");
        assert_eq!(n.affected.len(), 1, "{id}");
        assert_eq!(o.affected.len(), 1, "{id}");
        let (na, oa) = (&n.affected[0], &o.affected[0]);
        assert_eq!((&na.ecosystem, &na.name), (&oa.ecosystem, &oa.name), "{id}");
        // The conversion reproduces RustSec's export event for event.
        assert_eq!(na.ranges, oa.ranges, "{id} ranges");
        names.insert(na.name.clone());
    }

    // Same verdicts through the whole matching path, on a sweep around every range boundary.
    let mut checked = 0usize;
    for name in &names {
        for v in sweep_versions(&native, name) {
            let ids = |db: &Db| -> BTreeSet<String> {
                db.matches("crates.io", name, &v, true)
                    .iter()
                    .map(|m| m.advisory.id.clone())
                    .filter(|id| !OSV_ONLY.contains(&id.as_str()))
                    .collect()
            };
            assert_eq!(ids(&native), ids(&osv), "{name} {v}");
            checked += 1;
        }
    }
    assert!(checked > 10_000, "only {checked} verdicts compared");
}

fn expected_matches(db: &Db) {
    // (name, version, expected advisory ids): versions inside and just outside ranges.
    let cases: &[(&str, &str, &[&str])] = &[
        // patched = [">= 0.11.6, < 0.12.0", ">= 0.12.1"]
        ("lz4_flex", "0.11.5", &["RUSTSEC-2026-0041"]),
        ("lz4_flex", "0.11.6", &[]),
        ("lz4_flex", "0.11.99", &[]),
        ("lz4_flex", "0.12.0", &["RUSTSEC-2026-0041"]),
        ("lz4_flex", "0.12.1-rc.1", &["RUSTSEC-2026-0041"]),
        ("lz4_flex", "0.12.1", &[]),
        // 2020-0071: unaffected =0.2.0..=0.2.6, patched >= 0.2.23; 2026-0009: [0.3.6, 0.3.47)
        ("time", "0.1.40", &["RUSTSEC-2020-0071"]),
        ("time", "0.2.6", &[]),
        ("time", "0.2.7", &["RUSTSEC-2020-0071"]),
        ("time", "0.2.22", &["RUSTSEC-2020-0071"]),
        ("time", "0.2.23", &[]),
        ("time", "0.3.5", &[]),
        ("time", "0.3.6", &["RUSTSEC-2026-0009"]),
        ("time", "0.3.46", &["RUSTSEC-2026-0009"]),
        ("time", "0.3.47", &[]),
        // unaffected < 0.12, patched [0.12.3, 0.13.0) and >= 0.13.1
        ("tokio-rustls", "0.11.9", &[]),
        ("tokio-rustls", "0.12.0", &["RUSTSEC-2020-0019"]),
        ("tokio-rustls", "0.12.2", &["RUSTSEC-2020-0019"]),
        ("tokio-rustls", "0.12.3", &[]),
        ("tokio-rustls", "0.13.0", &["RUSTSEC-2020-0019"]),
        ("tokio-rustls", "0.13.1", &[]),
        (
            "matrix-sdk-base",
            "0.14.0",
            &["RUSTSEC-2025-0065", "RUSTSEC-2025-0135"],
        ),
        ("matrix-sdk-base", "0.14.1", &["RUSTSEC-2025-0135"]),
        ("matrix-sdk-base", "0.16.0", &[]),
        (
            "hyper",
            "0.13.9",
            &[
                "RUSTSEC-2021-0020",
                "RUSTSEC-2021-0078",
                "RUSTSEC-2021-0079",
                "RUSTSEC-2022-0022",
            ],
        ),
        (
            "hyper",
            "0.13.10",
            &[
                "RUSTSEC-2021-0078",
                "RUSTSEC-2021-0079",
                "RUSTSEC-2022-0022",
            ],
        ),
        (
            "hyper",
            "0.14.9",
            &[
                "RUSTSEC-2021-0078",
                "RUSTSEC-2021-0079",
                "RUSTSEC-2022-0022",
            ],
        ),
        ("hyper", "0.14.10", &["RUSTSEC-2022-0022"]),
        ("hyper", "0.14.12", &[]),
        ("smallvec", "1.6.0", &["RUSTSEC-2021-0003"]),
        ("smallvec", "1.6.1", &[]),
        ("badge", "0.3.0", &["RUSTSEC-2022-0057"]),
        // Withdrawn advisory (RUSTSEC-2022-0044, patched >= 1.0.0-alpha.1): never matches.
        ("markdown", "0.3.0", &[]),
        ("serde", "1.0.0", &[]),
    ];
    let mut got_all = BTreeMap::new();
    for (name, version, want) in cases {
        let mut got: Vec<&str> = db
            .matches("crates.io", name, version, true)
            .iter()
            .map(|m| m.advisory.id.as_str())
            .filter(|id| !OSV_ONLY.contains(id))
            .collect();
        got.sort_unstable();
        got_all.insert(format!("{name} {version}"), got.clone());
        assert_eq!(&got, want, "{name} {version}");
    }
    // A git or path dependency is not the crates.io package of the same name.
    assert!(db.matches("crates.io", "time", "0.2.7", false).is_empty());
    // The ecosystem must be the advisory's.
    assert!(db.matches("npm", "time", "0.2.7", true).is_empty());

    let kinds: BTreeMap<&str, FindingKind> = db
        .matches("crates.io", "hyper", "0.14.9", true)
        .iter()
        .chain(db.matches("crates.io", "badge", "0.3.0", true).iter())
        .map(|m| (m.advisory.id.as_str(), m.kind()))
        .collect();
    assert_eq!(kinds["RUSTSEC-2021-0078"], FindingKind::Vulnerability);
    assert_eq!(
        kinds["RUSTSEC-2022-0022"],
        FindingKind::Warning(Informational::Unsound)
    );
    assert_eq!(
        kinds["RUSTSEC-2022-0057"],
        FindingKind::Warning(Informational::Unmaintained)
    );
}

#[test]
fn lockfile_packages_match_exactly_the_expected_ids_native() {
    let (_t, db) = import("native");
    expected_matches(&db);
}

#[test]
fn lockfile_packages_match_exactly_the_expected_ids_osv() {
    let (_t, db) = import("osv");
    expected_matches(&db);
}

#[test]
fn severity_and_aliases_are_shown() {
    let (_t, db) = import("osv");
    let lz4 = db.get("RUSTSEC-2026-0041").unwrap();
    assert_eq!(lz4.aliases, ["CVE-2026-32829", "GHSA-vvp9-7p8x-rfvv"]);
    let sev = lz4.severity.as_ref().unwrap();
    assert_eq!(sev.source, ironpost_vulndb::ScoreSource::CvssV4);
    assert!(sev.vector.starts_with("CVSS:4.0/"));
    // Every CVSS vector in the database scores, and v3 scores agree with the `cvss` crate.
    let mut v3 = 0;
    for adv in db.advisories() {
        if let Some(s) = &adv.severity
            && s.vector.starts_with("CVSS:3")
        {
            let theirs: cvss::v3::Vector = s.vector.parse().unwrap();
            assert_eq!(s.score, Some(theirs.base_score().value()), "{}", adv.id);
            v3 += 1;
        }
    }
    assert!(v3 > 300, "{v3} v3 vectors");
    let status = db.status();
    assert_eq!(status.advisories, 1206);
    assert_eq!(status.withdrawn, 13);
    assert_eq!(status.by_ecosystem["crates.io"], 1206);
}
