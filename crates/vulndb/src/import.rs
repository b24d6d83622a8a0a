//! Reading advisory sources: a RustSec advisory-db checkout (native markdown), a directory of
//! OSV JSON files (RustSec's OSV branch, an unpacked osv.dev dump), or a zip of OSV JSON (an
//! osv.dev per-ecosystem `all.zip`).
//!
//! Sources are untrusted: every file or entry is bounded in size ([`Limits`]), the number of
//! entries and the total bytes are bounded, symlinks are not followed, and nothing is extracted
//! to disk. A bad entry becomes an [`EntryError`] naming the file and the import goes on.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::advisory::Advisory;
use crate::error::{EntryError, EntryErrorKind, VulnDbError};
use crate::osv::{RecordIssue, parse_record};
use crate::rustsec::parse_native;

/// Bounds on what one import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest single advisory file or zip entry (uncompressed).
    pub max_file_bytes: u64,
    /// Most files or zip entries looked at.
    pub max_entries: usize,
    /// Most bytes read in total (uncompressed).
    pub max_total_bytes: u64,
    /// Deepest directory level walked.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // osv.dev's largest per-ecosystem dumps hold a few hundred thousand records of a few KiB.
        Limits {
            max_file_bytes: 4 * 1024 * 1024,
            max_entries: 2_000_000,
            max_total_bytes: 8 * 1024 * 1024 * 1024,
            max_depth: 16,
        }
    }
}

/// What a source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// The RustSec advisory-db layout: `crates/<name>/RUSTSEC-*.md`.
    RustsecNative,
    /// A directory tree of OSV `.json` files.
    OsvDir,
    /// A zip archive of OSV `.json` files.
    OsvZip,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::RustsecNative => "rustsec-native",
            SourceKind::OsvDir => "osv-dir",
            SourceKind::OsvZip => "osv-zip",
        }
    }
}

/// A non-fatal remark about one imported record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryNote {
    pub file: String,
    pub issue: RecordIssue,
}

/// Everything read from one source.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub(crate) advisories: Vec<Advisory>,
    pub(crate) errors: Vec<EntryError>,
    pub(crate) notes: Vec<EntryNote>,
    /// Files that are not advisories of this source kind (other extensions, toolchain advisories).
    pub(crate) skipped: usize,
    /// Records whose id an earlier file of the same source already had; the later one is kept.
    pub(crate) duplicates: usize,
}

/// Decides the kind of `path`: a zip file; a directory with `.json` files is OSV; otherwise a
/// directory with `crates/` or `rust/` is a RustSec checkout.
pub(crate) fn detect(path: &Path, limits: &Limits) -> Result<SourceKind, VulnDbError> {
    let meta = fs::metadata(path).map_err(|source| VulnDbError::Read {
        path: path.to_owned(),
        source,
    })?;
    if meta.is_file() {
        let mut magic = [0u8; 4];
        let mut f = fs::File::open(path).map_err(|source| VulnDbError::Read {
            path: path.to_owned(),
            source,
        })?;
        return if f.read_exact(&mut magic).is_ok() && &magic == b"PK\x03\x04" {
            Ok(SourceKind::OsvZip)
        } else {
            Err(VulnDbError::UnknownSource {
                path: path.to_owned(),
            })
        };
    }
    if !meta.is_dir() {
        return Err(VulnDbError::UnknownSource {
            path: path.to_owned(),
        });
    }
    let files = walk(path, limits)?;
    let has_json = files.iter().any(|f| has_ext(f, "json"));
    if !has_json && (path.join("crates").is_dir() || path.join("rust").is_dir()) {
        Ok(SourceKind::RustsecNative)
    } else {
        Ok(SourceKind::OsvDir)
    }
}

fn has_ext(p: &Path, ext: &str) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// Regular files under `root`, sorted, without following symlinks.
fn walk(root: &Path, limits: &Limits) -> Result<Vec<PathBuf>, VulnDbError> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let entries = fs::read_dir(&dir).map_err(|source| VulnDbError::Read {
            path: dir.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| VulnDbError::Read {
                path: dir.clone(),
                source,
            })?;
            let ft = entry.file_type().map_err(|source| VulnDbError::Read {
                path: entry.path(),
                source,
            })?;
            if ft.is_dir() && depth < limits.max_depth {
                stack.push((entry.path(), depth + 1));
            } else if ft.is_file() {
                out.push(entry.path());
                if out.len() > limits.max_entries {
                    return Err(VulnDbError::TooManyEntries {
                        path: root.to_owned(),
                        limit: limits.max_entries,
                    });
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads every advisory of `path` as `kind`.
pub(crate) fn load(path: &Path, kind: SourceKind, limits: &Limits) -> Result<Loaded, VulnDbError> {
    let mut loaded = Loaded::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut total: u64 = 0;
    let mut add = |loaded: &mut Loaded, adv: Advisory| match seen.get(&adv.id) {
        Some(&i) => {
            loaded.duplicates += 1;
            loaded.advisories[i] = adv;
        }
        None => {
            seen.insert(adv.id.clone(), loaded.advisories.len());
            loaded.advisories.push(adv);
        }
    };
    match kind {
        SourceKind::OsvZip => return load_zip(path, limits, loaded, add),
        SourceKind::OsvDir | SourceKind::RustsecNative => {}
    }
    for file in walk(path, limits)? {
        let rel = file.strip_prefix(path).unwrap_or(&file);
        let wanted = match kind {
            SourceKind::RustsecNative => {
                has_ext(&file, "md") && rel.starts_with("crates") && rel.components().count() == 3
            }
            _ => has_ext(&file, "json"),
        };
        if !wanted {
            loaded.skipped += 1;
            continue;
        }
        let label = file.display().to_string();
        let bytes = match read_bounded(&file, limits) {
            Ok(b) => b,
            Err(kind) => {
                loaded.errors.push(EntryError {
                    file: label,
                    line: None,
                    kind,
                });
                continue;
            }
        };
        total += bytes.len() as u64;
        if total > limits.max_total_bytes {
            return Err(VulnDbError::TooLarge {
                path: path.to_owned(),
                limit: limits.max_total_bytes,
            });
        }
        match parse_entry(kind, &label, &bytes, &mut loaded.notes) {
            Ok(adv) => add(&mut loaded, adv),
            Err(e) => loaded.errors.push(e),
        }
    }
    Ok(loaded)
}

fn read_bounded(file: &Path, limits: &Limits) -> Result<Vec<u8>, EntryErrorKind> {
    let f = fs::File::open(file).map_err(EntryErrorKind::Read)?;
    let size = f.metadata().map_err(EntryErrorKind::Read)?.len();
    if size > limits.max_file_bytes {
        return Err(EntryErrorKind::TooLarge {
            size,
            limit: limits.max_file_bytes,
        });
    }
    let mut buf = Vec::with_capacity(size as usize);
    // The file may grow between the size check and the read.
    f.take(limits.max_file_bytes + 1)
        .read_to_end(&mut buf)
        .map_err(EntryErrorKind::Read)?;
    if buf.len() as u64 > limits.max_file_bytes {
        return Err(EntryErrorKind::TooLarge {
            size: buf.len() as u64,
            limit: limits.max_file_bytes,
        });
    }
    Ok(buf)
}

fn parse_entry(
    kind: SourceKind,
    label: &str,
    bytes: &[u8],
    notes: &mut Vec<EntryNote>,
) -> Result<Advisory, EntryError> {
    let err = |line, kind| EntryError {
        file: label.to_owned(),
        line,
        kind,
    };
    match kind {
        SourceKind::RustsecNative => {
            let text =
                std::str::from_utf8(bytes).map_err(|_| err(None, EntryErrorKind::NotUtf8))?;
            parse_native(text).map_err(|e| err(e.line(), e))
        }
        SourceKind::OsvDir | SourceKind::OsvZip => match parse_record(bytes) {
            Ok((adv, issues)) => {
                notes.extend(issues.into_iter().map(|issue| EntryNote {
                    file: label.to_owned(),
                    issue,
                }));
                Ok(adv)
            }
            Err(e) => Err(err(Some(e.line()), EntryErrorKind::Json(e))),
        },
    }
}

fn load_zip(
    path: &Path,
    limits: &Limits,
    loaded: Loaded,
    add: impl FnMut(&mut Loaded, Advisory),
) -> Result<Loaded, VulnDbError> {
    let file = fs::File::open(path).map_err(|source| VulnDbError::Read {
        path: path.to_owned(),
        source,
    })?;
    load_zip_from(path, std::io::BufReader::new(file), limits, loaded, add)
}

/// [`load_zip`] on an open archive; `path` only labels entries and errors. The fuzz target
/// (`fuzz/fuzz_targets/vulndb_zip.rs`) feeds it bytes in memory.
pub(crate) fn load_zip_from<R: Read + Seek>(
    path: &Path,
    reader: R,
    limits: &Limits,
    mut loaded: Loaded,
    mut add: impl FnMut(&mut Loaded, Advisory),
) -> Result<Loaded, VulnDbError> {
    let zip_err = |source| VulnDbError::Zip {
        path: path.to_owned(),
        source,
    };
    let mut archive = zip::ZipArchive::new(reader).map_err(zip_err)?;
    if archive.len() > limits.max_entries {
        return Err(VulnDbError::TooManyEntries {
            path: path.to_owned(),
            limit: limits.max_entries,
        });
    }
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let mut entry = match archive.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                loaded.errors.push(EntryError {
                    file: format!("{}!#{i}", path.display()),
                    line: None,
                    kind: EntryErrorKind::Zip(e),
                });
                continue;
            }
        };
        // The name is only a label: nothing is written to disk, so `../` in it is harmless.
        // An undecodable name is shown lossily; it is never used as a path.
        let name = match entry.name() {
            Ok(n) => n.into_owned(),
            Err(_) => String::from_utf8_lossy(entry.name_raw()).into_owned(),
        };
        let label = format!("{}!{name}", path.display());
        if entry.is_dir() || !name.to_ascii_lowercase().ends_with(".json") {
            loaded.skipped += 1;
            continue;
        }
        let declared = entry.size();
        let too_large = |size| EntryError {
            file: label.clone(),
            line: None,
            kind: EntryErrorKind::TooLarge {
                size,
                limit: limits.max_file_bytes,
            },
        };
        if declared > limits.max_file_bytes {
            loaded.errors.push(too_large(declared));
            continue;
        }
        let mut buf = Vec::with_capacity(declared as usize);
        // A lying header cannot make us inflate more than the limit.
        if let Err(e) = (&mut entry)
            .take(limits.max_file_bytes + 1)
            .read_to_end(&mut buf)
        {
            loaded.errors.push(EntryError {
                file: label,
                line: None,
                kind: EntryErrorKind::Read(e),
            });
            continue;
        }
        if buf.len() as u64 > limits.max_file_bytes {
            loaded.errors.push(too_large(buf.len() as u64));
            continue;
        }
        total += buf.len() as u64;
        if total > limits.max_total_bytes {
            return Err(VulnDbError::TooLarge {
                path: path.to_owned(),
                limit: limits.max_total_bytes,
            });
        }
        match parse_entry(SourceKind::OsvZip, &label, &buf, &mut loaded.notes) {
            Ok(adv) => add(&mut loaded, adv),
            Err(e) => loaded.errors.push(e),
        }
    }
    Ok(loaded)
}
