//! Operating-system package databases of a root filesystem: dpkg (`var/lib/dpkg/status`, and the
//! `var/lib/dpkg/status.d/` files of distroless images), apk (`lib/apk/db/installed`), with the
//! distribution named by `etc/os-release` (or `usr/lib/os-release`).
//!
//! A scan directory is treated as a root filesystem when one of those databases sits at its
//! top; the databases are read like lockfiles (same size and package limits, errors naming the
//! file and line). Distribution advisories name source packages, so each package records its
//! source (dpkg `Source:`, apk `o:`) and the OSV ecosystem of its release (`Debian:12`,
//! `Ubuntu:22.04:LTS`, `Alpine:v3.19`). Ubuntu Pro records (`Ubuntu:Pro:…`, fixes shipped only to
//! Pro subscribers) are not matched. rpm's SQLite database (`var/lib/rpm/rpmdb.sqlite`, or
//! `usr/lib/sysimage/rpm/rpmdb.sqlite`) is read too (`rpm.rs`); the older Berkeley DB and ndb
//! formats are not.

pub(crate) mod apk;
pub(crate) mod dpkg;
pub mod rpm;

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::lockfile::Parsed;
use crate::package::Ecosystem;
use crate::tree::{Kind, OpenError, SkipCounts, SkipReason, Tree, read_text};

/// The distribution of a root, from os-release.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease {
    pub id: String,
    pub version_id: Option<String>,
    pub version_codename: Option<String>,
    /// `VERSION`, whose `LTS` marks Ubuntu's long-term releases.
    pub version: Option<String>,
}

impl OsRelease {
    /// Parses os-release(5): `KEY=value` lines, values optionally in single or double quotes,
    /// `#` comments. Unknown keys are ignored; a line that is not an assignment is an error.
    pub fn parse(path: &Path, text: &str) -> Result<OsRelease, Error> {
        let mut out = OsRelease::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(Error::Invalid {
                    path: path.to_owned(),
                    line: Some(i + 1),
                    reason: "not a KEY=value assignment".into(),
                });
            };
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value)
                .to_owned();
            match key.trim() {
                "ID" => out.id = value,
                "VERSION_ID" => out.version_id = Some(value),
                "VERSION_CODENAME" => out.version_codename = Some(value),
                "VERSION" => out.version = Some(value),
                _ => {}
            }
        }
        Ok(out)
    }

    /// The package ecosystem of a dpkg database on this distribution (Ubuntu, else Debian).
    pub fn dpkg_ecosystem(&self) -> Ecosystem {
        if self.id == "ubuntu" {
            Ecosystem::Ubuntu
        } else {
            Ecosystem::Debian
        }
    }

    /// The OSV ecosystem with release, `None` when os-release does not give the release or names
    /// another distribution than the database's.
    pub fn osv_ecosystem(&self, eco: Ecosystem) -> Option<String> {
        let v = self.version_id.as_deref().filter(|v| !v.is_empty())?;
        match (eco, self.id.as_str()) {
            (Ecosystem::Debian, "debian") => Some(format!("Debian:{v}")),
            (Ecosystem::Ubuntu, "ubuntu") => {
                let lts = self.version.as_deref().is_some_and(|v| v.contains("LTS"));
                Some(format!("Ubuntu:{v}{}", if lts { ":LTS" } else { "" }))
            }
            (Ecosystem::Alpine, "alpine") => {
                let mut parts = v.split('.');
                let (major, minor) = (parts.next()?, parts.next()?);
                Some(format!("Alpine:v{major}.{minor}"))
            }
            _ => None,
        }
    }

    /// The purl `distro` qualifier: `debian-12`, `ubuntu-22.04`, Alpine's full `3.19.1`.
    pub fn purl_distro(&self) -> Option<String> {
        let v = self.version_id.as_deref().filter(|v| !v.is_empty())?;
        match self.id.as_str() {
            "alpine" => Some(v.to_owned()),
            "" => None,
            id => Some(format!("{id}-{v}")),
        }
    }
}

/// Paths of the package databases at the top of a root filesystem.
pub(crate) const DPKG_STATUS: &str = "var/lib/dpkg/status";
pub(crate) const DPKG_STATUS_D: &str = "var/lib/dpkg/status.d";
pub(crate) const APK_INSTALLED: &str = "lib/apk/db/installed";
pub(crate) const OS_RELEASE: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];
pub(crate) const RPMDB: [&str; 2] = [
    "var/lib/rpm/rpmdb.sqlite",
    "usr/lib/sysimage/rpm/rpmdb.sqlite",
];
/// Largest `rpmdb.sqlite` read from a tree (held in memory while it is read).
pub(crate) const MAX_RPMDB_BYTES: u64 = 256 * 1024 * 1024;

/// Whether a scanner reads the file at `rel` (a root-relative path) as a package database or
/// os-release; image trees keep the content of these.
pub(crate) fn wanted(rel: &str) -> bool {
    rel == DPKG_STATUS
        || rel == APK_INSTALLED
        || OS_RELEASE.contains(&rel)
        || RPMDB.contains(&rel)
        || rel
            .strip_prefix(DPKG_STATUS_D)
            .and_then(|r| r.strip_prefix('/'))
            .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// The package databases found at the top of `tree`, each (named as the tree shows it) with what
/// parsing it gave. Entries passed over for safety are counted in `skips`.
pub(crate) fn inventory_root(
    tree: &dyn Tree,
    skips: &mut SkipCounts,
) -> Vec<(PathBuf, Result<Parsed, Error>)> {
    let mut found = Vec::new();
    let mut files: Vec<(PathBuf, bool)> = vec![(PathBuf::from(DPKG_STATUS), false)];
    let status_d = Path::new(DPKG_STATUS_D);
    if tree.kind(status_d) == Some(Kind::Dir) {
        match tree.read_dir(status_d) {
            Ok(entries) => {
                let mut paths: Vec<PathBuf> = entries
                    .into_iter()
                    .filter(|e| e.kind != Kind::Dir)
                    // distroless also writes `NAME.md5sums` beside each stanza file.
                    .filter(|e| !e.name.ends_with(".md5sums"))
                    .map(|e| status_d.join(e.name))
                    .collect();
                paths.sort();
                files.extend(paths.into_iter().map(|p| (p, true)));
            }
            Err(source) => found.push((
                tree.display(status_d),
                Err(Error::Io {
                    path: tree.display(status_d),
                    source,
                }),
            )),
        }
    }
    // Read first (a missing or skipped one gives nothing), then parsed with the release.
    let texts: Vec<(PathBuf, Option<bool>, Result<String, Error>)> = files
        .into_iter()
        .map(|(rel, distroless)| (rel, Some(distroless)))
        .chain([(PathBuf::from(APK_INSTALLED), None)])
        .filter_map(|(rel, kind)| {
            let text = read_text(tree, &rel, skips)?;
            Some((tree.display(&rel), kind, text))
        })
        .collect();
    let rpmdb = RPMDB.iter().find_map(|rel| {
        let rel = Path::new(rel);
        let shown = tree.display(rel);
        match tree.open(rel, MAX_RPMDB_BYTES) {
            Ok(o) => Some((
                shown.clone(),
                o.read_all(MAX_RPMDB_BYTES).map_err(|source| Error::Io {
                    path: shown,
                    source,
                }),
            )),
            Err(OpenError::Missing) => None,
            Err(OpenError::Skipped(r)) => {
                skips.add(r);
                None
            }
            Err(OpenError::TooLarge(size)) => {
                skips.add(SkipReason::TooLarge);
                Some((
                    shown.clone(),
                    Err(Error::TooLarge {
                        path: shown,
                        size,
                        limit: MAX_RPMDB_BYTES,
                    }),
                ))
            }
            Err(OpenError::Io(source)) => Some((
                shown.clone(),
                Err(Error::Io {
                    path: shown,
                    source,
                }),
            )),
        }
    });
    if texts.is_empty() && rpmdb.is_none() {
        return found;
    }
    let os = match read_os_release(tree, skips) {
        Ok(os) => Some(os),
        Err((path, e)) => {
            found.push((path, Err(e)));
            None
        }
    };
    let os_ref = os.as_ref();
    for (path, kind, text) in texts {
        let parsed = text
            .and_then(|text| match kind {
                Some(distroless) => dpkg::parse(&path, &text, distroless, os_ref),
                None => apk::parse(&path, &text, os_ref),
            })
            .and_then(|p| crate::lockfile::finish(&path, p));
        found.push((path, parsed));
    }
    if let Some((path, bytes)) = rpmdb {
        let parsed = bytes
            .and_then(|b| rpm::parse_db_bytes(&path, &b, os_ref))
            .map(|db| Parsed {
                packages: db.packages,
                skipped: db.skipped,
            });
        found.push((path, parsed));
    }
    found
}

/// The root's os-release; a missing one is an empty [`OsRelease`] (no release known).
fn read_os_release(tree: &dyn Tree, skips: &mut SkipCounts) -> Result<OsRelease, (PathBuf, Error)> {
    for rel in OS_RELEASE {
        let rel = Path::new(rel);
        if let Some(text) = read_text(tree, rel, skips) {
            let path = tree.display(rel);
            return text
                .and_then(|text| OsRelease::parse(&path, &text))
                .map_err(|e| (path, e));
        }
    }
    Ok(OsRelease::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(text: &str) -> OsRelease {
        OsRelease::parse(Path::new("os-release"), text).expect("valid os-release")
    }

    #[test]
    fn osv_ecosystems_and_purl_distros() {
        let deb = os("ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n");
        assert_eq!(
            deb.osv_ecosystem(Ecosystem::Debian).as_deref(),
            Some("Debian:12")
        );
        assert_eq!(deb.purl_distro().as_deref(), Some("debian-12"));
        let lts =
            os("ID=ubuntu\nVERSION_ID=\"22.04\"\nVERSION=\"22.04.4 LTS (Jammy Jellyfish)\"\n");
        assert_eq!(lts.dpkg_ecosystem(), Ecosystem::Ubuntu);
        assert_eq!(
            lts.osv_ecosystem(Ecosystem::Ubuntu).as_deref(),
            Some("Ubuntu:22.04:LTS")
        );
        let interim = os("ID=ubuntu\nVERSION_ID='23.10'\nVERSION=\"23.10 (Mantic Minotaur)\"\n");
        assert_eq!(
            interim.osv_ecosystem(Ecosystem::Ubuntu).as_deref(),
            Some("Ubuntu:23.10")
        );
        let alpine = os("ID=alpine\nVERSION_ID=3.19.1\n");
        assert_eq!(
            alpine.osv_ecosystem(Ecosystem::Alpine).as_deref(),
            Some("Alpine:v3.19")
        );
        assert_eq!(alpine.purl_distro().as_deref(), Some("3.19.1"));
        // Debian testing/sid has no VERSION_ID: no release, nothing matches.
        let sid = os("ID=debian\nVERSION_CODENAME=trixie\n");
        assert_eq!(sid.osv_ecosystem(Ecosystem::Debian), None);
        // A dpkg database on a distribution that is neither.
        assert_eq!(
            os("ID=mint\nVERSION_ID=21\n").osv_ecosystem(Ecosystem::Debian),
            None
        );
        let e = OsRelease::parse(Path::new("os-release"), "ID=debian\nbroken\n").expect_err("bad");
        assert_eq!(e.to_string(), "os-release:2: not a KEY=value assignment");
    }
}
