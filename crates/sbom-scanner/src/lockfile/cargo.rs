//! `Cargo.lock`, versions 1 to 4.
//!
//! v1 keeps the root package in `[root]` and checksums in `[metadata]` as
//! `"checksum NAME VERSION (SOURCE)" = "HEX"`; later versions put `checksum` on the package.
//! Dependencies are `"name"`, `"name version"` or `"name version (source)"`, as precise as needed
//! to be unambiguous. Packages without `source` are workspace members or path dependencies.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::{Ctx, Parsed};
use crate::error::Error;
use crate::package::{Checksum, Ecosystem, HashAlg, Package, Source};

/// The lockfile as the TOML parser reads it.
#[derive(Deserialize)]
struct OwnedLock {
    version: Option<i64>,
    root: Option<OwnedEntry>,
    #[serde(default)]
    package: Vec<OwnedEntry>,
    #[serde(default)]
    metadata: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
struct OwnedEntry {
    name: String,
    version: String,
    source: Option<String>,
    checksum: Option<String>,
    #[serde(default)]
    dependencies: Vec<String>,
}

/// The parts of a lockfile the scanner uses, borrowed from the text where the fast path read it.
#[derive(Debug, Default, PartialEq)]
struct Lock<'a> {
    version: Option<i64>,
    /// `[root]` (v1) first, then every `[[package]]`, in file order.
    entries: Vec<Entry<'a>>,
    /// v1 `[metadata]` string values (`"checksum NAME VERSION (SOURCE)" = "HEX"`).
    metadata: HashMap<Cow<'a, str>, Cow<'a, str>>,
}

#[derive(Debug, Default, PartialEq)]
struct Entry<'a> {
    name: Cow<'a, str>,
    version: Cow<'a, str>,
    source: Option<Cow<'a, str>>,
    checksum: Option<Cow<'a, str>>,
    dependencies: Vec<Cow<'a, str>>,
}

impl From<OwnedLock> for Lock<'static> {
    fn from(l: OwnedLock) -> Self {
        let entry = |e: OwnedEntry| Entry {
            name: e.name.into(),
            version: e.version.into(),
            source: e.source.map(Cow::Owned),
            checksum: e.checksum.map(Cow::Owned),
            dependencies: e.dependencies.into_iter().map(Cow::Owned).collect(),
        };
        Lock {
            version: l.version,
            entries: l.root.into_iter().chain(l.package).map(entry).collect(),
            metadata: l
                .metadata
                .into_iter()
                .filter_map(|(k, v)| match v {
                    toml::Value::String(s) => Some((k.into(), s.into())),
                    _ => None,
                })
                .collect(),
        }
    }
}

const CRATES_IO: [&str; 2] = [
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
];

pub(super) fn parse(ctx: Ctx<'_>, text: &str) -> Result<Parsed, Error> {
    let lock = match fast(text) {
        Some(lock) => lock,
        None => Lock::from(ctx.toml::<OwnedLock>(text)?),
    };
    if let Some(v) = lock.version
        && !(1..=4).contains(&v)
    {
        return Err(ctx.invalid(None, format!("unsupported Cargo.lock version {v}")));
    }
    let entries = &lock.entries;

    let mut packages: Vec<Package> = entries
        .iter()
        .map(|e| {
            let mut p = Package::new(
                Ecosystem::CratesIo,
                &e.name,
                &e.version,
                source(e.source.as_deref()),
            );
            let sum = e.checksum.as_deref().or_else(|| {
                if lock.metadata.is_empty() {
                    return None;
                }
                let key = format!(
                    "checksum {} {} ({})",
                    e.name,
                    e.version,
                    e.source.as_deref().unwrap_or_default()
                );
                lock.metadata.get(key.as_str()).map(|v| &**v)
            });
            p.checksums
                .extend(sum.and_then(|s| Checksum::from_hex(HashAlg::Sha256, s)));
            p
        })
        .collect();

    if entries.iter().all(|e| e.dependencies.is_empty()) {
        for p in &mut packages {
            p.dependencies = Some(Vec::new());
        }
    } else {
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            by_name.entry(&e.name).or_default().push(i);
        }
        let ids: Vec<String> = packages.iter().map(Package::id).collect();
        for (i, e) in entries.iter().enumerate() {
            let deps = e
                .dependencies
                .iter()
                .filter_map(|d| resolve(d, entries, &by_name).map(|j| ids[j].clone()))
                .collect();
            packages[i].dependencies = Some(deps);
        }
    }
    Ok(Parsed {
        packages,
        skipped: Vec::new(),
    })
}

/// Reads a lockfile written the way Cargo writes it (`key = "string"` lines, multi-line
/// `dependencies` arrays, `[[package]]`, `[root]` and `[metadata]` headers, `version = N`, comments)
/// an order of magnitude faster than the TOML parser. `None` as soon as a line is anything else
/// (escapes, other keys or tables, inline arrays, a key twice, a missing name or version): the TOML
/// parser then reads the file and reports what is wrong with it. Where this returns a lock it is
/// the one the TOML parser returns (tested on mutated lockfiles).
fn fast(text: &str) -> Option<Lock<'_>> {
    if !plain(text) {
        return None;
    }
    #[derive(PartialEq)]
    enum Section {
        Top,
        Entry,
        Metadata,
    }
    let mut lock = Lock {
        // Cargo writes at least 64 bytes per package: enough room without counting them.
        entries: Vec::with_capacity(text.len() / 64 + 1),
        ..Lock::default()
    };
    let mut section = Section::Top;
    let mut seen_metadata = false;
    let mut cur: Option<(Entry<'_>, u8)> = None;
    // A line ends at `\n` or `\r\n` (`plain` made sure no other `\r` is left).
    let mut lines = text
        .split('\n')
        .map(|l| trim_blank_end(l.strip_suffix('\r').unwrap_or(l)));
    while let Some(line) = lines.next() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            if let Some((e, seen)) = cur.take() {
                lock.entries.push(complete(e, seen)?);
            }
            section = match line {
                "[[package]]" => {
                    cur = Some((Entry::default(), 0));
                    Section::Entry
                }
                // Before any package (the TOML parser puts it first wherever it is); a second
                // `[root]` finds the first one in `entries`.
                "[root]" if lock.entries.is_empty() => {
                    cur = Some((Entry::default(), 0));
                    Section::Entry
                }
                "[metadata]" if !seen_metadata => {
                    seen_metadata = true;
                    Section::Metadata
                }
                _ => return None,
            };
            continue;
        }
        match section {
            Section::Top => {
                let ("version", v) = key_value(line)? else {
                    return None;
                };
                let digits_ok = !v.is_empty()
                    && v.len() <= 9
                    && v.bytes().all(|b| b.is_ascii_digit())
                    && (v == "0" || !v.starts_with('0'));
                if lock.version.is_some() || !digits_ok {
                    return None;
                }
                lock.version = Some(v.parse().ok()?);
            }
            Section::Metadata => {
                let (key, rest) = basic_string_prefix(line)?;
                let value = basic_string(after_equals(rest)?)?;
                if lock.metadata.insert(key.into(), value.into()).is_some() {
                    return None;
                }
            }
            Section::Entry => {
                let (entry, seen) = cur.as_mut()?;
                let (key, v) = key_value(line)?;
                let bit = match key {
                    "name" => 1,
                    "version" => 2,
                    "source" => 4,
                    "checksum" => 8,
                    "dependencies" => 16,
                    _ => return None,
                };
                if *seen & bit != 0 {
                    return None;
                }
                *seen |= bit;
                match key {
                    "dependencies" => {
                        if v != "[" {
                            return None;
                        }
                        loop {
                            let item = lines.next()?.trim_start_matches([' ', '\t']);
                            if item == "]" {
                                break;
                            }
                            let dep = basic_string(item.strip_suffix(',')?)?;
                            entry.dependencies.push(dep.into());
                        }
                    }
                    _ => {
                        let s = Cow::Borrowed(basic_string(v)?);
                        match key {
                            "name" => entry.name = s,
                            "version" => entry.version = s,
                            "source" => entry.source = Some(s),
                            _ => entry.checksum = Some(s),
                        }
                    }
                }
            }
        }
    }
    if let Some((e, seen)) = cur.take() {
        lock.entries.push(complete(e, seen)?);
    }
    Some(lock)
}

/// The entry, if it has its required keys (name and version).
fn complete(e: Entry<'_>, seen: u8) -> Option<Entry<'_>> {
    (seen & 3 == 3).then_some(e)
}

/// Whether `text` is free of what the fast path does not handle anywhere: backslashes (escapes),
/// control characters (TOML forbids them in strings and comments, tab aside) and carriage returns
/// that do not end a line.
fn plain(text: &str) -> bool {
    // Or-ed without branches rather than `any`, so that the loop vectorises (ten times faster).
    let mut odd = 0u8;
    for &b in text.as_bytes() {
        let control = (b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r');
        odd |= u8::from(control | (b == 0x7f) | (b == b'\\'));
    }
    odd == 0
        && text
            .match_indices('\r')
            .all(|(i, _)| text.as_bytes().get(i + 1) == Some(&b'\n'))
}

/// `line` without trailing blanks.
fn trim_blank_end(line: &str) -> &str {
    let b = line.as_bytes();
    let mut end = b.len();
    while end > 0 && matches!(b[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    &line[..end]
}

/// `bare-key = value`, the value with the blanks before it removed (trailing ones are gone already).
fn key_value(line: &str) -> Option<(&str, &str)> {
    let end = line
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))?;
    let (key, rest) = line.split_at(end);
    (!key.is_empty()).then_some(())?;
    Some((key, after_equals(rest)?))
}

/// What follows `=` (blanks around it allowed), or `None` when the text does not start with one.
fn after_equals(rest: &str) -> Option<&str> {
    // Cargo writes ` = `.
    if let Some(v) = rest.strip_prefix(" = ")
        && !v.starts_with([' ', '\t'])
    {
        return Some(v);
    }
    let v = rest.trim_start_matches([' ', '\t']).strip_prefix('=')?;
    Some(v.trim_start_matches([' ', '\t']))
}

/// The content of a `"..."` string that makes up all of `s` (`plain` ruled out escapes).
fn basic_string(s: &str) -> Option<&str> {
    match basic_string_prefix(s)? {
        (content, "") => Some(content),
        _ => None,
    }
}

/// A leading `"..."` string and the text after it (`plain` ruled out escapes).
fn basic_string_prefix(s: &str) -> Option<(&str, &str)> {
    let body = s.strip_prefix('"')?;
    let end = body.find('"')?;
    Some((&body[..end], &body[end + 1..]))
}

/// Index of the entry a dependency string names, if exactly one matches.
fn resolve(dep: &str, entries: &[Entry<'_>], by_name: &HashMap<&str, Vec<usize>>) -> Option<usize> {
    let mut parts = dep.splitn(3, ' ');
    let name = parts.next()?;
    let version = parts.next();
    let source = parts
        .next()
        .map(|s| s.trim_start_matches('(').trim_end_matches(')'));
    let key = |i: usize| (&entries[i].version, &entries[i].source);
    let mut hits = by_name.get(name)?.iter().copied().filter(|&i| {
        version.is_none_or(|v| entries[i].version == v)
            && source.is_none_or(|s| entries[i].source.as_deref() == Some(s))
    });
    let first = hits.next()?;
    // A package listed twice is still one package.
    hits.all(|i| key(i) == key(first)).then_some(first)
}

fn source(s: Option<&str>) -> Source {
    let Some(s) = s else { return Source::Local };
    if CRATES_IO.contains(&s) {
        return Source::Registry { url: None };
    }
    if let Some(url) = s
        .strip_prefix("registry+")
        .or_else(|| s.strip_prefix("sparse+"))
    {
        return Source::Registry {
            url: Some(url.to_owned()),
        };
    }
    if let Some(rest) = s.strip_prefix("git+") {
        let (url, rev) = match rest.split_once('#') {
            Some((u, rev)) => (u, Some(rev.to_owned())),
            None => (rest, None),
        };
        let url = url.split_once('?').map_or(url, |(u, _)| u);
        return Source::Git {
            url: url.to_owned(),
            rev,
        };
    }
    if let Some(p) = s.strip_prefix("path+") {
        return Source::Path(p.to_owned());
    }
    Source::Url(s.to_owned())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const FIXTURES: [&str; 4] = [
        include_str!("../../tests/fixtures/cargo/v1/Cargo.lock"),
        include_str!("../../tests/fixtures/cargo/v2/Cargo.lock"),
        include_str!("../../tests/fixtures/cargo/v3/Cargo.lock"),
        include_str!("../../tests/fixtures/cargo/v4/Cargo.lock"),
    ];

    fn slow(text: &str) -> Option<Lock<'static>> {
        toml::from_str::<OwnedLock>(text).ok().map(Lock::from)
    }

    #[test]
    fn fast_path_reads_every_fixture_as_the_toml_parser_does() {
        for text in FIXTURES {
            let fast = fast(text).expect("the fast path reads what Cargo writes");
            assert_eq!(Some(fast), slow(text), "{text}");
        }
        let crlf = FIXTURES[1].replace('\n', "\r\n");
        assert_eq!(fast(&crlf), slow(&crlf));
        assert!(fast(&crlf).is_some());
    }

    #[test]
    fn fast_path_leaves_anything_else_to_the_toml_parser() {
        let cases = [
            // An escape, a literal string, an inline array, an unknown key, a quoted key.
            "[[package]]\nname = \"a\\u0062\"\nversion = \"1\"\n",
            "[[package]]\nname = 'a'\nversion = \"1\"\n",
            "[[package]]\nname = \"a\"\nversion = \"1\"\ndependencies = [\"b\"]\n",
            "[[package]]\nname = \"a\"\nversion = \"1\"\nreplace = \"b 1\"\n",
            "[[package]]\n\"name\" = \"a\"\nversion = \"1\"\n",
            // A key twice, a missing version, another table, [root] after packages.
            "[[package]]\nname = \"a\"\nname = \"b\"\nversion = \"1\"\n",
            "[[package]]\nname = \"a\"\n",
            "[[patch.unused]]\nname = \"a\"\nversion = \"1\"\n",
            "[[package]]\nname = \"a\"\nversion = \"1\"\n[root]\nname = \"r\"\nversion = \"1\"\n",
            // A trailing comment, a leading-zero version, an unterminated array.
            "version = 3 # three\n",
            "version = 03\n",
            "[[package]]\nname = \"a\"\nversion = \"1\"\ndependencies = [\n \"b\",\n",
            // A carriage return that does not end a line.
            "version = 3\n\r",
            "[[package]]\nname = \"a\"\n\rversion = \"1\"\n",
        ];
        for text in cases {
            assert_eq!(fast(text), None, "{text}");
        }
    }

    /// One edit of a lockfile: text inserted at a byte position or between lines, or a line copied or moved
    /// elsewhere, or a line deleted.
    #[derive(Debug, Clone)]
    enum Edit {
        Insert(usize, String),
        InsertAtLine(usize, String),
        CopyLine(usize, usize),
        MoveLine(usize, usize),
        DeleteLine(usize),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        let piece = prop::sample::select(vec![
            "\"",
            "\\",
            "[",
            "]",
            "[[",
            "=",
            "#",
            " ",
            "\t",
            "\n",
            "\r",
            "\r\n",
            ",",
            "'",
            "\u{1}",
            "x",
            "0",
            "name",
            "version",
            "source",
            "checksum",
            "dependencies",
            "metadata",
            "root",
            "package",
            "\n[[package]]\n",
            "\nversion = 3\n",
            " \"b 1.0.0\",\n",
            "\n]\n",
            "\nname = \"z\"\n",
            "\nversion = \"9.9.9\"\n",
            "\nchecksum = \"ab\"\n",
            "\ndependencies = [\n",
            "\n[root]\n",
            "\n[metadata]\n",
            "\n\"k\" = \"v\"\n",
            "\n[root]\nname = \"r\"\nversion = \"1\"\n",
            "\n[[package]]\nname = \"p\"\nversion = \"2\"\n",
        ]);
        let at = any::<prop::sample::Index>().prop_map(|i| i.index(1 << 20));
        prop_oneof![
            (at.clone(), prop::collection::vec(piece.clone(), 1..4))
                .prop_map(|(at, p)| Edit::Insert(at, p.concat())),
            (at.clone(), prop::collection::vec(piece, 1..3))
                .prop_map(|(at, p)| Edit::InsertAtLine(at, p.concat())),
            (at.clone(), at.clone()).prop_map(|(a, b)| Edit::CopyLine(a, b)),
            (at.clone(), at.clone()).prop_map(|(a, b)| Edit::MoveLine(a, b)),
            at.prop_map(Edit::DeleteLine),
        ]
    }

    fn apply(text: &str, e: &Edit) -> String {
        let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
        let n = lines.len().max(1);
        match e {
            Edit::Insert(at, piece) => {
                let mut text = text.to_owned();
                let mut at = at % (text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                text.insert_str(at, piece);
                return text;
            }
            Edit::InsertAtLine(at, piece) => {
                lines.insert(at % (n + 1), piece);
            }
            Edit::CopyLine(from, to) if !lines.is_empty() => {
                let l = lines[from % n];
                lines.insert(to % (n + 1), l);
            }
            Edit::MoveLine(from, to) if !lines.is_empty() => {
                let l = lines.remove(from % n);
                lines.insert(to % n, l);
            }
            Edit::DeleteLine(i) if !lines.is_empty() => {
                lines.remove(i % n);
            }
            _ => {}
        }
        lines.concat()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// Wherever the fast path returns a lock, the TOML parser accepts the text and returns the
        /// same lock.
        #[test]
        fn fast_path_agrees_with_the_toml_parser(
            fixture in 0usize..4,
            edits in prop::collection::vec(edit(), 1..5),
        ) {
            let mut text = FIXTURES[fixture].to_owned();
            for e in &edits {
                text = apply(&text, e);
            }
            if let Some(lock) = fast(&text) {
                prop_assert_eq!(Some(lock), slow(&text), "{}", text);
            }
        }
    }
}
