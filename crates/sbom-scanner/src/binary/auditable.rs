//! `cargo auditable`'s record of a Rust binary's dependency tree: the ELF section `.dep-v0`,
//! zlib-compressed JSON in the format of the `auditable-serde` crate
//! (<https://github.com/rust-secure-code/cargo-auditable>):
//! `{"packages":[{"name","version","source","kind","dependencies":[index…],"root"}]}`, where
//! `source` is `crates.io`, `git`, `local`, `registry` (another registry) or another string,
//! `kind` is `runtime` (the default, often omitted) or `build`, and `dependencies` index into
//! `packages`.
//!
//! Reported: the crates.io crates, with their dependencies (the crates.io ones) as package ids.
//! Build-time crates are kept (they ran during the build). The root crate and crates from git,
//! local paths or other registries are skipped and said so: the advisories this scanner matches
//! name crates.io crates. Decompression stops at [`MAX_JSON`] bytes, as `auditable-info` does.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use super::{BinaryKind, BinaryPackages, Elf, invalid};
use crate::error::{Error, MAX_PACKAGES};
use crate::package::{Ecosystem, Package, Skipped, Source};

/// Largest decompressed JSON accepted (`auditable-info`'s default limit).
pub const MAX_JSON: u64 = 8 * 1024 * 1024;
/// Longest name, version or source string kept.
const MAX_VALUE: usize = 512;

#[derive(Deserialize)]
struct VersionInfo {
    packages: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    version: String,
    source: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    dependencies: Vec<usize>,
    #[serde(default)]
    root: bool,
}

/// The crates of a binary with a `.dep-v0` section, `None` without one.
pub(super) fn read(path: &Path, elf: &Elf<'_>) -> Result<Option<BinaryPackages>, Error> {
    let Some(compressed) = elf.section(".dep-v0") else {
        return Ok(None);
    };
    parse_compressed(path, compressed).map(Some)
}

/// Decompresses and parses the section's bytes.
pub(crate) fn parse_compressed(path: &Path, compressed: &[u8]) -> Result<BinaryPackages, Error> {
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(compressed)
        .take(MAX_JSON + 1)
        .read_to_end(&mut json)
        .map_err(|e| invalid(path, format!(".dep-v0: not zlib data ({e})")))?;
    if json.len() as u64 > MAX_JSON {
        return Err(invalid(
            path,
            format!(".dep-v0: decompresses to over {MAX_JSON} bytes"),
        ));
    }
    parse_json(path, &json)
}

/// Parses the decompressed JSON.
pub(crate) fn parse_json(path: &Path, json: &[u8]) -> Result<BinaryPackages, Error> {
    let info: VersionInfo = serde_json::from_slice(json).map_err(|source| Error::Json {
        path: path.to_owned(),
        line: None,
        source,
    })?;
    let n = info.packages.len();
    if n > MAX_PACKAGES {
        return Err(crate::lockfile::too_many(path));
    }
    let mut found = BinaryPackages {
        kind: BinaryKind::CargoAuditable,
        go_version: None,
        packages: Vec::new(),
        skipped: Vec::new(),
    };
    for (i, e) in info.packages.iter().enumerate() {
        let fields = [
            ("name", &e.name),
            ("version", &e.version),
            ("source", &e.source),
        ];
        for (field, value) in fields {
            if value.is_empty() || value.len() > MAX_VALUE {
                return Err(invalid(
                    path,
                    format!(".dep-v0: package {i}: {field} is empty or over {MAX_VALUE} bytes"),
                ));
            }
        }
        if let Some(&d) = e.dependencies.iter().find(|&&d| d >= n) {
            return Err(invalid(
                path,
                format!(
                    ".dep-v0: package {i} ({}): dependency index {d} out of range",
                    e.name
                ),
            ));
        }
        if let Some(kind) = &e.kind
            && kind != "runtime"
            && kind != "build"
        {
            return Err(invalid(
                path,
                format!(".dep-v0: package {i} ({}): unknown kind {kind:?}", e.name),
            ));
        }
    }
    let id = |e: &Entry| {
        Package::new(
            Ecosystem::CratesIo,
            &e.name,
            &e.version,
            Source::Registry { url: None },
        )
        .id()
    };
    // Ids are computed once per crate, not once per edge.
    let ids: Vec<Option<String>> = info
        .packages
        .iter()
        .map(|e| (e.source == "crates.io").then(|| id(e)))
        .collect();
    for (e, pkg_id) in info.packages.iter().zip(&ids) {
        if pkg_id.is_none() {
            found.skipped.push(Skipped {
                line: None,
                text: format!("{} {} ({})", e.name, e.version, e.source),
                reason: if e.root {
                    "the binary's own crate, not from crates.io"
                } else {
                    "crate not from crates.io: the advisories matched name crates.io crates"
                },
            });
            continue;
        }
        let mut p = Package::new(
            Ecosystem::CratesIo,
            &e.name,
            &e.version,
            Source::Registry { url: None },
        );
        p.dependencies = Some(
            e.dependencies
                .iter()
                .filter_map(|&d| ids[d].clone())
                .collect(),
        );
        found.packages.push(p);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<BinaryPackages, Error> {
        parse_json(Path::new("bin"), json.as_bytes())
    }

    #[test]
    fn crates_io_packages_with_dependencies() {
        let json = r#"{"packages":[
            {"name":"app","version":"0.1.0","source":"local","dependencies":[1,2],"root":true},
            {"name":"serde","version":"1.0.200","source":"crates.io","dependencies":[3]},
            {"name":"mine","version":"0.2.0","source":"git"},
            {"name":"cc","version":"1.0.90","source":"crates.io","kind":"build"}
        ],"format":1}"#;
        let f = parse(json).expect("parses");
        let got: Vec<_> = f
            .packages
            .iter()
            .map(|p| (p.purl(), p.dependencies.clone().unwrap_or_default()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "pkg:cargo/serde@1.0.200".to_owned(),
                    vec!["pkg:cargo/cc@1.0.90".to_owned()]
                ),
                ("pkg:cargo/cc@1.0.90".to_owned(), vec![]),
            ]
        );
        let skipped: Vec<_> = f.skipped.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(skipped, ["app 0.1.0 (local)", "mine 0.2.0 (git)"]);
    }

    #[test]
    fn errors() {
        for (json, want) in [
            (
                r#"{"packages":[{"name":"a","version":"1","source":"crates.io","dependencies":[1]}]}"#,
                "bin: .dep-v0: package 0 (a): dependency index 1 out of range",
            ),
            (
                r#"{"packages":[{"name":"","version":"1","source":"crates.io"}]}"#,
                "bin: .dep-v0: package 0: name is empty or over 512 bytes",
            ),
            (
                r#"{"packages":[{"name":"a","version":"1","source":"crates.io","kind":"dev"}]}"#,
                "bin: .dep-v0: package 0 (a): unknown kind \"dev\"",
            ),
            (r#"{"packages":{}}"#, "bin: invalid JSON"),
        ] {
            assert_eq!(parse(json).expect_err(json).to_string(), want);
        }
        let e = parse_compressed(Path::new("bin"), b"not zlib").expect_err("bad");
        assert!(
            e.to_string().starts_with("bin: .dep-v0: not zlib data"),
            "{e}"
        );
    }

    #[test]
    fn decompression_is_bounded() {
        use std::io::Write;
        // 9 MiB of spaces compresses to a few KiB.
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![b' '; 9 * 1024 * 1024]).expect("compress");
        let bomb = z.finish().expect("compress");
        assert!(bomb.len() < 64 * 1024);
        let e = parse_compressed(Path::new("bin"), &bomb).expect_err("too large");
        assert_eq!(
            e.to_string(),
            "bin: .dep-v0: decompresses to over 8388608 bytes"
        );
    }
}
