//! Entry points for the fuzz targets in the root `fuzz/` crate: the lockfile parsers, which are
//! private to this crate. Not part of the supported API.

use std::path::Path;

use crate::error::Error;
use crate::lockfile::{Format, parse_text};

/// Parses `text` as a lockfile of `format`: the number of packages read and of lines skipped.
pub fn lockfile(format: Format, text: &str) -> Result<(usize, usize), Error> {
    let parsed = parse_text(format, Path::new("fuzz.lock"), text)?;
    Ok((parsed.packages.len(), parsed.skipped.len()))
}

/// Whether the streaming `Cargo.lock` reader, when it accepts `text`, reads what the TOML parser
/// reads.
pub fn cargo_fast_path_agrees(text: &str) -> bool {
    crate::lockfile::cargo_fast_agrees_with_toml(text)
}
