//! Table-driven tests: every fixture under `tests/fixtures/` parses to exactly the listed packages.

// Helpers outside #[test] functions unwrap too; a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use ironpost_sbom_scanner::{Ecosystem, Package, parse_lockfile};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// `name version source-kind [flags]`, one line per package.
fn render(p: &Package) -> String {
    let mut s = format!("{} {} {}", p.name, p.version, p.source.kind());
    for (on, flag) in [
        (p.dev, "dev"),
        (p.optional, "optional"),
        (p.bundled, "bundled"),
        (p.indirect, "indirect"),
    ] {
        if on {
            s.push(' ');
            s.push_str(flag);
        }
    }
    s
}

fn check(rel: &str, ecosystem: Ecosystem, want: &[&str]) -> Vec<Package> {
    let path = fixture(rel);
    let pkgs = parse_lockfile(&path).unwrap_or_else(|e| panic!("{rel}: {e:#?}"));
    let got: Vec<String> = pkgs.iter().map(render).collect();
    let mut want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    want.sort();
    assert_eq!(got_sorted, want, "{rel}: got\n{}", got.join("\n"));
    for p in &pkgs {
        assert_eq!(p.ecosystem, ecosystem, "{rel}: {}", p.name);
        assert_eq!(&*p.lockfile, path);
    }
    pkgs
}

fn find<'a>(pkgs: &'a [Package], name: &str, version: &str) -> &'a Package {
    pkgs.iter()
        .find(|p| p.name == name && p.version == version)
        .unwrap_or_else(|| panic!("{name}@{version} missing"))
}

fn deps(pkgs: &[Package], name: &str, version: &str) -> Vec<String> {
    find(pkgs, name, version)
        .dependencies
        .clone()
        .expect("dependencies recorded")
}

#[test]
fn cargo_v1_root_and_metadata_checksums() {
    let pkgs = check(
        "cargo/v1/Cargo.lock",
        Ecosystem::CratesIo,
        &[
            "app 0.1.0 local",
            "itoa 0.4.8 registry",
            "itoa 1.0.1 registry",
            "local-helper 0.2.0 local",
        ],
    );
    assert_eq!(
        find(&pkgs, "itoa", "0.4.8").checksums[0].hex,
        "b71991ff56294aa922b450139ee08b3bfc70982c6b2c7562771375cf73542dd4"
    );
    assert!(
        find(&pkgs, "itoa", "1.0.1").checksums.is_empty(),
        "`<none>` is no checksum"
    );
    assert_eq!(
        deps(&pkgs, "app", "0.1.0"),
        [
            "pkg:cargo/itoa@0.4.8",
            "pkg:cargo/itoa@1.0.1",
            "pkg:cargo/local-helper@0.2.0"
        ]
    );
}

#[test]
fn cargo_v2_two_versions_of_one_crate() {
    let pkgs = check(
        "cargo/v2/Cargo.lock",
        Ecosystem::CratesIo,
        &[
            "app 0.1.0 local",
            "rand 0.7.3 registry",
            "rand 0.8.5 registry",
            "serde 1.0.130 registry",
        ],
    );
    assert_eq!(
        deps(&pkgs, "app", "0.1.0"),
        [
            "pkg:cargo/rand@0.7.3",
            "pkg:cargo/rand@0.8.5",
            "pkg:cargo/serde@1.0.130"
        ]
    );
}

#[test]
fn cargo_v3_git_path_and_private_registry() {
    let pkgs = check(
        "cargo/v3/Cargo.lock",
        Ecosystem::CratesIo,
        &[
            "app 0.1.0 local",
            "gitdep 0.3.0 git",
            "internal 1.2.0 registry",
            "pathdep 0.1.0 local",
        ],
    );
    let git = find(&pkgs, "gitdep", "0.3.0");
    assert_eq!(
        git.source,
        ironpost_sbom_scanner::Source::Git {
            url: "https://github.com/example/gitdep".into(),
            rev: Some("0123abcdef0123abcdef0123abcdef0123abcdef".into())
        }
    );
    assert!(!git.is_registry());
    assert_eq!(
        find(&pkgs, "internal", "1.2.0").purl(),
        "pkg:cargo/internal@1.2.0?repository_url=https%3A%2F%2Fcrates.example.com%2Findex"
    );
    assert_eq!(deps(&pkgs, "app", "0.1.0").len(), 3);
}

#[test]
fn cargo_v4_sparse_registry_and_duplicate_entries() {
    let pkgs = check(
        "cargo/v4/Cargo.lock",
        Ecosystem::CratesIo,
        &[
            "anyhow 1.0.86 registry",
            "app 0.1.0 local",
            "branchy 0.1.0 git",
        ],
    );
    assert!(find(&pkgs, "anyhow", "1.0.86").is_registry());
    assert_eq!(
        find(&pkgs, "anyhow", "1.0.86").purl(),
        "pkg:cargo/anyhow@1.0.86"
    );
    assert_eq!(
        deps(&pkgs, "app", "0.1.0").len(),
        2,
        "the duplicated anyhow still resolves"
    );
}

#[test]
fn npm_v1_nesting_aliases_git_and_flags() {
    let pkgs = check(
        "npm/v1/package-lock.json",
        Ecosystem::Npm,
        &[
            "@types/node 14.18.63 registry dev",
            "debug 4.3.4 registry",
            "fsevents 2.3.3 registry optional",
            "lodash 3.10.1 registry",
            "ms 2.1.2 registry",
            "ms 2.1.3 registry",
            "mytool 8a6f6b1c1d1e1f1a1b1c1d1e1f1a1b1c1d1e1f1a git",
            "wrapped 1.0.0 registry bundled",
        ],
    );
    // The nested ms wins for debug; mytool sees the top-level one.
    assert_eq!(deps(&pkgs, "debug", "4.3.4"), ["pkg:npm/ms@2.1.2"]);
    assert_eq!(
        deps(&pkgs, "mytool", "8a6f6b1c1d1e1f1a1b1c1d1e1f1a1b1c1d1e1f1a"),
        ["pkg:npm/ms@2.1.3", "pkg:npm/wrapped@1.0.0"]
    );
    assert_eq!(
        find(&pkgs, "@types/node", "14.18.63").purl(),
        "pkg:npm/%40types/node@14.18.63"
    );
    assert_eq!(
        find(&pkgs, "lodash", "3.10.1").checksums[0].alg,
        ironpost_sbom_scanner::HashAlg::Sha1
    );
}

#[test]
fn npm_v2_prefers_packages_map() {
    check(
        "npm/v2/package-lock.json",
        Ecosystem::Npm,
        &["ms 2.1.3 registry"],
    );
}

#[test]
fn npm_v3_paths_aliases_links_and_flags() {
    let pkgs = check(
        "npm/v3/package-lock.json",
        Ecosystem::Npm,
        &[
            "@babel/code-frame 7.22.13 registry",
            "@mono/utils 0.5.0 workspace",
            "chalk 2.4.2 registry",
            "chalk 4.1.2 registry dev",
            "fsevents 2.3.3 registry dev optional",
            "gitdep 3.0.0 git",
            "inner 0.1.0 registry dev bundled",
            "jest-thing 1.0.0 registry dev",
            "ms 2.0.0 registry",
            "private-lib 1.0.0 registry",
            "tarball-dep 0.0.1 url",
            "web 0.1.0 workspace",
        ],
    );
    assert_eq!(
        deps(&pkgs, "@babel/code-frame", "7.22.13"),
        ["pkg:npm/chalk@2.4.2"]
    );
    assert_eq!(
        deps(&pkgs, "web", "0.1.0"),
        ["pkg:npm/%40mono/utils@0.5.0"],
        "link followed"
    );
    assert_eq!(
        find(&pkgs, "private-lib", "1.0.0").source,
        ironpost_sbom_scanner::Source::Registry {
            url: Some("https://npm.example.com".into())
        }
    );
    assert_eq!(find(&pkgs, "chalk", "2.4.2").checksums[0].hex.len(), 128);
}

#[test]
fn yarn_classic() {
    let pkgs = check(
        "yarn/classic/yarn.lock",
        Ecosystem::Npm,
        &[
            "@babel/code-frame 7.12.13 registry",
            "@babel/highlight 7.13.10 registry",
            "fsevents 2.3.2 registry",
            "js-tokens 2.0.0 registry",
            "js-tokens 3.0.2 registry",
            "js-tokens 4.0.0 registry",
            "local 0.0.1 path",
            "mylib 1.0.0 git",
        ],
    );
    let frame = find(&pkgs, "@babel/code-frame", "7.12.13");
    assert_eq!(
        frame.checksums.len(),
        2,
        "sha1 from the URL fragment and sha512 integrity"
    );
    assert_eq!(
        deps(&pkgs, "@babel/code-frame", "7.12.13"),
        ["pkg:npm/%40babel/highlight@7.13.10"]
    );
    assert_eq!(
        deps(&pkgs, "fsevents", "2.3.2"),
        ["pkg:npm/js-tokens@4.0.0"]
    );
}

#[test]
fn yarn_berry_workspaces_patches_and_aliases() {
    let pkgs = check(
        "yarn/berry/yarn.lock",
        Ecosystem::Npm,
        &[
            "@babel/code-frame 7.12.13 registry",
            "@mono/ui 0.0.0-use.local workspace",
            "js-tokens 2.0.0 registry",
            "js-tokens 3.0.2 registry",
            "js-tokens 4.0.0 registry",
            "linked 0.0.0-use.local path",
            "mylib 1.0.0 git",
            "resolve 1.22.8 registry",
        ],
    );
    assert_eq!(
        deps(&pkgs, "@mono/ui", "0.0.0-use.local"),
        ["pkg:npm/js-tokens@3.0.2", "pkg:npm/resolve@1.22.8"]
    );
    assert_eq!(
        find(&pkgs, "linked", "0.0.0-use.local").source,
        ironpost_sbom_scanner::Source::Path("../linked".into())
    );
}

#[test]
fn pnpm_v5_peer_suffixes_merge() {
    let pkgs = check(
        "pnpm/v5/pnpm-lock.yaml",
        Ecosystem::Npm,
        &[
            "@babel/core 7.20.5 registry",
            "gitpkg 1.0.0 git",
            "jest 29.3.1 registry dev optional",
            "react 18.2.0 registry",
            "react 18.3.0 registry",
            "react-dom 18.2.0 registry",
        ],
    );
    assert_eq!(
        deps(&pkgs, "react-dom", "18.2.0"),
        ["pkg:npm/react@18.2.0", "pkg:npm/react@18.3.0"]
    );
}

#[test]
fn pnpm_v6_keys_and_aliases() {
    let pkgs = check(
        "pnpm/v6/pnpm-lock.yaml",
        Ecosystem::Npm,
        &[
            "@tanstack/react-query 4.29.5 registry",
            "fsevents 2.3.2 registry dev optional",
            "react 18.2.0 registry",
            "string-width 4.2.3 registry",
            "typescript 5.0.4 registry dev",
        ],
    );
    assert_eq!(
        deps(&pkgs, "@tanstack/react-query", "4.29.5"),
        ["pkg:npm/react@18.2.0"]
    );
}

#[test]
fn pnpm_v9_snapshots_and_dev_from_importers() {
    let pkgs = check(
        "pnpm/v9/pnpm-lock.yaml",
        Ecosystem::Npm,
        &[
            "@tanstack/react-query 4.29.5 registry",
            "gitpkg 1.0.0 git",
            "react 18.2.0 registry",
            "react 18.3.1 registry",
            "typescript 5.0.4 registry dev",
            "vitest 1.0.0 registry dev",
        ],
    );
    assert_eq!(
        deps(&pkgs, "@tanstack/react-query", "4.29.5"),
        ["pkg:npm/react@18.2.0", "pkg:npm/react@18.3.1"]
    );
}

#[test]
fn requirements_only_pins() {
    let pkgs = check(
        "pip/requirements.txt",
        Ecosystem::PyPI,
        &[
            "django 4.2.7 registry",
            "requests 2.31.0 registry",
            "typing-extensions 4.8.0 registry",
            "zope-interface 6.1 registry",
        ],
    );
    assert_eq!(find(&pkgs, "django", "4.2.7").checksums.len(), 2);
    assert_eq!(
        find(&pkgs, "zope-interface", "6.1").purl(),
        "pkg:pypi/zope-interface@6.1"
    );
    assert!(
        find(&pkgs, "requests", "2.31.0").dependencies.is_none(),
        "pip records no graph"
    );
}

#[test]
fn poetry_v2_sources() {
    let pkgs = check(
        "poetry/v2/poetry.lock",
        Ecosystem::PyPI,
        &[
            "certifi 2023.11.17 registry",
            "internal-tool 1.0.0 registry",
            "localpkg 0.1.0 path",
            "mylib 0.3.0 git optional",
            "requests 2.31.0 registry",
        ],
    );
    assert_eq!(find(&pkgs, "certifi", "2023.11.17").checksums.len(), 2);
    assert_eq!(
        deps(&pkgs, "requests", "2.31.0"),
        ["pkg:pypi/certifi@2023.11.17"]
    );
}

#[test]
fn poetry_v1_categories_and_metadata_files() {
    let pkgs = check(
        "poetry/v1/poetry.lock",
        Ecosystem::PyPI,
        &[
            "pluggy 1.3.0 registry dev",
            "pytest 7.4.3 registry dev",
            "six 1.16.0 registry",
        ],
    );
    assert_eq!(find(&pkgs, "six", "1.16.0").checksums.len(), 1);
}

#[test]
fn uv_sources_and_dev_only_graph() {
    let pkgs = check(
        "uv/uv.lock",
        Ecosystem::PyPI,
        &[
            "anyio 4.4.0 registry",
            "gitlib 0.2.0 git",
            "idna 3.7 registry",
            "iniconfig 2.0.0 registry dev",
            "myproject 0.1.0 path",
            "pytest 8.2.2 registry dev",
            "sniffio 1.3.1 registry",
        ],
    );
    assert_eq!(find(&pkgs, "anyio", "4.4.0").checksums.len(), 2);
}

#[test]
fn go_mod_requires_indirect_and_replaces() {
    let pkgs = check(
        "go/mod/go.mod",
        Ecosystem::Go,
        &[
            "github.com/Azure/go-autorest v14.2.0+incompatible registry indirect",
            "github.com/google/uuid v1.4.0 registry",
            "github.com/me/lib v0.9.1 registry",
            "github.com/old/lib v1.2.0 path",
            "github.com/quoted/mod v1.0.0 registry",
            "github.com/single/line v0.1.0 registry",
            "golang.org/x/net v0.17.0 registry indirect",
        ],
    );
    assert_eq!(
        find(&pkgs, "golang.org/x/net", "v0.17.0").purl(),
        "pkg:golang/golang.org/x/net@v0.17.0"
    );
}

#[test]
fn go_sum_skips_go_mod_only_modules() {
    check(
        "go/sum/go.sum",
        Ecosystem::Go,
        &[
            "github.com/google/uuid v1.3.0 registry",
            "github.com/google/uuid v1.4.0 registry",
        ],
    );
}
