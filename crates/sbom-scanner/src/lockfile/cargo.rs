//! `Cargo.lock`, versions 1 to 4.
//!
//! v1 keeps the root package in `[root]` and checksums in `[metadata]` as
//! `"checksum NAME VERSION (SOURCE)" = "HEX"`; later versions put `checksum` on the package.
//! Dependencies are `"name"`, `"name version"` or `"name version (source)"`, as precise as needed
//! to be unambiguous. Packages without `source` are workspace members or path dependencies.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use super::{Ctx, Parsed};
use crate::error::{Error, MAX_FILE_BYTES, MAX_PACKAGES};
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

/// The parts of a lockfile the scanner uses, however it was read: the packages, and what
/// resolving their dependencies and v1 checksums needs.
#[derive(Debug, Default, PartialEq)]
struct Lock {
    version: Option<i64>,
    /// `[root]` (v1) first, then every `[[package]]`, in file order.
    packages: Vec<Package>,
    /// The distinct `source` strings, parsed: a lockfile has a few, repeated on thousands of
    /// packages.
    sources: Vec<(String, Source)>,
    /// Per package: its position in `sources`, if it has one.
    source_of: Vec<Option<u32>>,
    /// Per package: whether it has a `checksum` key (v1 keeps checksums in `[metadata]`).
    has_checksum: Vec<bool>,
    /// Packages with dependencies: position and the dependency strings.
    dependencies: Vec<(usize, Vec<String>)>,
    /// v1 `[metadata]` string values (`"checksum NAME VERSION (SOURCE)" = "HEX"`).
    metadata: HashMap<String, String>,
}

/// One `[root]` or `[[package]]` table as read.
#[derive(Debug, Default)]
struct Entry {
    name: String,
    version: String,
    source: Option<u32>,
    checksum: Option<String>,
    dependencies: Vec<String>,
}

impl Lock {
    fn intern_source(&mut self, s: &str) -> u32 {
        let i = match self.sources.iter().rposition(|(x, _)| x == s) {
            Some(i) => i,
            None => {
                self.sources.push((s.to_owned(), source(Some(s))));
                self.sources.len() - 1
            }
        };
        i as u32
    }

    /// Files an entry as a package.
    fn push(&mut self, e: Entry) {
        let src = e
            .source
            .map_or(Source::Local, |i| self.sources[i as usize].1.clone());
        let mut p = Package::from_owned(Ecosystem::CratesIo, e.name, e.version, src);
        self.has_checksum.push(e.checksum.is_some());
        p.checksums.extend(
            e.checksum
                .and_then(|c| Checksum::from_hex_owned(HashAlg::Sha256, c)),
        );
        p.dependencies = Some(Vec::new());
        if !e.dependencies.is_empty() {
            self.dependencies
                .push((self.packages.len(), e.dependencies));
        }
        self.source_of.push(e.source);
        self.packages.push(p);
    }

    fn source_str(&self, i: usize) -> Option<&str> {
        self.source_of[i].map(|s| self.sources[s as usize].0.as_str())
    }
}

impl From<OwnedLock> for Lock {
    fn from(l: OwnedLock) -> Self {
        let mut lock = Lock {
            version: l.version,
            ..Lock::default()
        };
        for e in l.root.into_iter().chain(l.package) {
            let source = e.source.map(|s| lock.intern_source(&s));
            lock.push(Entry {
                name: e.name,
                version: e.version,
                source,
                checksum: e.checksum,
                dependencies: e.dependencies,
            });
        }
        lock.metadata = l
            .metadata
            .into_iter()
            .filter_map(|(k, v)| match v {
                toml::Value::String(s) => Some((k, s)),
                _ => None,
            })
            .collect();
        lock
    }
}

const CRATES_IO: [&str; 2] = [
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
];

/// The fuzz target's property: whenever the fast path reads `text`, it reads what the TOML parser
/// reads (the property test `fast_path_agrees_with_the_toml_parser`, on arbitrary input).
pub(crate) fn fast_agrees_with_toml(text: &str) -> bool {
    match fast(text) {
        Some(lock) => toml::from_str::<OwnedLock>(text).ok().map(Lock::from) == Some(lock),
        None => true,
    }
}

/// The TOML parser's reading of a lockfile. Reached for the files [`parse_file_fast`] leaves to
/// it, so it does not try the fast path again.
pub(super) fn parse(ctx: Ctx<'_>, text: &str) -> Result<Parsed, Error> {
    build(ctx, Lock::from(ctx.toml::<OwnedLock>(text)?))
}

/// Reads the lockfile at `path` through the fast path in 64 KiB chunks, without holding its text;
/// `None` when the fast path leaves it to the TOML parser (or the file is over the size limit or
/// not UTF-8: the caller's full read reports those).
#[cfg(test)]
pub(super) fn parse_file_fast(path: &Path) -> Result<Option<Parsed>, Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_or(0, |m| m.len());
    parse_reader_fast(path, file, size)
}

/// [`parse_file_fast`] over an open file of `size` bytes; `path` names it in errors.
pub(super) fn parse_reader_fast(
    path: &Path,
    file: impl Read,
    size: u64,
) -> Result<Option<Parsed>, Error> {
    const CHUNK: usize = 64 << 10;
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = file.take(MAX_FILE_BYTES + 1);
    let mut fast: Option<Fast> = None;
    let mut buf = vec![0u8; CHUNK];
    let (mut filled, mut total) = (0usize, 0u64);
    loop {
        let n = match file.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        filled += n;
        total += n as u64;
        if total > MAX_FILE_BYTES {
            return Ok(None);
        }
        // Whole lines only; the rest waits for the next read.
        let end = match (n, memchr::memrchr(b'\n', &buf[..filled])) {
            (0, _) => filled,
            (_, Some(i)) => i + 1,
            // A line longer than the buffer is not one Cargo writes.
            (_, None) if filled == CHUNK => return Ok(None),
            (_, None) => continue,
        };
        let Ok(text) = std::str::from_utf8(&buf[..end]) else {
            return Ok(None);
        };
        let text = match fast {
            None => text.strip_prefix('\u{feff}').unwrap_or(text),
            Some(_) => text,
        };
        let fast = fast.get_or_insert_with(|| {
            // Room for as many packages as the first chunk promises for the whole file: a
            // large allocation sized far beyond need costs more than it saves.
            let size = size.min(MAX_FILE_BYTES);
            let estimate = count_packages(text.as_bytes()) as u64 * size / end.max(1) as u64;
            Fast::new((estimate as usize * 21 / 20 + 16).min(MAX_PACKAGES + 1))
        });
        if fast.feed(text).is_none() {
            return Ok(None);
        }
        if n == 0 {
            break;
        }
        buf.copy_within(end..filled, 0);
        filled -= end;
    }
    match fast.unwrap_or_else(|| Fast::new(0)).finish() {
        Some(lock) => build(Ctx { path }, lock).map(Some),
        None => Ok(None),
    }
}

/// `[[package]]` headers in `text`.
fn count_packages(text: &[u8]) -> usize {
    memchr::memmem::find_iter(text, b"[[package]]").count()
}

/// The packages of a lockfile, v1 checksums and dependencies resolved.
fn build(ctx: Ctx<'_>, mut lock: Lock) -> Result<Parsed, Error> {
    if let Some(v) = lock.version
        && !(1..=4).contains(&v)
    {
        return Err(ctx.invalid(None, format!("unsupported Cargo.lock version {v}")));
    }
    let mut packages = std::mem::take(&mut lock.packages);
    if !lock.metadata.is_empty() {
        for (i, p) in packages.iter_mut().enumerate() {
            if lock.has_checksum[i] {
                continue;
            }
            let key = format!(
                "checksum {} {} ({})",
                p.name,
                p.version,
                lock.source_str(i).unwrap_or_default()
            );
            if let Some(sum) = lock.metadata.get(&key) {
                p.checksums.extend(Checksum::from_hex(HashAlg::Sha256, sum));
            }
        }
    }
    if !lock.dependencies.is_empty() {
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, p) in packages.iter().enumerate() {
            by_name.entry(&p.name).or_default().push(i);
        }
        let ids: Vec<String> = packages.iter().map(Package::id).collect();
        let resolved: Vec<(usize, Vec<String>)> = lock
            .dependencies
            .iter()
            .map(|(i, names)| {
                let ids = names
                    .iter()
                    .filter_map(|d| resolve(d, &packages, &lock, &by_name).map(|j| ids[j].clone()))
                    .collect();
                (*i, ids)
            })
            .collect();
        drop(by_name);
        for (i, ids) in resolved {
            packages[i].dependencies = Some(ids);
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
/// the one the TOML parser returns (tested on mutated lockfiles). [`parse_file_fast`] feeds the
/// same reader chunk by chunk.
fn fast(text: &str) -> Option<Lock> {
    let mut fast = Fast::new(count_packages(text.as_bytes()));
    fast.feed(text)?;
    fast.finish()
}

#[derive(PartialEq)]
enum Section {
    Top,
    Entry,
    Metadata,
}

/// The state of [`fast`] between lines.
struct Fast {
    lock: Lock,
    section: Section,
    seen_metadata: bool,
    /// The `[root]` or `[[package]]` being read, with a bit per key seen.
    cur: Option<(Entry, u8)>,
    /// Inside a `dependencies = [` array.
    in_deps: bool,
}

impl Fast {
    /// Ready for a lockfile of about `size` bytes.
    /// Ready for about `packages` packages.
    fn new(packages: usize) -> Fast {
        Fast {
            lock: Lock {
                packages: Vec::with_capacity(packages),
                source_of: Vec::with_capacity(packages),
                has_checksum: Vec::with_capacity(packages),
                ..Lock::default()
            },
            section: Section::Top,
            seen_metadata: false,
            cur: None,
            in_deps: false,
        }
    }

    /// Whole lines of the lockfile (the text ends at a line end, or at the end of the file).
    fn feed(&mut self, text: &str) -> Option<()> {
        if !plain(text) {
            return None;
        }
        let mut start = 0;
        // A line ends at `\n` or `\r\n` (`plain` made sure no other `\r` is left).
        for end in memchr::memchr_iter(b'\n', text.as_bytes()).chain([text.len()]) {
            let line = &text[start..end];
            start = end + 1;
            if end == text.len() && line.is_empty() {
                break;
            }
            self.line(line.strip_suffix('\r').unwrap_or(line))?;
        }
        Some(())
    }

    /// One line, without its line ending; `None` when it is not one the fast path reads.
    fn line(&mut self, line: &str) -> Option<()> {
        let line = trim_blank_end(line);
        if self.in_deps {
            let item = line.trim_start_matches([' ', '\t']);
            if item == "]" {
                self.in_deps = false;
            } else {
                let dep = basic_string(item.strip_suffix(',')?)?;
                self.cur.as_mut()?.0.dependencies.push(dep.to_owned());
            }
            return Some(());
        }
        if line.is_empty() || line.starts_with('#') {
            return Some(());
        }
        if line.starts_with('[') {
            self.end_entry()?;
            self.section = match line {
                "[[package]]" => {
                    self.cur = Some((Entry::default(), 0));
                    Section::Entry
                }
                // Before any package (the TOML parser puts it first wherever it is); a second
                // `[root]` finds the first one in `packages`.
                "[root]" if self.lock.packages.is_empty() => {
                    self.cur = Some((Entry::default(), 0));
                    Section::Entry
                }
                "[metadata]" if !self.seen_metadata => {
                    self.seen_metadata = true;
                    Section::Metadata
                }
                _ => return None,
            };
            return Some(());
        }
        match self.section {
            Section::Top => {
                let ("version", v) = key_value(line)? else {
                    return None;
                };
                let digits_ok = !v.is_empty()
                    && v.len() <= 9
                    && v.bytes().all(|b| b.is_ascii_digit())
                    && (v == "0" || !v.starts_with('0'));
                if self.lock.version.is_some() || !digits_ok {
                    return None;
                }
                self.lock.version = Some(v.parse().ok()?);
            }
            Section::Metadata => {
                let (key, rest) = basic_string_prefix(line)?;
                let value = basic_string(after_equals(rest)?)?;
                let metadata = &mut self.lock.metadata;
                if metadata.insert(key.to_owned(), value.to_owned()).is_some() {
                    return None;
                }
            }
            Section::Entry => {
                let (key, v) = cargo_key_value(line).or_else(|| key_value(line))?;
                let bit = match key {
                    "name" => 1,
                    "version" => 2,
                    "source" => 4,
                    "checksum" => 8,
                    "dependencies" => 16,
                    _ => return None,
                };
                let (entry, seen) = self.cur.as_mut()?;
                if *seen & bit != 0 {
                    return None;
                }
                *seen |= bit;
                if key == "dependencies" {
                    if v != "[" {
                        return None;
                    }
                    self.in_deps = true;
                    return Some(());
                }
                let s = basic_string(v)?;
                match key {
                    "name" => entry.name = s.to_owned(),
                    "version" => entry.version = s.to_owned(),
                    "checksum" => entry.checksum = Some(s.to_owned()),
                    _ => entry.source = Some(self.lock.intern_source(s)),
                }
            }
        }
        Some(())
    }

    /// Files the entry being read, if it has its required keys (name and version).
    fn end_entry(&mut self) -> Option<()> {
        if let Some((e, seen)) = self.cur.take() {
            if seen & 3 != 3 {
                return None;
            }
            self.lock.push(e);
        }
        Some(())
    }

    fn finish(mut self) -> Option<Lock> {
        if self.in_deps {
            return None;
        }
        self.end_entry()?;
        Some(self.lock)
    }
}

/// Whether `text` is free of what the fast path does not handle anywhere: backslashes (escapes),
/// control characters (TOML forbids them in strings and comments, tab aside) and carriage returns
/// that do not end a line.
fn plain(text: &str) -> bool {
    // Or-ed without branches rather than `any`, so that the loop vectorises.
    let mut odd = 0u8;
    for &b in text.as_bytes() {
        let control = (b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r');
        odd |= u8::from(control | (b == 0x7f) | (b == b'\\'));
    }
    let b = text.as_bytes();
    odd == 0 && memchr::memchr_iter(b'\r', b).all(|i| b.get(i + 1) == Some(&b'\n'))
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

/// [`key_value`] for the lines Cargo writes in a package: one `memcmp` for the key instead of a
/// scan for its end. `None` for any other line (which [`key_value`] then reads).
fn cargo_key_value(line: &str) -> Option<(&'static str, &str)> {
    const KEYS: [&str; 5] = ["name", "version", "source", "checksum", "dependencies"];
    let key = match line.as_bytes().first()? {
        b'n' => KEYS[0],
        b'v' => KEYS[1],
        b's' => KEYS[2],
        b'c' => KEYS[3],
        b'd' => KEYS[4],
        _ => return None,
    };
    let v = line.strip_prefix(key)?.strip_prefix(" = ")?;
    (!v.starts_with([' ', '\t'])).then_some((key, v))
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
    let end = memchr::memchr(b'"', body.as_bytes())?;
    Some((&body[..end], &body[end + 1..]))
}

/// Index of the package a dependency string names, if exactly one matches.
fn resolve(
    dep: &str,
    packages: &[Package],
    lock: &Lock,
    by_name: &HashMap<&str, Vec<usize>>,
) -> Option<usize> {
    let mut parts = dep.splitn(3, ' ');
    let name = parts.next()?;
    let version = parts.next();
    let source = parts
        .next()
        .map(|s| s.trim_start_matches('(').trim_end_matches(')'));
    let key = |i: usize| (&packages[i].version, lock.source_of[i]);
    let mut hits = by_name.get(name)?.iter().copied().filter(|&i| {
        version.is_none_or(|v| packages[i].version == v)
            && source.is_none_or(|s| lock.source_str(i) == Some(s))
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

    fn slow(text: &str) -> Option<Lock> {
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
        // A byte-order mark before the first line: the streaming reader skips it.
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), format!("\u{feff}{}", FIXTURES[2])).unwrap();
        let ctx = Ctx { path: file.path() };
        let want = build(ctx, fast(FIXTURES[2]).unwrap()).unwrap().packages;
        let got = parse_file_fast(file.path()).unwrap().map(|p| p.packages);
        assert_eq!(got, Some(want));
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
            // A `[metadata]` key twice, a second `[metadata]`.
            "[metadata]\n\"checksum a 1 ()\" = \"x\"\n\"checksum a 1 ()\" = \"y\"\n",
            "[metadata]\n\"k\" = \"x\"\n[metadata]\n\"j\" = \"y\"\n",
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
            let fast_lock = fast(&text);
            // The streaming reader of a file agrees with the fast path on its text.
            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), &text).unwrap();
            let streamed = parse_file_fast(file.path())
                .map(|p| p.map(|p| p.packages))
                .map_err(|e| e.to_string());
            let ctx = Ctx { path: file.path() };
            let from_text = fast(&text)
                .map(|l| build(ctx, l).map(|p| p.packages))
                .transpose()
                .map_err(|e| e.to_string());
            prop_assert_eq!(streamed, from_text, "{}", text);
            if let Some(lock) = fast_lock {
                prop_assert_eq!(Some(lock), slow(&text), "{}", text);
            }
        }
    }
}
