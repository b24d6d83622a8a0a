//! Lockfile parsers, one file per format, behind one entry point that recognises the format by file
//! name, enforces the size and package limits, and de-duplicates what a parser found.

mod cargo;
mod gomod;
mod npm;
mod pnpm;
mod poetry;
mod requirements;
mod uv;
mod yarn;

pub(crate) use cargo::fast_agrees_with_toml as cargo_fast_agrees_with_toml;

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::Path;

use crate::error::{Error, MAX_FILE_BYTES, MAX_PACKAGES};
use crate::package::{Package, Skipped};

/// The lockfile formats the scanner reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    CargoLock,
    /// `package-lock.json` and `npm-shrinkwrap.json`.
    PackageLock,
    YarnLock,
    PnpmLock,
    /// `requirements.txt` and `requirements-*.txt`.
    Requirements,
    PoetryLock,
    UvLock,
    GoMod,
    GoSum,
}

impl Format {
    /// The format of a file, from its name alone.
    pub fn from_path(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?;
        Some(match name {
            "Cargo.lock" => Format::CargoLock,
            "package-lock.json" | "npm-shrinkwrap.json" => Format::PackageLock,
            "yarn.lock" => Format::YarnLock,
            "pnpm-lock.yaml" => Format::PnpmLock,
            "poetry.lock" => Format::PoetryLock,
            "uv.lock" => Format::UvLock,
            "go.mod" => Format::GoMod,
            "go.sum" => Format::GoSum,
            n if n.starts_with("requirements") && n.ends_with(".txt") => Format::Requirements,
            _ => return None,
        })
    }
}

/// What a parser found in one file, before de-duplication.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub(crate) packages: Vec<Package>,
    pub(crate) skipped: Vec<Skipped>,
}

/// The file being parsed, for error context.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub(crate) path: &'a Path,
}

impl Ctx<'_> {
    pub(crate) fn invalid(&self, line: Option<usize>, reason: impl Into<String>) -> Error {
        Error::Invalid {
            path: self.path.to_owned(),
            line,
            reason: reason.into(),
        }
    }

    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self, text: &str) -> Result<T, Error> {
        serde_json::from_str(text).map_err(|source| Error::Json {
            path: self.path.to_owned(),
            line: Some(source.line()).filter(|&l| l > 0),
            source,
        })
    }

    pub(crate) fn toml<T: serde::de::DeserializeOwned>(&self, text: &str) -> Result<T, Error> {
        toml::from_str(text).map_err(|source| Error::Toml {
            path: self.path.to_owned(),
            line: source.span().map(|s| line_of(text, s.start)),
            source: Box::new(source),
        })
    }

    pub(crate) fn yaml<T: serde::de::DeserializeOwned>(&self, text: &str) -> Result<T, Error> {
        if let Some(line) = flow_too_deep(text) {
            return Err(self.invalid(
                Some(line),
                format!("flow collections nested deeper than {MAX_FLOW_DEPTH}"),
            ));
        }
        yaml_serde::from_str(text).map_err(|source| Error::Yaml {
            path: self.path.to_owned(),
            line: source.location().map(|l| l.line()),
            source,
        })
    }
}

/// Deepest `[`/`{` nesting accepted in YAML; lockfiles use two or three levels.
const MAX_FLOW_DEPTH: usize = 64;

/// The line where unquoted `[`/`{` nesting first exceeds [`MAX_FLOW_DEPTH`]. The YAML parser takes
/// time quadratic in that depth before its own recursion limit rejects the document, so hostile
/// input is turned away first.
fn flow_too_deep(text: &str) -> Option<usize> {
    let (mut depth, mut line) = (0usize, 1usize);
    let mut quote: Option<u8> = None;
    let mut prev = b'\n';
    let mut bytes = text.bytes().peekable();
    while let Some(b) = bytes.next() {
        match (quote, b) {
            (_, b'\n') => {
                line += 1;
            }
            (Some(b'"'), b'\\') => {
                bytes.next();
            }
            (Some(q), c) if c == q => {
                // `''` inside a single-quoted scalar is an escaped quote.
                if q == b'\'' && bytes.peek() == Some(&b'\'') {
                    bytes.next();
                } else {
                    quote = None;
                }
            }
            (Some(_), _) => {}
            // A quote opens a scalar only where a token starts (`it's` is plain text).
            (None, b'"' | b'\'') if prev.is_ascii_whitespace() || b"[{,:-".contains(&prev) => {
                quote = Some(b)
            }
            (None, b'#') if prev.is_ascii_whitespace() => {
                for c in bytes.by_ref() {
                    if c == b'\n' {
                        line += 1;
                        break;
                    }
                }
                prev = b'\n';
                continue;
            }
            (None, b'[' | b'{') => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Some(line);
                }
            }
            (None, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
        prev = b;
    }
    None
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Reads at most [`MAX_FILE_BYTES`] of a file as UTF-8.
pub(crate) fn read_limited(path: &Path) -> Result<String, Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let size = std::fs::metadata(path).map_or(bytes.len() as u64, |m| m.len());
    limited_text(path, bytes, size)
}

/// `bytes` (at most one past the limit) as UTF-8 text, or why not.
pub(crate) fn limited_text(path: &Path, bytes: Vec<u8>, size: u64) -> Result<String, Error> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            size: size.max(bytes.len() as u64),
            limit: MAX_FILE_BYTES,
        });
    }
    String::from_utf8(bytes).map_err(|_| Error::NotUtf8 {
        path: path.to_owned(),
    })
}

/// Reads an opened tree file (already checked against [`MAX_FILE_BYTES`]) as UTF-8; `path` names
/// it in errors.
pub(crate) fn read_opened(path: &Path, opened: crate::tree::Opened) -> Result<String, Error> {
    let size = opened.size();
    let bytes = opened
        .read_all(MAX_FILE_BYTES)
        .map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
    limited_text(path, bytes, size)
}

/// Parses the text of a lockfile of a known format: de-duplicated, sorted, each package carrying
/// `path` as its lockfile.
pub(crate) fn parse_text(format: Format, path: &Path, text: &str) -> Result<Parsed, Error> {
    let ctx = Ctx { path };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let parsed = match format {
        Format::CargoLock => cargo::parse(ctx, text)?,
        Format::PackageLock => npm::parse(ctx, text)?,
        Format::YarnLock => yarn::parse(ctx, text)?,
        Format::PnpmLock => pnpm::parse(ctx, text)?,
        Format::Requirements => requirements::parse(ctx, text)?,
        Format::PoetryLock => poetry::parse(ctx, text)?,
        Format::UvLock => uv::parse(ctx, text)?,
        Format::GoMod => gomod::parse_mod(ctx, text)?,
        Format::GoSum => gomod::parse_sum(ctx, text)?,
    };
    finish(path, parsed)
}

/// The package limit, de-duplication, and `path` as every package's lockfile.
pub(crate) fn finish(path: &Path, mut parsed: Parsed) -> Result<Parsed, Error> {
    if parsed.packages.len() > MAX_PACKAGES {
        return Err(too_many(path));
    }
    parsed.packages = dedup(std::mem::take(&mut parsed.packages));
    let lockfile: std::sync::Arc<Path> = path.into();
    for p in &mut parsed.packages {
        p.lockfile = lockfile.clone();
    }
    Ok(parsed)
}

pub(crate) fn too_many(path: &Path) -> Error {
    Error::TooManyPackages {
        path: path.to_owned(),
        limit: MAX_PACKAGES,
    }
}

/// Reads and parses one lockfile.
pub(crate) fn parse_file(path: &Path) -> Result<Parsed, Error> {
    let format = Format::from_path(path).ok_or_else(|| Error::UnknownFormat {
        path: path.to_owned(),
    })?;
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let size = file.metadata().map_or(0, |m| m.len());
    parse_opened(
        format,
        path,
        crate::tree::Opened::File {
            file,
            size,
            id: (0, 0),
        },
    )
}

/// Parses an opened lockfile of `format`; `path` is how reports name it.
pub(crate) fn parse_opened(
    format: Format,
    path: &Path,
    opened: crate::tree::Opened,
) -> Result<Parsed, Error> {
    // Cargo.lock as Cargo writes it is read as a stream: the text of a large one is never held.
    let opened = match opened {
        crate::tree::Opened::File { file, size, id } if format == Format::CargoLock => {
            if let Some(parsed) = cargo::parse_reader_fast(path, &file, size)? {
                return finish(path, parsed);
            }
            // The fast reader gave up: read the file again from the start.
            let mut file = file;
            std::io::Seek::rewind(&mut file).map_err(|source| Error::Io {
                path: path.to_owned(),
                source,
            })?;
            crate::tree::Opened::File { file, size, id }
        }
        crate::tree::Opened::Bytes(b) if format == Format::CargoLock => {
            if let Some(parsed) = cargo::parse_reader_fast(path, &b[..], b.len() as u64)? {
                return finish(path, parsed);
            }
            crate::tree::Opened::Bytes(b)
        }
        o => o,
    };
    let text = read_opened(path, opened)?;
    parse_text(format, path, &text)
}

/// Merges packages with the same identity (ecosystem, name, version, source): flags that restrict
/// (dev, optional) hold only if they hold everywhere, checksums and dependencies are united. The
/// result is sorted by that identity. Sorting first puts the copies of a package next to each
/// other; the merge does not depend on their order, so the sort need not be stable (and works in
/// place: a stable sort would allocate a scratch copy of a large inventory).
pub(crate) fn dedup(mut packages: Vec<Package>) -> Vec<Package> {
    fn key(p: &Package) -> (crate::Ecosystem, &str, &str, &crate::Source) {
        (p.ecosystem, &p.name, &p.version, &p.source)
    }
    // Lockfiles usually list each package once, in this order already: one pass tells.
    if !packages.is_sorted_by(|a, b| key(a) < key(b)) {
        packages.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
        // `dedup_by` hands over (later, earlier): the later copy is merged into the one kept.
        packages.dedup_by(|p, seen| {
            let same = key(seen) == key(p);
            if same {
                merge_into(seen, p);
            }
            same
        });
    }
    for p in &mut packages {
        if p.checksums.len() > 1 {
            p.checksums.sort();
            p.checksums.dedup();
        }
        if let Some(d) = &mut p.dependencies {
            d.sort();
            d.dedup();
        }
    }
    packages
}

/// Merges what `p` adds into `seen`, another copy of the same package; `p` is left emptied.
fn merge_into(seen: &mut Package, p: &mut Package) {
    seen.dev &= p.dev;
    seen.optional &= p.optional;
    seen.bundled |= p.bundled;
    seen.indirect &= p.indirect;
    seen.checksums.append(&mut p.checksums);
    match (&mut seen.dependencies, p.dependencies.take()) {
        (Some(a), Some(b)) => a.extend(b),
        (a @ None, Some(b)) => *a = Some(b),
        _ => {}
    }
}

/// Marks as `dev` the packages reachable from `dev_roots` but not from `prod_roots`, following the
/// packages' dependency ids. Used by formats that record the dev/prod split only at the roots.
pub(crate) fn mark_dev_only(packages: &mut [Package], prod_roots: &[String], dev_roots: &[String]) {
    let index: HashMap<String, usize> = packages
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id(), i))
        .collect();
    let reach = |roots: &[String]| {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<usize> = roots.iter().filter_map(|r| index.get(r).copied()).collect();
        while let Some(i) = stack.pop() {
            if !seen.insert(i) {
                continue;
            }
            for d in packages[i].dependencies.iter().flatten() {
                if let Some(&j) = index.get(d) {
                    stack.push(j);
                }
            }
        }
        seen
    };
    let prod = reach(prod_roots);
    let dev = reach(dev_roots);
    for i in dev.difference(&prod) {
        packages[*i].dev = true;
    }
}

/// Splits an npm descriptor `name@range` (`@scope/name@range`) at the version separator.
pub(crate) fn split_npm_spec(spec: &str) -> Option<(&str, &str)> {
    let at = spec.get(1..)?.find('@')? + 1;
    Some((&spec[..at], &spec[at + 1..]))
}

/// Where an npm tarball URL came from: the registry (URL kept only when not the public one) or a
/// plain URL.
pub(crate) fn npm_source_from_url(name: &str, url: &str) -> crate::Source {
    use crate::Source;
    if let Some(rest) = url
        .strip_prefix("git+")
        .or_else(|| url.strip_prefix("git:"))
    {
        let full = if url.starts_with("git:") { url } else { rest };
        let (repo, rev) = match full.split_once('#') {
            Some((r, rev)) => (r, Some(rev.to_owned())),
            None => (full, None),
        };
        return Source::Git {
            url: repo.to_owned(),
            rev,
        };
    }
    // GitHub's archive of a commit: a git source, whatever protocol fetched it.
    if let Some(rest) = url.strip_prefix("https://codeload.github.com/") {
        let parts: Vec<&str> = rest.split('/').collect();
        if let [owner, repo, "tar.gz", rev] = parts[..] {
            return Source::Git {
                url: format!("https://github.com/{owner}/{repo}"),
                rev: Some(rev.to_owned()),
            };
        }
    }
    if let Some(p) = url.strip_prefix("file:") {
        return Source::Path(p.to_owned());
    }
    let marker = format!("/{name}/-/");
    match url.find(&marker) {
        Some(i) => {
            let base = url[..i].trim_end_matches('/');
            let default = matches!(
                base,
                "https://registry.npmjs.org"
                    | "https://registry.yarnpkg.com"
                    | "http://registry.npmjs.org"
            );
            Source::Registry {
                url: (!default).then(|| base.to_owned()),
            }
        }
        None => Source::Url(url.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_name() {
        let f = |n: &str| Format::from_path(Path::new(n));
        assert_eq!(f("a/Cargo.lock"), Some(Format::CargoLock));
        assert_eq!(f("npm-shrinkwrap.json"), Some(Format::PackageLock));
        assert_eq!(f("requirements-dev.txt"), Some(Format::Requirements));
        assert_eq!(f("Cargo.toml"), None);
        assert_eq!(f("package.json"), None);
    }

    #[test]
    fn flow_depth() {
        let deep = format!("a: {}{}", "[".repeat(65), "]".repeat(65));
        assert_eq!(flow_too_deep(&deep), Some(1));
        assert_eq!(flow_too_deep(&format!("a: 1\nb: {}", &deep[3..])), Some(2));
        let quoted = format!("a: '{}'", "[".repeat(100));
        assert_eq!(flow_too_deep(&quoted), None);
        let comment = format!("a: 1 # {}", "{".repeat(100));
        assert_eq!(flow_too_deep(&comment), None);
        // A stray apostrophe in a plain scalar does not hide what follows.
        let sneaky = format!("a: it's\nb: {}", &deep[3..]);
        assert_eq!(flow_too_deep(&sneaky), Some(2));
    }

    #[test]
    fn npm_specs() {
        assert_eq!(split_npm_spec("@a/b@^1"), Some(("@a/b", "^1")));
        assert_eq!(split_npm_spec("b@npm:c@1"), Some(("b", "npm:c@1")));
        assert_eq!(split_npm_spec("b"), None);
        assert_eq!(split_npm_spec("@"), None);
    }
}
