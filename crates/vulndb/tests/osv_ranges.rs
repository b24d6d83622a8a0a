//! OSV range evaluation through the whole path (import → open → match) with hand-written OSV
//! records: every event kind, each ecosystem (crates.io, npm, PyPI, Go), explicit version lists,
//! withdrawn advisories, GIT ranges, ecosystem and registry checks.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns: a panic is the failure report

use ironpost_core::Severity;
use ironpost_vulndb::Db;

/// Writes each record to its own file, imports the directory and opens the database.
fn db_of(records: &[&str]) -> (tempfile::TempDir, Db) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    for (i, r) in records.iter().enumerate() {
        std::fs::write(src.join(format!("r{i}.json")), r).unwrap();
    }
    let dbdir = tmp.path().join("db");
    let report = Db::import(&dbdir, &src).unwrap();
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    (tmp, Db::open(&dbdir).unwrap())
}

/// One advisory `id` for `name` in `eco` with the given `ranges` and `versions` JSON.
fn record(id: &str, eco: &str, name: &str, ranges: &str, versions: &str) -> String {
    format!(
        r#"{{"id":"{id}","modified":"2024-01-01T00:00:00Z","unknown_field":{{"x":1}},
        "affected":[{{"package":{{"ecosystem":"{eco}","name":"{name}"}},"ranges":{ranges},"versions":{versions}}}]}}"#
    )
}

fn check(db: &Db, eco: &str, name: &str, cases: &[(&str, bool)]) {
    for (version, want) in cases {
        let got = !db.matches(eco, name, version, true).is_empty();
        assert_eq!(got, *want, "{eco} {name} {version}");
    }
}

#[test]
fn crates_io_introduced_fixed_last_affected_and_prereleases() {
    let r = record(
        "T-1",
        "crates.io",
        "demo",
        r#"[{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"fixed":"1.2.0"},
             {"introduced":"2.0.0-alpha.1"},{"last_affected":"2.0.0-beta.3"}]}]"#,
        "[]",
    );
    let (_t, db) = db_of(&[&r]);
    check(
        &db,
        "crates.io",
        "demo",
        &[
            ("0.9.9", false),
            ("1.0.0-rc.1", false),
            ("1.0.0", true),
            ("1.1.9", true),
            ("1.2.0-alpha.1", true),
            ("1.2.0", false),
            ("1.9.0", false),
            ("2.0.0-alpha.0", false),
            ("2.0.0-alpha.1", true),
            ("2.0.0-beta.3", true),
            ("2.0.0-beta.3+build", true),
            ("2.0.0-beta.4", false),
            ("2.0.0", false),
            ("not-a-version", false),
        ],
    );
}

#[test]
fn events_are_sorted_before_evaluation_and_zero_is_lowest() {
    let unsorted = record(
        "T-2",
        "crates.io",
        "unsorted",
        r#"[{"type":"SEMVER","events":[{"fixed":"1.5.0"},{"introduced":"1.0.0"}]}]"#,
        "[]",
    );
    let zero = record(
        "T-3",
        "crates.io",
        "zero",
        r#"[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"0.3.0"}]}]"#,
        "[]",
    );
    let (_t, db) = db_of(&[&unsorted, &zero]);
    check(
        &db,
        "crates.io",
        "unsorted",
        &[("0.9.0", false), ("1.2.0", true), ("1.5.0", false)],
    );
    check(
        &db,
        "crates.io",
        "zero",
        &[("0.0.0-0", true), ("0.2.9", true), ("0.3.0", false)],
    );
}

#[test]
fn limit_bounds_the_range_and_star_is_unbounded() {
    let limited = record(
        "T-4",
        "crates.io",
        "limited",
        r#"[{"type":"SEMVER","events":[{"introduced":"0"},{"limit":"2.0.0"}]}]"#,
        "[]",
    );
    let star = record(
        "T-5",
        "crates.io",
        "star",
        r#"[{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"limit":"*"}]}]"#,
        "[]",
    );
    let (_t, db) = db_of(&[&limited, &star]);
    check(
        &db,
        "crates.io",
        "limited",
        &[
            ("1.9.9", true),
            ("2.0.0-rc.1", true),
            ("2.0.0", false),
            ("3.0.0", false),
        ],
    );
    check(
        &db,
        "crates.io",
        "star",
        &[("0.9.0", false), ("1.0.0", true), ("99.0.0", true)],
    );
}

#[test]
fn npm_ranges_prereleases_and_explicit_versions() {
    let lodash = record(
        "GHSA-npm-1",
        "npm",
        "lodash",
        r#"[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"4.17.21"}]}]"#,
        "[]",
    );
    let minimist = record(
        "GHSA-npm-2",
        "npm",
        "minimist",
        r#"[{"type":"SEMVER","events":[{"introduced":"2.0.0"},{"last_affected":"2.3.4"}]}]"#,
        "[]",
    );
    let scoped = record(
        "GHSA-npm-3",
        "npm",
        "@babel/traverse",
        "[]",
        r#"["7.23.1","7.22.0"]"#,
    );
    let (_t, db) = db_of(&[&lodash, &minimist, &scoped]);
    check(
        &db,
        "npm",
        "lodash",
        &[
            ("1.0.0", true),
            ("4.17.20", true),
            ("4.17.21-beta.1", true),
            ("v4.17.20", true),
            ("4.17.21", false),
            ("5.0.0", false),
        ],
    );
    check(
        &db,
        "npm",
        "minimist",
        &[
            ("1.9.9", false),
            ("2.0.0-rc.1", false),
            ("2.0.0", true),
            ("2.3.4", true),
            ("2.3.5-0", false),
            ("2.3.5", false),
        ],
    );
    check(
        &db,
        "npm",
        "@babel/traverse",
        &[
            ("7.23.1", true),
            ("7.22.0", true),
            ("7.23.2", false),
            ("7.23.0", false),
        ],
    );
    // npm names are case-sensitive.
    check(&db, "npm", "Lodash", &[("4.17.20", false)]);
}

#[test]
fn pypi_uses_pep440_and_normalised_names() {
    let django = record(
        "PYSEC-1",
        "PyPI",
        "Django",
        r#"[{"type":"ECOSYSTEM","events":[{"introduced":"4.0"},{"fixed":"4.0.2"},
             {"introduced":"4.1a1"},{"fixed":"4.1.1"}]}]"#,
        "[]",
    );
    let requests = record(
        "PYSEC-2",
        "PyPI",
        "requests",
        r#"[{"type":"ECOSYSTEM","events":[{"introduced":"2.1"},{"last_affected":"2.31.0"}]}]"#,
        "[]",
    );
    let limited = record(
        "PYSEC-3",
        "PyPI",
        "zope.interface",
        r#"[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"limit":"2.0"}]}]"#,
        "[]",
    );
    let (_t, db) = db_of(&[&django, &requests, &limited]);
    check(
        &db,
        "PyPI",
        "django",
        &[
            ("3.2.99", false),
            ("4.0", true),
            ("4.0.0", true),
            ("4.0.1", true),
            ("4.0.2rc1", true),
            ("4.0.2", false),
            ("4.0.2.post1", false),
            ("4.1.dev0", false),
            ("4.1a1", true),
            ("4.1rc1", true),
            ("4.1", true),
            ("4.1.1", false),
        ],
    );
    check(
        &db,
        "PyPI",
        "Requests",
        &[
            ("2.0.9", false),
            ("2.1", true),
            ("2.31.0", true),
            ("2.31.0.post1", false),
            ("2.31.1", false),
        ],
    );
    check(
        &db,
        "PyPI",
        "Zope_Interface",
        &[("1.5", true), ("2.0a1", true), ("2.0", false)],
    );
}

#[test]
fn go_modules_with_pseudo_versions_and_incompatible() {
    let crypto = record(
        "GO-1",
        "Go",
        "golang.org/x/crypto",
        r#"[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"0.17.0"}]}]"#,
        "[]",
    );
    let docker = record(
        "GO-2",
        "Go",
        "github.com/docker/docker",
        r#"[{"type":"SEMVER","events":[{"introduced":"20.10.0"},{"fixed":"20.10.27"}]}]"#,
        "[]",
    );
    let (_t, db) = db_of(&[&crypto, &docker]);
    check(
        &db,
        "Go",
        "golang.org/x/crypto",
        &[
            ("v0.16.0", true),
            ("v0.0.0-20231218163308-9d2ee975ef9f", true),
            ("v0.16.1-0.20231218163308-9d2ee975ef9f", true),
            ("v0.17.0", false),
            ("v0.17.1-0.20240101000000-aaaaaaaaaaaa", false),
        ],
    );
    check(
        &db,
        "Go",
        "github.com/docker/docker",
        &[
            ("v19.3.15+incompatible", false),
            ("v20.10.26+incompatible", true),
            ("v20.10.27+incompatible", false),
        ],
    );
}

#[test]
fn withdrawn_git_ecosystem_and_registry_rules() {
    let withdrawn = r#"{"id":"W-1","modified":"2024-01-01T00:00:00Z","withdrawn":"2024-02-01T00:00:00Z",
        "affected":[{"package":{"ecosystem":"crates.io","name":"gone"},
        "ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}"#;
    let git_only = record(
        "G-1",
        "crates.io",
        "gitonly",
        r#"[{"type":"GIT","repo":"https://example.invalid/r","events":[{"introduced":"0"},{"fixed":"abc123"}]}]"#,
        "[]",
    );
    let shared = record(
        "S-1",
        "crates.io",
        "shared-name",
        r#"[{"type":"SEMVER","events":[{"introduced":"0"}]}]"#,
        "[]",
    );
    let (_t, db) = db_of(&[withdrawn, &git_only, &shared]);
    assert!(db.matches("crates.io", "gone", "1.0.0", true).is_empty());
    assert_eq!(db.status().withdrawn, 1);
    assert!(db.matches("crates.io", "gitonly", "1.0.0", true).is_empty());
    assert_eq!(
        db.matches("crates.io", "shared-name", "1.0.0", true).len(),
        1
    );
    // Same name, other ecosystem: no match; git/path dependency: no match.
    assert!(db.matches("npm", "shared-name", "1.0.0", true).is_empty());
    assert!(
        db.matches("crates.io", "shared-name", "1.0.0", false)
            .is_empty()
    );
    // The ecosystem name is exact.
    assert!(
        db.matches("Crates.io", "shared-name", "1.0.0", true)
            .is_empty()
    );
}

#[test]
fn one_advisory_many_ecosystems_and_database_severity() {
    let ghsa = r#"{"id":"GHSA-xxxx-yyyy-zzzz","modified":"2024-01-01T00:00:00Z",
        "aliases":["CVE-2024-0001"],"summary":"two registries",
        "database_specific":{"severity":"MODERATE"},
        "affected":[
          {"package":{"ecosystem":"npm","name":"dual"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0.0"}]}]},
          {"package":{"ecosystem":"PyPI","name":"dual"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0"}]}]},
          {"package":{"ecosystem":"PyPI","name":"dual"},"versions":["1.0"]}
        ]}"#;
    let (_t, db) = db_of(&[ghsa]);
    let m = db.matches("npm", "dual", "1.5.0", true);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].advisory.aliases, ["CVE-2024-0001"]);
    assert_eq!(m[0].advisory.severity_level(), Some(Severity::Medium));
    assert!(db.matches("npm", "dual", "2.0.0", true).is_empty());
    // Two PyPI entries match 1.0: the advisory is reported once.
    assert_eq!(db.matches("PyPI", "dual", "1.0", true).len(), 1);
    assert_eq!(db.matches("PyPI", "dual", "2.5", true).len(), 1);
    assert!(db.matches("PyPI", "dual", "3.0", true).is_empty());
    let status = db.status();
    assert_eq!(status.by_ecosystem["npm"], 1);
    assert_eq!(status.by_ecosystem["PyPI"], 1);
}

#[test]
fn cvss_severity_prefers_v4_and_scores_v3() {
    let r = r#"{"id":"C-1","modified":"2024-01-01T00:00:00Z",
        "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],
        "affected":[{"package":{"ecosystem":"crates.io","name":"c1"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}"#;
    let both = r#"{"id":"C-2","modified":"2024-01-01T00:00:00Z",
        "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"},
                    {"type":"CVSS_V4","score":"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}],
        "affected":[{"package":{"ecosystem":"crates.io","name":"c2"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}"#;
    let (_t, db) = db_of(&[r, both]);
    let s1 = db.get("C-1").unwrap().severity.clone().unwrap();
    assert_eq!((s1.score, s1.level), (Some(7.5), Severity::High));
    let s2 = db.get("C-2").unwrap().severity.clone().unwrap();
    assert_eq!((s2.score, s2.level), (Some(9.3), Severity::Critical));
}
