//! The package model every lockfile parser produces, its package URL (purl), and the inventory of a
//! scan.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use crate::error::Error;

/// Package ecosystem, named as OSV names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ecosystem {
    CratesIo,
    Npm,
    PyPI,
    Go,
    /// Debian packages (dpkg database); OSV `Debian:N`.
    Debian,
    /// Ubuntu packages (dpkg database); OSV `Ubuntu:N[:LTS]`.
    Ubuntu,
    /// Alpine packages (apk database); OSV `Alpine:vX.Y`.
    Alpine,
    /// rpm packages of Red Hat Enterprise Linux; OSV `Red Hat:…` (product streams).
    RedHat,
    /// rpm packages of AlmaLinux; OSV `AlmaLinux:N`.
    AlmaLinux,
    /// rpm packages of Rocky Linux; OSV `Rocky Linux:N`.
    RockyLinux,
    /// rpm packages of openSUSE; OSV `openSUSE:Leap N.M`, `openSUSE:Tumbleweed`.
    OpenSuse,
    /// rpm packages of SUSE Linux Enterprise; OSV `SUSE:Linux Enterprise Server N SPM`.
    Suse,
    /// rpm packages of another distribution (Fedora, CentOS, …), listed but not matched.
    Rpm,
}

impl Ecosystem {
    /// The OSV `affected[].package.ecosystem` string.
    pub fn osv_name(self) -> &'static str {
        match self {
            Ecosystem::CratesIo => "crates.io",
            Ecosystem::Npm => "npm",
            Ecosystem::PyPI => "PyPI",
            Ecosystem::Go => "Go",
            Ecosystem::Debian => "Debian",
            Ecosystem::Ubuntu => "Ubuntu",
            Ecosystem::Alpine => "Alpine",
            Ecosystem::RedHat => "Red Hat",
            Ecosystem::AlmaLinux => "AlmaLinux",
            Ecosystem::RockyLinux => "Rocky Linux",
            Ecosystem::OpenSuse => "openSUSE",
            Ecosystem::Suse => "SUSE",
            Ecosystem::Rpm => "rpm",
        }
    }

    /// The purl type.
    pub fn purl_type(self) -> &'static str {
        match self {
            Ecosystem::CratesIo => "cargo",
            Ecosystem::Npm => "npm",
            Ecosystem::PyPI => "pypi",
            Ecosystem::Go => "golang",
            Ecosystem::Debian | Ecosystem::Ubuntu => "deb",
            Ecosystem::Alpine => "apk",
            Ecosystem::RedHat
            | Ecosystem::AlmaLinux
            | Ecosystem::RockyLinux
            | Ecosystem::OpenSuse
            | Ecosystem::Suse
            | Ecosystem::Rpm => "rpm",
        }
    }
}

/// What an operating-system package database adds to a [`Package`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OsPackage {
    /// `amd64`, `x86_64`, `all`, … as the database records it.
    pub arch: Option<String>,
    /// The source package (dpkg `Source:`, apk `o:` origin) and its version when it differs from
    /// the binary package's: distribution advisories name source packages.
    pub source_name: String,
    pub source_version: String,
    /// The OSV ecosystem with its release (`Debian:12`, `Alpine:v3.19`, `Ubuntu:22.04:LTS`);
    /// `None` when the root's os-release does not name a release, and then nothing matches.
    pub osv_ecosystem: Option<String>,
    /// The purl `distro` qualifier (`debian-12`, `3.19.1`).
    pub purl_distro: Option<String>,
}

/// Where a package comes from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// A package registry; `url` is set when the lockfile names one other than the ecosystem's default.
    Registry { url: Option<String> },
    /// A git repository at a revision (commit where the lockfile pins one).
    Git { url: String, rev: Option<String> },
    /// A local directory or archive named by the lockfile.
    Path(String),
    /// Not from a registry, git or a URL, and the lockfile records no location: a Cargo workspace
    /// member or path dependency.
    Local,
    /// A member of the project's own workspace (npm/yarn/pnpm workspaces).
    Workspace(String),
    /// An archive downloaded from a URL outside any registry.
    Url(String),
}

impl Source {
    /// Short name of the variant, for reports and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Registry { .. } => "registry",
            Source::Git { .. } => "git",
            Source::Path(_) => "path",
            Source::Local => "local",
            Source::Workspace(_) => "workspace",
            Source::Url(_) => "url",
        }
    }
}

/// Digest algorithm of a [`Checksum`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HashAlg {
    Sha1,
    Sha256,
    Sha512,
}

impl HashAlg {
    fn hex_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 40,
            HashAlg::Sha256 => 64,
            HashAlg::Sha512 => 128,
        }
    }
}

/// A digest of a package artifact, lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Checksum {
    pub alg: HashAlg,
    pub hex: String,
}

impl Checksum {
    /// A checksum from hex, `None` unless it has the right length and only hex digits.
    pub fn from_hex(alg: HashAlg, hex: &str) -> Option<Checksum> {
        let hex = hex.trim();
        (hex.len() == alg.hex_len() && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| {
            Checksum {
                alg,
                hex: hex.to_ascii_lowercase(),
            }
        })
    }

    /// [`Checksum::from_hex`] keeping the string it is given.
    pub(crate) fn from_hex_owned(alg: HashAlg, mut hex: String) -> Option<Checksum> {
        if hex.trim().len() != hex.len() {
            return Checksum::from_hex(alg, &hex);
        }
        let ok = hex.len() == alg.hex_len() && hex.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| {
            hex.make_ascii_lowercase();
            Checksum { alg, hex }
        })
    }

    /// `sha256:HEX` (pip, poetry, uv).
    pub(crate) fn from_prefixed_hex(s: &str) -> Option<Checksum> {
        let (alg, hex) = s.split_once(':')?;
        let alg = match alg {
            "sha1" => HashAlg::Sha1,
            "sha256" => HashAlg::Sha256,
            "sha512" => HashAlg::Sha512,
            _ => return None,
        };
        Checksum::from_hex(alg, hex)
    }

    /// Subresource-integrity strings (`sha512-BASE64 sha1-BASE64`), as npm, yarn and pnpm write them.
    pub(crate) fn from_sri(s: &str) -> Vec<Checksum> {
        s.split_whitespace()
            .filter_map(|part| {
                let (alg, b64) = part.split_once('-')?;
                let alg = match alg {
                    "sha1" => HashAlg::Sha1,
                    "sha256" => HashAlg::Sha256,
                    "sha512" => HashAlg::Sha512,
                    _ => return None,
                };
                let bytes = base64_decode(b64)?;
                let mut hex = String::with_capacity(bytes.len() * 2);
                for b in bytes {
                    let _ = write!(hex, "{b:02x}");
                }
                Checksum::from_hex(alg, &hex)
            })
            .collect()
    }
}

/// Standard base64 with optional padding; `None` on any other byte.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The lockfile of a package not yet given one (parsers work before the caller sets it).
fn no_lockfile() -> Arc<Path> {
    static EMPTY: LazyLock<Arc<Path>> = LazyLock::new(|| Arc::from(Path::new("")));
    Arc::clone(&EMPTY)
}

/// One package version as a lockfile records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub ecosystem: Ecosystem,
    /// The package's real name (an npm alias resolves to the aliased package).
    pub name: String,
    pub version: String,
    pub source: Source,
    pub checksums: Vec<Checksum>,
    /// Needed only for development (npm `dev`, poetry `category = "dev"`, uv/pnpm dev-only graph).
    pub dev: bool,
    pub optional: bool,
    /// Shipped inside another package's tarball (npm `bundled`/`inBundle`).
    pub bundled: bool,
    /// Marked indirect by the lockfile (go.mod `// indirect`); false when the format does not say.
    pub indirect: bool,
    /// Ids ([`Package::id`]) of the packages this one depends on, `None` where the format does not
    /// record dependencies. Only dependencies found in the same lockfile are listed.
    pub dependencies: Option<Vec<String>>,
    /// The lockfile it was read from, shared by all the packages of that file.
    pub lockfile: Arc<Path>,
    /// Set for packages of an operating-system package database.
    pub os: Option<Box<OsPackage>>,
}

impl Package {
    pub(crate) fn new(ecosystem: Ecosystem, name: &str, version: &str, source: Source) -> Package {
        Package::from_owned(ecosystem, name.to_owned(), version.to_owned(), source)
    }

    /// [`Package::new`] taking the strings it keeps.
    pub(crate) fn from_owned(
        ecosystem: Ecosystem,
        name: String,
        version: String,
        source: Source,
    ) -> Package {
        Package {
            ecosystem,
            name,
            version,
            source,
            checksums: Vec::new(),
            dev: false,
            optional: false,
            bundled: false,
            indirect: false,
            dependencies: None,
            lockfile: no_lockfile(),
            os: None,
        }
    }

    /// Comes from a package registry, so registry advisories apply to it.
    pub fn is_registry(&self) -> bool {
        matches!(self.source, Source::Registry { .. })
    }

    /// The OSV ecosystem to match in (with its release for OS packages), `None` when unknown.
    pub fn osv_ecosystem(&self) -> Option<&str> {
        match &self.os {
            Some(os) => os.osv_ecosystem.as_deref(),
            None => Some(self.ecosystem.osv_name()),
        }
    }

    /// The name and version advisories are matched on: the source package's for OS packages.
    pub fn match_key(&self) -> (&str, &str) {
        match &self.os {
            Some(os) => (&os.source_name, &os.source_version),
            None => (&self.name, &self.version),
        }
    }

    /// Identity of the package within an inventory: its purl (which carries the source for git,
    /// non-default registries and URLs).
    pub fn id(&self) -> String {
        self.purl()
    }

    /// The package URL (<https://github.com/package-url/purl-spec>).
    pub fn purl(&self) -> String {
        let mut out = format!("pkg:{}/", self.ecosystem.purl_type());
        match self.ecosystem {
            Ecosystem::Npm => {
                let name = self.name.to_ascii_lowercase();
                match name.strip_prefix('@').and_then(|n| n.split_once('/')) {
                    Some((scope, name)) => {
                        out.push_str("%40");
                        encode_into(&mut out, scope);
                        out.push('/');
                        encode_into(&mut out, name);
                    }
                    None => encode_into(&mut out, &name),
                }
            }
            Ecosystem::PyPI => encode_into(&mut out, &normalize_pypi_name(&self.name)),
            Ecosystem::CratesIo => encode_into(&mut out, &self.name),
            Ecosystem::Debian | Ecosystem::Ubuntu | Ecosystem::Alpine => {
                out.push_str(match self.ecosystem {
                    Ecosystem::Debian => "debian/",
                    Ecosystem::Ubuntu => "ubuntu/",
                    _ => "alpine/",
                });
                encode_into(&mut out, &self.name);
            }
            Ecosystem::RedHat
            | Ecosystem::AlmaLinux
            | Ecosystem::RockyLinux
            | Ecosystem::OpenSuse
            | Ecosystem::Suse
            | Ecosystem::Rpm => {
                out.push_str(match self.ecosystem {
                    Ecosystem::RedHat => "redhat/",
                    Ecosystem::AlmaLinux => "almalinux/",
                    Ecosystem::RockyLinux => "rocky/",
                    Ecosystem::OpenSuse => "opensuse/",
                    Ecosystem::Suse => "suse/",
                    _ => "",
                });
                encode_into(&mut out, &self.name);
            }
            Ecosystem::Go => {
                for (i, seg) in self.name.split('/').filter(|s| !s.is_empty()).enumerate() {
                    if i > 0 {
                        out.push('/');
                    }
                    encode_into(&mut out, seg);
                }
            }
        }
        // purl-spec's rpm type: the epoch is a qualifier (left out when 0), not part of the
        // version.
        let (epoch, version) = match self.ecosystem.purl_type() {
            "rpm" => match self.version.split_once(':') {
                Some((e, v)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
                    (Some(e), v)
                }
                _ => (None, self.version.as_str()),
            },
            _ => (None, self.version.as_str()),
        };
        if !version.is_empty() {
            out.push('@');
            encode_into(&mut out, version);
        }
        let mut qualifiers = BTreeMap::new();
        if let Some(e) = epoch.filter(|e| !e.trim_start_matches('0').is_empty()) {
            qualifiers.insert("epoch", e.to_owned());
        }
        match &self.source {
            Source::Registry { url: Some(url) } => {
                qualifiers.insert("repository_url", url.clone());
            }
            Source::Git { url, rev } => {
                let vcs = match rev {
                    Some(rev) => format!("{url}@{rev}"),
                    None => url.clone(),
                };
                qualifiers.insert("vcs_url", vcs);
            }
            Source::Url(url) => {
                qualifiers.insert("download_url", url.clone());
            }
            _ => {}
        }
        if let Some(os) = &self.os {
            if let Some(arch) = &os.arch {
                qualifiers.insert("arch", arch.clone());
            }
            if let Some(distro) = &os.purl_distro {
                qualifiers.insert("distro", distro.clone());
            }
        }
        for (i, (k, v)) in qualifiers.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(k);
            out.push('=');
            encode_into(&mut out, v);
        }
        out
    }
}

/// PEP 503 normalisation: lower case, runs of `-`, `_` and `.` become one `-`.
pub(crate) fn normalize_pypi_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Percent-encodes everything but the purl spec's unreserved characters.
fn encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// A line of a lockfile that names a package the parser deliberately did not guess at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub line: Option<usize>,
    pub text: String,
    pub reason: &'static str,
}

/// What happened to one lockfile of a scan.
#[derive(Debug)]
pub struct LockfileReport {
    pub path: PathBuf,
    /// Packages it contributed (after de-duplication within the file).
    pub packages: usize,
    pub skipped: Vec<Skipped>,
    /// Why it contributed nothing, if it failed.
    pub error: Option<Error>,
}

/// The packages found under a scan's directories.
#[derive(Debug, Default)]
pub struct Inventory {
    pub scan_dirs: Vec<PathBuf>,
    pub lockfiles: Vec<LockfileReport>,
    /// Directories that could not be walked.
    pub walk_errors: Vec<Error>,
    /// Entries passed over for safety or size (FIFOs, links out of the root, …), per reason.
    pub skipped_entries: crate::tree::SkipCounts,
    /// Sorted by ecosystem, name, version and source; one entry per package per lockfile.
    pub packages: Vec<Package>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purl(eco: Ecosystem, name: &str, version: &str, source: Source) -> String {
        Package::new(eco, name, version, source).purl()
    }

    #[test]
    fn purls() {
        let reg = || Source::Registry { url: None };
        let cases = [
            (
                Ecosystem::Npm,
                "@babel/core",
                "7.0.0",
                reg(),
                "pkg:npm/%40babel/core@7.0.0",
            ),
            (
                Ecosystem::Npm,
                "lodash",
                "4.17.21",
                reg(),
                "pkg:npm/lodash@4.17.21",
            ),
            (
                Ecosystem::CratesIo,
                "serde",
                "1.0.0",
                reg(),
                "pkg:cargo/serde@1.0.0",
            ),
            (
                Ecosystem::PyPI,
                "Django_REST.framework",
                "3.0",
                reg(),
                "pkg:pypi/django-rest-framework@3.0",
            ),
            (
                Ecosystem::Go,
                "github.com/a/b/v2",
                "v2.0.0+incompatible",
                reg(),
                "pkg:golang/github.com/a/b/v2@v2.0.0%2Bincompatible",
            ),
            (
                Ecosystem::Npm,
                "x",
                "1.0.0-rc.1",
                reg(),
                "pkg:npm/x@1.0.0-rc.1",
            ),
            (
                Ecosystem::CratesIo,
                "g",
                "0.1.0",
                Source::Git {
                    url: "https://h/r".into(),
                    rev: Some("abc".into()),
                },
                "pkg:cargo/g@0.1.0?vcs_url=https%3A%2F%2Fh%2Fr%40abc",
            ),
            (
                Ecosystem::PyPI,
                "p",
                "1",
                Source::Registry {
                    url: Some("https://i/simple".into()),
                },
                "pkg:pypi/p@1?repository_url=https%3A%2F%2Fi%2Fsimple",
            ),
        ];
        for (eco, name, version, source, want) in cases {
            assert_eq!(purl(eco, name, version, source), want, "{name}");
        }
    }

    #[test]
    fn sri_to_hex() {
        let c = Checksum::from_sri("sha1-3q2+7w== sha512-bogus!");
        assert!(c.is_empty(), "a 4-byte digest is not a sha1: {c:?}");
        let c = Checksum::from_sri("sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
        assert_eq!(
            c,
            vec![Checksum {
                alg: HashAlg::Sha1,
                hex: "da39a3ee5e6b4b0d3255bfef95601890afd80709".into()
            }]
        );
    }

    #[test]
    fn pypi_names() {
        assert_eq!(normalize_pypi_name("Foo__Bar.baz"), "foo-bar-baz");
        assert_eq!(normalize_pypi_name("zope.interface"), "zope-interface");
    }
}
