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

/// Parses `text` as a dpkg status file (`distroless`: one `status.d/` file) of a Debian 12 root:
/// the packages read, each with a purl and a source package.
pub fn dpkg_status(text: &str, distroless: bool) -> Result<usize, Error> {
    let os = crate::os::OsRelease::parse(Path::new("os-release"), "ID=debian\nVERSION_ID=12\n")?;
    let path = Path::new("status");
    let parsed = crate::os::dpkg::parse(path, text, distroless, Some(&os))?;
    let parsed = crate::lockfile::finish(path, parsed)?;
    for p in &parsed.packages {
        let _ = p.purl();
        let _ = p.match_key();
    }
    Ok(parsed.packages.len())
}

/// Parses `text` as an apk `installed` database of an Alpine 3.19 root.
pub fn apk_installed(text: &str) -> Result<usize, Error> {
    let os =
        crate::os::OsRelease::parse(Path::new("os-release"), "ID=alpine\nVERSION_ID=3.19.1\n")?;
    let path = Path::new("installed");
    let parsed = crate::os::apk::parse(path, text, Some(&os))?;
    let parsed = crate::lockfile::finish(path, parsed)?;
    for p in &parsed.packages {
        let _ = p.purl();
    }
    Ok(parsed.packages.len())
}
