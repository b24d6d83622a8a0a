//! The local vulnerability database: a directory holding `index.bin` (every advisory without
//! markdown details, in postcard's compact binary form after a magic line and the format number)
//! and `meta.json` (the imported sources), indexed in memory by (ecosystem, package name) when
//! opened. Binary because every scan opens it: decoding it takes a third of the time JSON did.
//!
//! Importing a source again replaces what that source brought before; an advisory id already
//! present from another source is replaced by the newer import. Files are written to a
//! temporary name and renamed, so a reader never sees half an index.
//!
//! Matching ([`Db::matches`]): withdrawn advisories never match; the ecosystem must equal the
//! advisory's exactly; only registry packages match (a git or path dependency is not the
//! registry package of the same name); PyPI names compare PEP 503-normalised; then the OSV
//! evaluation of [`crate::osv`] decides.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::advisory::{Advisory, Affected, FindingKind};
use crate::error::{EntryError, VulnDbError};
use crate::import::{EntryNote, Limits, SourceKind, detect, load};
use crate::osv::affected_includes;
use crate::version::Ecosystem;

const FORMAT: u32 = 2;
const INDEX_FILE: &str = "index.bin";
const META_FILE: &str = "meta.json";
/// First bytes of `index.bin`, followed by the format as a little-endian u32.
const INDEX_MAGIC: &[u8; 16] = b"ironpost-vulndb\n";

/// One imported source as recorded in `meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceMeta {
    /// The source path as given at import, made absolute.
    pub path: PathBuf,
    pub kind: SourceKind,
    pub imported_at: DateTime<Utc>,
    /// Advisories read from the source at its last import.
    pub advisories: usize,
    /// Entries that could not be read at its last import.
    pub errors: usize,
    pub skipped: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Meta {
    format: u32,
    sources: Vec<SourceMeta>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    advisories: Vec<Advisory>,
    /// For each advisory, the position of its source in `Meta::sources`.
    source_of: Vec<u32>,
}

/// The outcome of one import.
#[derive(Debug)]
pub struct ImportReport {
    pub source: PathBuf,
    pub kind: SourceKind,
    /// Advisories read from the source (withdrawn ones included).
    pub imported: usize,
    pub withdrawn: usize,
    pub informational: usize,
    /// Advisory ids that were held from another source and now come from this one.
    pub replaced: usize,
    /// Records of this source that repeated an id (the later file wins).
    pub duplicates: usize,
    /// Files that are not advisories of this kind.
    pub skipped: usize,
    /// Entries that could not be read, each naming its file.
    pub errors: Vec<EntryError>,
    /// Records kept with a part dropped (unknown range type, unparsable version…).
    pub notes: Vec<EntryNote>,
    /// Advisories in the database after the import.
    pub total: usize,
}

/// What `status` shows for one source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceStatus {
    #[serde(flatten)]
    pub meta: SourceMeta,
    /// Advisories the database holds from this source now.
    pub held: usize,
    pub age_seconds: i64,
}

/// The database at a glance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub dir: PathBuf,
    pub advisories: usize,
    pub withdrawn: usize,
    pub informational: usize,
    /// Advisories per ecosystem (an advisory affecting two ecosystems counts in both).
    pub by_ecosystem: BTreeMap<String, usize>,
    pub sources: Vec<SourceStatus>,
    /// Age of the most recent import.
    pub newest_import_age_seconds: Option<i64>,
}

/// One advisory that applies to a package.
#[derive(Debug, Clone, Copy)]
pub struct Match<'a> {
    pub advisory: &'a Advisory,
    /// The entry of `advisory.affected` that matched.
    pub affected: &'a Affected,
}

impl Match<'_> {
    pub fn kind(&self) -> FindingKind {
        self.advisory.kind()
    }
}

/// Package name → (advisory, affected entry) positions. Looked up once per package of a scan, so
/// with foldhash rather than SipHash: the keys come from the database, a lockfile only probes.
type PackageMap = HashMap<String, Vec<(u32, u32)>, foldhash::fast::RandomState>;

/// The advisories of one ecosystem of a [`Db`] (see [`Db::ecosystem`]).
#[derive(Debug, Clone, Copy)]
pub struct EcosystemAdvisories<'a> {
    db: &'a Db,
    names: Option<&'a PackageMap>,
    eco: Option<Ecosystem>,
}

impl<'a> EcosystemAdvisories<'a> {
    /// [`Db::matches`] in this ecosystem.
    pub fn matches(&self, name: &str, version: &str, is_registry: bool) -> Vec<Match<'a>> {
        let Some(names) = self.names.filter(|_| is_registry) else {
            return Vec::new();
        };
        let key = match self.eco {
            Some(eco) => eco.normalize_name(name),
            None => std::borrow::Cow::Borrowed(name),
        };
        let Some(entries) = names.get(key.as_ref()) else {
            return Vec::new();
        };
        let mut out: Vec<Match<'a>> = Vec::new();
        for &(ai, fi) in entries {
            let advisory = &self.db.index.advisories[ai as usize];
            if out
                .last()
                .is_some_and(|m| std::ptr::eq(m.advisory, advisory))
            {
                continue;
            }
            let affected = &advisory.affected[fi as usize];
            if affected_includes(affected, version) {
                out.push(Match { advisory, affected });
            }
        }
        out
    }
}

/// An opened database.
#[derive(Debug)]
pub struct Db {
    dir: PathBuf,
    meta: Meta,
    index: Index,
    /// ecosystem → package name → (advisory, affected entry) positions; withdrawn left out. A
    /// few ecosystems: a list.
    by_package: Vec<(String, PackageMap)>,
}

fn read_file(path: &Path) -> Result<Vec<u8>, VulnDbError> {
    fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => VulnDbError::NotFound {
            path: path.parent().unwrap_or(path).to_owned(),
        },
        _ => VulnDbError::Read {
            path: path.to_owned(),
            source,
        },
    })
}

fn corrupt(path: &Path, reason: &'static str) -> VulnDbError {
    VulnDbError::Corrupt {
        path: path.to_owned(),
        reason,
    }
}

fn read_meta(path: &Path) -> Result<Meta, VulnDbError> {
    let meta: Meta =
        serde_json::from_slice(&read_file(path)?).map_err(|source| VulnDbError::CorruptMeta {
            path: path.to_owned(),
            source,
        })?;
    check_format(path, meta.format)?;
    Ok(meta)
}

fn read_index(path: &Path) -> Result<Index, VulnDbError> {
    let bytes = read_file(path)?;
    let Some(rest) = bytes.strip_prefix(INDEX_MAGIC.as_slice()) else {
        return Err(corrupt(path, "not an ironpost vulnerability index"));
    };
    let (format, body) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| corrupt(path, "truncated header"))?;
    check_format(path, u32::from_le_bytes(*format))?;
    let (index, trailing) =
        postcard::take_from_bytes::<Index>(body).map_err(|source| VulnDbError::CorruptIndex {
            path: path.to_owned(),
            source,
        })?;
    if !trailing.is_empty() {
        return Err(VulnDbError::TrailingBytes {
            path: path.to_owned(),
            bytes: trailing.len(),
        });
    }
    Ok(index)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), VulnDbError> {
    let err = |source| VulnDbError::Write {
        path: path.to_owned(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    fs::write(&tmp, bytes).map_err(err)?;
    fs::rename(&tmp, path).map_err(err)
}

fn encode_index(index: &Index) -> Result<Vec<u8>, postcard::Error> {
    let mut bytes = INDEX_MAGIC.to_vec();
    bytes.extend_from_slice(&FORMAT.to_le_bytes());
    postcard::to_extend(index, bytes)
}

impl Db {
    /// Opens the database in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Db, VulnDbError> {
        let dir = dir.as_ref();
        let meta = read_meta(&dir.join(META_FILE))?;
        let index = read_index(&dir.join(INDEX_FILE))?;
        if index.source_of.len() != index.advisories.len() {
            return Err(corrupt(
                &dir.join(INDEX_FILE),
                "source_of and advisories differ in length",
            ));
        }
        Ok(Db::build(dir.to_owned(), meta, index))
    }

    fn build(dir: PathBuf, meta: Meta, index: Index) -> Db {
        let mut by_package: Vec<(String, PackageMap)> = Vec::new();
        for (ai, adv) in index.advisories.iter().enumerate() {
            if adv.withdrawn.is_some() {
                continue;
            }
            for (fi, aff) in adv.affected.iter().enumerate() {
                let name = match Ecosystem::from_osv(&aff.ecosystem) {
                    Some(eco) => eco.normalize_name(&aff.name).into_owned(),
                    None => aff.name.clone(),
                };
                let e = match by_package.iter().position(|(e, _)| *e == aff.ecosystem) {
                    Some(e) => e,
                    None => {
                        by_package.push((aff.ecosystem.clone(), PackageMap::default()));
                        by_package.len() - 1
                    }
                };
                by_package[e]
                    .1
                    .entry(name)
                    .or_default()
                    .push((ai as u32, fi as u32));
            }
        }
        Db {
            dir,
            meta,
            index,
            by_package,
        }
    }

    /// Imports `source` into the database in `db_dir` (created if needed), detecting its kind.
    pub fn import(
        db_dir: impl AsRef<Path>,
        source: impl AsRef<Path>,
    ) -> Result<ImportReport, VulnDbError> {
        Db::import_with(db_dir, source, None, &Limits::default(), Utc::now())
    }

    /// [`Db::import`] with an explicit kind, limits and clock.
    pub fn import_with(
        db_dir: impl AsRef<Path>,
        source: impl AsRef<Path>,
        kind: Option<SourceKind>,
        limits: &Limits,
        now: DateTime<Utc>,
    ) -> Result<ImportReport, VulnDbError> {
        let (db_dir, source) = (db_dir.as_ref(), source.as_ref());
        let source = std::path::absolute(source).map_err(|e| VulnDbError::Read {
            path: source.to_owned(),
            source: e,
        })?;
        let kind = match kind {
            Some(k) => k,
            None => detect(&source, limits)?,
        };
        let loaded = load(&source, kind, limits)?;

        let (mut meta, mut index) = match Db::open(db_dir) {
            Ok(db) => (db.meta, db.index),
            Err(VulnDbError::NotFound { .. }) => (Meta::default(), Index::default()),
            Err(e) => return Err(e),
        };
        let src_idx = match meta.sources.iter().position(|s| s.path == source) {
            Some(i) => i,
            None => {
                meta.sources.push(SourceMeta {
                    path: source.clone(),
                    kind,
                    imported_at: now,
                    advisories: 0,
                    errors: 0,
                    skipped: 0,
                });
                meta.sources.len() - 1
            }
        } as u32;
        // Drop what this source brought last time, and ids it brings now from other sources.
        let new_ids: std::collections::HashSet<&str> =
            loaded.advisories.iter().map(|a| a.id.as_str()).collect();
        let mut replaced = 0;
        let mut kept = Vec::with_capacity(index.advisories.len());
        let mut kept_src = Vec::with_capacity(index.advisories.len());
        for (adv, src) in index.advisories.into_iter().zip(index.source_of) {
            if src == src_idx {
                continue;
            }
            if new_ids.contains(adv.id.as_str()) {
                replaced += 1;
                continue;
            }
            kept.push(adv);
            kept_src.push(src);
        }
        let report_counts = (
            loaded.advisories.len(),
            loaded
                .advisories
                .iter()
                .filter(|a| a.withdrawn.is_some())
                .count(),
            loaded
                .advisories
                .iter()
                .filter(|a| a.informational.is_some())
                .count(),
        );
        kept_src.extend(std::iter::repeat_n(src_idx, loaded.advisories.len()));
        kept.extend(loaded.advisories);
        index = Index {
            advisories: kept,
            source_of: kept_src,
        };
        let entry = &mut meta.sources[src_idx as usize];
        entry.kind = kind;
        entry.imported_at = now;
        entry.advisories = report_counts.0;
        entry.errors = loaded.errors.len();
        entry.skipped = loaded.skipped;
        meta.format = FORMAT;

        fs::create_dir_all(db_dir).map_err(|e| VulnDbError::Write {
            path: db_dir.to_owned(),
            source: e,
        })?;
        // Index first: a crash between the two leaves the old meta, which still lists every
        // source the new index refers to or fewer.
        let index_path = db_dir.join(INDEX_FILE);
        let index_bytes = encode_index(&index).map_err(|e| VulnDbError::Write {
            path: index_path.clone(),
            source: std::io::Error::other(e),
        })?;
        write_atomic(&index_path, &index_bytes)?;
        let meta_bytes = serde_json::to_vec(&meta).map_err(|e| VulnDbError::Write {
            path: db_dir.join(META_FILE),
            source: std::io::Error::other(e),
        })?;
        write_atomic(&db_dir.join(META_FILE), &meta_bytes)?;
        Ok(ImportReport {
            source,
            kind,
            imported: report_counts.0,
            withdrawn: report_counts.1,
            informational: report_counts.2,
            replaced,
            duplicates: loaded.duplicates,
            skipped: loaded.skipped,
            errors: loaded.errors,
            notes: loaded.notes,
            total: index.advisories.len(),
        })
    }

    /// Advisories that apply to `name` at `version` in `ecosystem` (an OSV ecosystem name such
    /// as `crates.io`, `npm`, `PyPI`, `Go`). `is_registry` is false for git and path
    /// dependencies, which never match registry advisories. Each advisory appears once.
    pub fn matches(
        &self,
        ecosystem: &str,
        name: &str,
        version: &str,
        is_registry: bool,
    ) -> Vec<Match<'_>> {
        self.ecosystem(ecosystem)
            .matches(name, version, is_registry)
    }

    /// The advisories of one ecosystem, for matching many of its packages: [`Db::matches`]
    /// without looking the ecosystem up again for each.
    pub fn ecosystem(&self, ecosystem: &str) -> EcosystemAdvisories<'_> {
        EcosystemAdvisories {
            db: self,
            names: self
                .by_package
                .iter()
                .find(|(e, _)| e == ecosystem)
                .map(|(_, names)| names),
            eco: Ecosystem::from_osv(ecosystem),
        }
    }

    /// Every advisory held, withdrawn ones included.
    pub fn advisories(&self) -> &[Advisory] {
        &self.index.advisories
    }

    /// The advisory with this id, if held.
    pub fn get(&self, id: &str) -> Option<&Advisory> {
        self.index.advisories.iter().find(|a| a.id == id)
    }

    pub fn status(&self) -> Status {
        self.status_at(Utc::now())
    }

    /// [`Db::status`] with ages computed against `now`.
    pub fn status_at(&self, now: DateTime<Utc>) -> Status {
        let mut by_ecosystem: BTreeMap<String, usize> = BTreeMap::new();
        let mut held = vec![0usize; self.meta.sources.len()];
        for (adv, &src) in self.index.advisories.iter().zip(&self.index.source_of) {
            if let Some(h) = held.get_mut(src as usize) {
                *h += 1;
            }
            let mut ecos: Vec<&str> = adv.affected.iter().map(|a| a.ecosystem.as_str()).collect();
            ecos.sort_unstable();
            ecos.dedup();
            for eco in ecos {
                *by_ecosystem.entry(eco.to_owned()).or_default() += 1;
            }
        }
        let sources: Vec<SourceStatus> = self
            .meta
            .sources
            .iter()
            .zip(held)
            .map(|(meta, held)| SourceStatus {
                meta: meta.clone(),
                held,
                age_seconds: (now - meta.imported_at).num_seconds(),
            })
            .collect();
        Status {
            dir: self.dir.clone(),
            advisories: self.index.advisories.len(),
            withdrawn: self
                .index
                .advisories
                .iter()
                .filter(|a| a.withdrawn.is_some())
                .count(),
            informational: self
                .index
                .advisories
                .iter()
                .filter(|a| a.informational.is_some())
                .count(),
            by_ecosystem,
            newest_import_age_seconds: sources.iter().map(|s| s.age_seconds).min(),
            sources,
        }
    }
}

fn check_format(path: &Path, found: u32) -> Result<(), VulnDbError> {
    if found == FORMAT {
        Ok(())
    } else {
        Err(VulnDbError::Format {
            path: path.to_owned(),
            found,
            expected: FORMAT,
        })
    }
}
