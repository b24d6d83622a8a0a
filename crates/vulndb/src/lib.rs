//! ironpost-vulndb: an offline vulnerability database in OSV terms.
//!
//! - [`Db::import`] reads a RustSec advisory-db checkout (native TOML-in-markdown, converted
//!   to OSV ranges as RustSec's own export does), a directory of OSV JSON, or a zip of OSV JSON
//!   (osv.dev per-ecosystem dumps), and stores a compact index under a directory.
//! - [`Db::open`] loads it and indexes it by (ecosystem, package name); [`Db::matches`]
//!   evaluates OSV ranges for one package version; [`Db::status`] lists sources, counts, ages.
//! - [`version`] orders versions per ecosystem (Cargo/npm SemVer, PEP 440, Go).
//! - Severity comes from CVSS v3/v4 vectors or `database_specific`; RustSec informational
//!   advisories (unmaintained, unsound, notice) are warnings ([`FindingKind::Warning`]).
//!
//! Architecture invariant: depends on `ironpost-core` only; lockfile parsing lives in the
//! sbom-scanner, which hands this crate (ecosystem, name, version, is_registry) tuples.

pub mod advisory;
mod db;
mod error;
#[doc(hidden)]
pub mod fuzz;
mod import;
pub mod osv;
pub mod rustsec;
pub mod severity;
pub mod version;

pub use advisory::{
    Advisory, Affected, Event, FindingKind, Informational, Range, RangeKind, ScoreSource,
    SeverityScore,
};
pub use db::{Db, EcosystemAdvisories, ImportReport, Match, SourceMeta, SourceStatus, Status};
pub use error::{EntryError, EntryErrorKind, VulnDbError};
pub use import::{EntryNote, Limits, SourceKind};
