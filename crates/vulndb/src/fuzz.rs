//! Entry points for the fuzz targets in the root `fuzz/` crate: in-memory forms of readers that
//! otherwise take a path. Not part of the supported API.

use std::path::Path;

use crate::error::VulnDbError;
use crate::import::{Limits, Loaded, load_zip_from};

/// Reads `bytes` as an OSV zip import does (default [`Limits`]): the number of advisories read
/// and of entries rejected.
pub fn import_zip(bytes: &[u8]) -> Result<(usize, usize), VulnDbError> {
    let loaded = load_zip_from(
        Path::new("fuzz.zip"),
        std::io::Cursor::new(bytes),
        &Limits::default(),
        Loaded::default(),
        |l: &mut Loaded, adv| l.advisories.push(adv),
    )?;
    Ok((loaded.advisories.len(), loaded.errors.len()))
}
