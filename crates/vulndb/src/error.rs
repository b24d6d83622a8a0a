//! Errors of this crate: [`VulnDbError`] stops an operation; [`EntryError`] is one bad advisory
//! file or archive entry, counted in the import report while the import goes on.

use std::fmt;
use std::path::PathBuf;

/// An operation on the database or a source failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum VulnDbError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open zip archive {}", path.display())]
    Zip {
        path: PathBuf,
        #[source]
        source: zip::result::ZipError,
    },
    #[error("no vulnerability database in {} (import a source first)", path.display())]
    NotFound { path: PathBuf },
    /// The file's structure is wrong (magic, header, lengths that disagree).
    #[error("database file {} is corrupt: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: &'static str },
    #[error("database file {} is corrupt: {bytes} bytes after the index", path.display())]
    TrailingBytes { path: PathBuf, bytes: usize },
    #[error("database file {} is corrupt: invalid JSON", path.display())]
    CorruptMeta {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("database file {} is corrupt: the index does not decode", path.display())]
    CorruptIndex {
        path: PathBuf,
        #[source]
        source: postcard::Error,
    },
    #[error("database file {} has format {found}, this build reads format {expected} (import the sources again)", path.display())]
    Format {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("source {} is neither a directory nor a zip file", path.display())]
    UnknownSource { path: PathBuf },
    #[error("source {} has more than {limit} entries", path.display())]
    TooManyEntries { path: PathBuf, limit: usize },
    #[error("source {} holds more than {limit} bytes of advisories", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
}

/// One advisory file (or zip entry) that could not be imported.
///
/// Its message is `file:line: kind` and its `source()` is the kind's own source: the kind is
/// part of the message, so returning it as a source too would print it twice.
#[derive(Debug)]
pub struct EntryError {
    /// The file path, or `archive.zip!entry/name.json` for a zip entry.
    pub file: String,
    /// 1-based line in the file, when the parser knows it.
    pub line: Option<usize>,
    pub kind: EntryErrorKind,
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for EntryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EntryErrorKind {
    #[error("{size} bytes is over the {limit}-byte limit for one advisory")]
    TooLarge { size: u64, limit: u64 },
    #[error("cannot read")]
    Read(#[source] std::io::Error),
    #[error("not UTF-8")]
    NotUtf8,
    #[error("invalid OSV JSON")]
    Json(#[source] serde_json::Error),
    /// RustSec advisory: the markdown file does not start with its TOML front matter.
    #[error("invalid RustSec advisory: no ```toml front matter block at the start of the file")]
    NoFrontMatter,
    /// RustSec advisory: `line` (from 1, in the whole markdown file) is where the TOML parser's
    /// span starts; its own message (with a snippet relative to the front matter) is the source.
    #[error("invalid RustSec advisory: line {line}: invalid TOML front matter")]
    Toml {
        line: usize,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("invalid RustSec advisory: version requirement `{req}`: {reason}")]
    Requirement { req: String, reason: &'static str },
    #[error("invalid RustSec advisory: patched/unaffected requirements `{a}` and `{b}` overlap")]
    Overlap { a: String, b: String },
    #[error("cannot read zip entry")]
    Zip(#[source] zip::result::ZipError),
}

impl EntryErrorKind {
    /// The 1-based line the error points at, when the parser knows it.
    pub fn line(&self) -> Option<usize> {
        match self {
            EntryErrorKind::Toml { line, .. } => Some(*line),
            EntryErrorKind::NoFrontMatter => Some(1),
            _ => None,
        }
    }
}
