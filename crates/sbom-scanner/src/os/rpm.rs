//! rpm's package database in its SQLite form (`var/lib/rpm/rpmdb.sqlite`, the default since rpm
//! 4.16: Fedora 33+, RHEL/AlmaLinux/Rocky 9, openSUSE Tumbleweed). The `Packages` table holds one
//! row per installed package, `hnum` and `blob`; the blob is the package's header as rpm stores
//! it: a big-endian index count `il` and data length `dl`, `il` 16-byte index entries (tag, type,
//! offset, count) and `dl` bytes of data. [`parse_header`] reads the tags this scanner needs from
//! it with every offset and count checked against the blob: NAME (1000), VERSION (1001),
//! RELEASE (1002), EPOCH (1003), VENDOR (1011), ARCH (1022), SOURCERPM (1044),
//! MODULARITYLABEL (5096).
//!
//! The database is opened read-only and immutable (no journal, WAL or lock files are created in
//! the scanned root; a WAL file beside it is not read, so a database rpm left mid-transaction is
//! read as of its last checkpoint — rpm checkpoints when it closes), `Packages` must be a table
//! (a view could run any query), and a header that does not parse is skipped and reported, not
//! fatal. Packages are de-duplicated on (name, version): multilib pairs of one version (`glibc`
//! for `x86_64` and `i686`) are one package, with one of the two arches. `gpg-pubkey` entries
//! (imported signing keys, not software) are skipped.
//!
//! Advisories for rpm distributions (Red Hat, AlmaLinux, Rocky Linux, SUSE, openSUSE) name binary
//! packages with `[epoch:]version-release` versions, so each package is matched on its own name
//! and full version. [`parse_header`] also reads the source rpm ([`RpmHeader::source_rpm`],
//! [`RpmHeader::source_name`]); the packages of [`parse_db`] do not carry it.

use std::path::Path;

use super::OsRelease;
use crate::error::{Error, MAX_PACKAGES};
use crate::lockfile::Parsed;
use crate::package::{Ecosystem, OsPackage, Package, Skipped, Source};

/// Largest database opened, in bytes (a RHEL host with a few thousand packages has tens of MiB).
pub const MAX_DB_BYTES: u64 = 1024 * 1024 * 1024;
/// Largest header blob read (rpm's own limit on a header's data is 256 MiB; real ones, file
/// lists included, stay under a few MiB).
pub const MAX_HEADER_BYTES: usize = 64 * 1024 * 1024;
/// Most index entries in one header (rpm refuses more than 0xffff).
const MAX_INDEX: usize = 0xffff;
/// Longest string value kept.
const MAX_VALUE: usize = 1024;

const TAG_NAME: i32 = 1000;
const TAG_VERSION: i32 = 1001;
const TAG_RELEASE: i32 = 1002;
const TAG_EPOCH: i32 = 1003;
const TAG_VENDOR: i32 = 1011;
const TAG_ARCH: i32 = 1022;
const TAG_SOURCERPM: i32 = 1044;
const TAG_MODULARITYLABEL: i32 = 5096;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_I18NSTRING: u32 = 9;

/// What one header says about its package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RpmHeader {
    pub name: String,
    pub version: String,
    pub release: String,
    pub epoch: Option<u32>,
    pub arch: Option<String>,
    pub vendor: Option<String>,
    /// `openssl-3.0.7-24.el9.src.rpm`.
    pub source_rpm: Option<String>,
    /// Set for packages of a module stream (`nodejs:18:…`).
    pub modularity_label: Option<String>,
}

impl RpmHeader {
    /// `[epoch:]version-release`, as advisories write rpm versions.
    pub fn evr(&self) -> String {
        match self.epoch {
            Some(e) => format!("{e}:{}-{}", self.version, self.release),
            None => format!("{}-{}", self.version, self.release),
        }
    }

    /// The source package's name, from `SOURCERPM` (`name-version-release.src.rpm`).
    pub fn source_name(&self) -> Option<&str> {
        let s = self.source_rpm.as_deref()?;
        let s = s
            .strip_suffix(".src.rpm")
            .or_else(|| s.strip_suffix(".nosrc.rpm"))?;
        let (rest, _release) = s.rsplit_once('-')?;
        let (name, _version) = rest.rsplit_once('-')?;
        (!name.is_empty()).then_some(name)
    }
}

/// Parses one header blob (`il`, `dl`, index, data). The error says which check failed.
pub fn parse_header(blob: &[u8]) -> Result<RpmHeader, &'static str> {
    if blob.len() > MAX_HEADER_BYTES {
        return Err("header over the size limit");
    }
    let be32 = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(
            blob.get(at..at.checked_add(4)?)?.try_into().ok()?,
        ))
    };
    let il = be32(0).ok_or("header shorter than 8 bytes")? as usize;
    let dl = be32(4).ok_or("header shorter than 8 bytes")? as usize;
    if il == 0 || il > MAX_INDEX {
        return Err("index entry count is 0 or over 65535");
    }
    let data_start = il
        .checked_mul(16)
        .and_then(|n| n.checked_add(8))
        .ok_or("index overflows")?;
    if data_start.checked_add(dl) != Some(blob.len()) {
        return Err("index and data lengths do not add up to the header's size");
    }
    let data = &blob[data_start..];
    let mut out = RpmHeader::default();
    let (mut name, mut version, mut release) = (None, None, None);
    for i in 0..il {
        let at = 8 + i * 16;
        let (Some(tag), Some(kind), Some(offset), Some(count)) =
            (be32(at), be32(at + 4), be32(at + 8), be32(at + 12))
        else {
            return Err("index entry outside the header");
        };
        let tag = tag as i32;
        let offset = offset as usize;
        let string = || -> Result<String, &'static str> {
            if kind != TYPE_STRING && kind != TYPE_I18NSTRING {
                return Err("a string tag of another type");
            }
            let rest = data.get(offset..).ok_or("string offset outside the data")?;
            let end = memchr::memchr(0, rest).ok_or("string not NUL-terminated")?;
            if end > MAX_VALUE {
                return Err("string over 1024 bytes");
            }
            String::from_utf8(rest[..end].to_vec()).map_err(|_| "string is not UTF-8")
        };
        match tag {
            TAG_NAME => name = Some(string()?),
            TAG_VERSION => version = Some(string()?),
            TAG_RELEASE => release = Some(string()?),
            TAG_ARCH => out.arch = Some(string()?),
            TAG_VENDOR => out.vendor = Some(string()?),
            TAG_SOURCERPM => out.source_rpm = Some(string()?),
            TAG_MODULARITYLABEL => out.modularity_label = Some(string()?),
            TAG_EPOCH => {
                if kind != TYPE_INT32 || count != 1 || !offset.is_multiple_of(4) {
                    return Err("EPOCH is not one aligned INT32");
                }
                let v = offset
                    .checked_add(4)
                    .and_then(|end| data.get(offset..end))
                    .ok_or("EPOCH outside the data")?;
                out.epoch = Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
            }
            _ => {}
        }
    }
    let non_empty = |v: Option<String>, what| v.filter(|s| !s.is_empty()).ok_or(what);
    out.name = non_empty(name, "no NAME")?;
    out.version = non_empty(version, "no VERSION")?;
    out.release = non_empty(release, "no RELEASE")?;
    Ok(out)
}

/// The package ecosystem, OSV ecosystem (with release) and purl namespace of an rpm database on
/// this distribution. Red Hat's OSV ecosystems name product streams (`Red Hat:enterprise_linux:
/// 9::appstream`) that the database does not record, so RHEL packages are listed, not matched.
pub(crate) fn ecosystem(os: Option<&OsRelease>) -> (Ecosystem, Option<String>) {
    let Some(os) = os else {
        return (Ecosystem::Rpm, None);
    };
    let v = os.version_id.as_deref().filter(|v| !v.is_empty());
    let major = v.and_then(|v| v.split('.').next());
    match os.id.as_str() {
        "rhel" => (Ecosystem::RedHat, None),
        "almalinux" => (
            Ecosystem::AlmaLinux,
            major.map(|m| format!("AlmaLinux:{m}")),
        ),
        "rocky" => (
            Ecosystem::RockyLinux,
            major.map(|m| format!("Rocky Linux:{m}")),
        ),
        "opensuse-leap" => (Ecosystem::OpenSuse, v.map(|v| format!("openSUSE:Leap {v}"))),
        "opensuse-tumbleweed" => (Ecosystem::OpenSuse, Some("openSUSE:Tumbleweed".into())),
        "sles" => {
            let eco = v.map(|v| match v.split_once('.') {
                Some((major, sp)) if sp != "0" => {
                    format!("SUSE:Linux Enterprise Server {major} SP{sp}")
                }
                Some((major, _)) => format!("SUSE:Linux Enterprise Server {major}"),
                None => format!("SUSE:Linux Enterprise Server {v}"),
            });
            (Ecosystem::Suse, eco)
        }
        _ => (Ecosystem::Rpm, None),
    }
}

/// Turns headers into packages: `rows` are (hnum, blob) pairs.
pub(crate) fn packages<'a>(
    rows: impl IntoIterator<Item = (i64, &'a [u8])>,
    os: Option<&OsRelease>,
) -> Parsed {
    let (eco, osv_ecosystem) = ecosystem(os);
    let purl_distro = os.and_then(OsRelease::purl_distro);
    let mut out = Parsed::default();
    for (hnum, blob) in rows {
        let h = match parse_header(blob) {
            Ok(h) => h,
            Err(reason) => {
                out.skipped.push(Skipped {
                    line: None,
                    text: format!("Packages row hnum={hnum}"),
                    reason,
                });
                continue;
            }
        };
        if h.name == "gpg-pubkey" {
            out.skipped.push(Skipped {
                line: None,
                text: format!("gpg-pubkey-{}-{}", h.version, h.release),
                reason: "an imported signing key, not a package",
            });
            continue;
        }
        let evr = h.evr();
        let mut pkg = Package::new(eco, &h.name, &evr, Source::Registry { url: None });
        pkg.os = Some(Box::new(OsPackage {
            arch: h.arch.clone(),
            source_name: h.name.clone(),
            source_version: evr,
            osv_ecosystem: osv_ecosystem.clone(),
            purl_distro: purl_distro.clone(),
        }));
        out.packages.push(pkg);
    }
    out
}

/// The packages of one rpm database.
#[derive(Debug, Default)]
pub struct RpmDb {
    /// De-duplicated and sorted, each naming the database as its lockfile.
    pub packages: Vec<Package>,
    /// Headers that did not parse (with the row's `hnum`) and `gpg-pubkey` entries.
    pub skipped: Vec<Skipped>,
}

/// Reads `rpmdb.sqlite` at `path` (of a root whose os-release is `os`).
pub fn parse_db(path: &Path, os: Option<&OsRelease>) -> Result<RpmDb, Error> {
    read_db(path, path, os)
}

/// Reads an `rpmdb.sqlite` whose content is `bytes` (read from a scanned tree or an image),
/// shown as `shown` in errors and as the packages' lockfile: SQLite opens files, so the bytes are
/// copied into a private temporary file (mode 0600, removed after), read like [`parse_db`].
pub(crate) fn parse_db_bytes(
    shown: &Path,
    bytes: &[u8],
    os: Option<&OsRelease>,
) -> Result<RpmDb, Error> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COPIES: AtomicU64 = AtomicU64::new(0);
    let tmp = std::env::temp_dir().join(format!(
        "ironpost-rpmdb-{}-{}.sqlite",
        std::process::id(),
        COPIES.fetch_add(1, Ordering::Relaxed)
    ));
    let io = |source| Error::Io {
        path: shown.to_owned(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    let read = f
        .write_all(bytes)
        .map_err(io)
        .and_then(|()| read_db(&tmp, shown, os));
    drop(f);
    let _ = std::fs::remove_file(&tmp);
    read
}

fn read_db(path: &Path, shown: &Path, os: Option<&OsRelease>) -> Result<RpmDb, Error> {
    let invalid = |reason: String| Error::Invalid {
        path: shown.to_owned(),
        line: None,
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|source| Error::Io {
        path: shown.to_owned(),
        source,
    })?;
    if !meta.is_file() {
        return Err(invalid("not a regular file".into()));
    }
    if meta.len() > MAX_DB_BYTES {
        return Err(Error::TooLarge {
            path: shown.to_owned(),
            size: meta.len(),
            limit: MAX_DB_BYTES,
        });
    }
    let sql = |e: rusqlite::Error| invalid(format!("SQLite: {e}"));
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
        | rusqlite::OpenFlags::SQLITE_OPEN_URI
        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(sqlite_uri(path), flags).map_err(sql)?;
    // Triggers, views and functions named by a hostile schema must not run.
    conn.pragma_update(None, "trusted_schema", false)
        .map_err(sql)?;
    let kind: Option<String> = conn
        .query_row(
            "SELECT type FROM sqlite_master WHERE name = 'Packages'",
            [],
            |r| r.get(0),
        )
        .map_or_else(
            |e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(sql(e)),
            },
            |k| Ok(Some(k)),
        )?;
    if kind.as_deref() != Some("table") {
        return Err(invalid("no Packages table".into()));
    }
    let mut stmt = conn
        .prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    let mut blobs: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut too_large = Vec::new();
    while let Some(row) = rows.next().map_err(sql)? {
        if blobs.len() >= MAX_PACKAGES {
            return Err(crate::lockfile::too_many(shown));
        }
        let hnum: i64 = row.get(0).map_err(sql)?;
        let blob = row.get_ref(1).map_err(sql)?;
        let bytes = match blob {
            rusqlite::types::ValueRef::Blob(b) => b,
            _ => {
                return Err(invalid(format!(
                    "Packages row hnum={hnum}: blob is not a BLOB"
                )));
            }
        };
        if bytes.len() > MAX_HEADER_BYTES {
            too_large.push(hnum);
            continue;
        }
        blobs.push((hnum, bytes.to_vec()));
    }
    let mut parsed = packages(blobs.iter().map(|(h, b)| (*h, b.as_slice())), os);
    for hnum in too_large {
        parsed.skipped.push(Skipped {
            line: None,
            text: format!("Packages row hnum={hnum}"),
            reason: "header over the size limit",
        });
    }
    let parsed = crate::lockfile::finish(shown, parsed)?;
    Ok(RpmDb {
        packages: parsed.packages,
        skipped: parsed.skipped,
    })
}

/// `file:PATH?immutable=1`, the path percent-encoded: SQLite then opens the file read-only
/// without taking locks or looking for a journal or WAL beside it.
fn sqlite_uri(path: &Path) -> String {
    use std::fmt::Write as _;
    use std::os::unix::ffi::OsStrExt as _;
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(b as char);
        } else {
            let _ = write!(uri, "%{b:02X}");
        }
    }
    uri.push_str("?immutable=1");
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header blob with the given (tag, type, value) entries; strings NUL-terminated, INT32s
    /// aligned.
    pub(crate) fn blob(entries: &[(i32, u32, &[u8])]) -> Vec<u8> {
        let mut data = Vec::new();
        let mut index = Vec::new();
        for (tag, kind, value) in entries {
            if *kind == TYPE_INT32 {
                while !data.len().is_multiple_of(4) {
                    data.push(0);
                }
            }
            index.extend_from_slice(&tag.to_be_bytes());
            index.extend_from_slice(&kind.to_be_bytes());
            index.extend_from_slice(&(data.len() as u32).to_be_bytes());
            index.extend_from_slice(&1u32.to_be_bytes());
            data.extend_from_slice(value);
            if *kind == TYPE_STRING {
                data.push(0);
            }
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(&index);
        out.extend_from_slice(&data);
        out
    }

    fn openssl() -> Vec<u8> {
        blob(&[
            (TAG_NAME, TYPE_STRING, b"openssl-libs"),
            (TAG_VERSION, TYPE_STRING, b"3.0.7"),
            (TAG_RELEASE, TYPE_STRING, b"24.el9"),
            (TAG_EPOCH, TYPE_INT32, &1u32.to_be_bytes()),
            (TAG_ARCH, TYPE_STRING, b"x86_64"),
            (TAG_SOURCERPM, TYPE_STRING, b"openssl-3.0.7-24.el9.src.rpm"),
        ])
    }

    #[test]
    fn header_fields() {
        let h = parse_header(&openssl()).expect("parses");
        assert_eq!(h.name, "openssl-libs");
        assert_eq!(h.evr(), "1:3.0.7-24.el9");
        assert_eq!(h.source_name(), Some("openssl"));
        assert_eq!(h.arch.as_deref(), Some("x86_64"));
    }

    #[test]
    fn hostile_headers() {
        let good = openssl();
        let mut cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "header shorter than 8 bytes"),
            (
                vec![0, 0, 0, 0, 0, 0, 0, 0],
                "index entry count is 0 or over 65535",
            ),
            (
                vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0],
                "index entry count is 0 or over 65535",
            ),
            (
                good[..good.len() - 1].to_vec(),
                "index and data lengths do not add up to the header's size",
            ),
        ];
        // NAME's offset pointing past the data.
        let mut far = good.clone();
        far[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        cases.push((far, "string offset outside the data"));
        // The last string without its NUL.
        let mut open = good.clone();
        let n = open.len();
        open[n - 1] = b'x';
        cases.push((open, "string not NUL-terminated"));
        // EPOCH as a string.
        let mut epoch = good.clone();
        epoch[8 + 3 * 16 + 4..8 + 3 * 16 + 8].copy_from_slice(&TYPE_STRING.to_be_bytes());
        cases.push((epoch, "EPOCH is not one aligned INT32"));
        cases.push((
            blob(&[
                (TAG_NAME, TYPE_STRING, b"x"),
                (TAG_VERSION, TYPE_STRING, b"1"),
            ]),
            "no RELEASE",
        ));
        for (b, want) in cases {
            assert_eq!(parse_header(&b), Err(want));
        }
    }

    #[test]
    fn ecosystems_per_distribution() {
        let os = |t: &str| OsRelease::parse(Path::new("os-release"), t).expect("valid");
        for (text, eco, osv) in [
            (
                "ID=rocky\nVERSION_ID=\"9.3\"\n",
                Ecosystem::RockyLinux,
                Some("Rocky Linux:9"),
            ),
            (
                "ID=\"almalinux\"\nVERSION_ID=\"8.9\"\n",
                Ecosystem::AlmaLinux,
                Some("AlmaLinux:8"),
            ),
            ("ID=\"rhel\"\nVERSION_ID=\"9.3\"\n", Ecosystem::RedHat, None),
            (
                "ID=\"opensuse-leap\"\nVERSION_ID=\"15.5\"\n",
                Ecosystem::OpenSuse,
                Some("openSUSE:Leap 15.5"),
            ),
            (
                "ID=\"opensuse-tumbleweed\"\nVERSION_ID=\"20240101\"\n",
                Ecosystem::OpenSuse,
                Some("openSUSE:Tumbleweed"),
            ),
            (
                "ID=\"sles\"\nVERSION_ID=\"15.5\"\n",
                Ecosystem::Suse,
                Some("SUSE:Linux Enterprise Server 15 SP5"),
            ),
            ("ID=fedora\nVERSION_ID=39\n", Ecosystem::Rpm, None),
        ] {
            assert_eq!(
                ecosystem(Some(&os(text))),
                (eco, osv.map(str::to_owned)),
                "{text}"
            );
        }
    }

    #[test]
    fn packages_from_rows() {
        let os =
            OsRelease::parse(Path::new("os-release"), "ID=rocky\nVERSION_ID=9.3\n").expect("valid");
        let key = blob(&[
            (TAG_NAME, TYPE_STRING, b"gpg-pubkey"),
            (TAG_VERSION, TYPE_STRING, b"350d275d"),
            (TAG_RELEASE, TYPE_STRING, b"6243b4ee"),
        ]);
        let good = openssl();
        let p = packages(
            [(1, &good[..]), (2, &key[..]), (3, &b"junk"[..])],
            Some(&os),
        );
        assert_eq!(p.packages.len(), 1);
        let pkg = &p.packages[0];
        assert_eq!(
            pkg.purl(),
            "pkg:rpm/rocky/openssl-libs@3.0.7-24.el9?arch=x86_64&distro=rocky-9.3&epoch=1"
        );
        assert_eq!(pkg.match_key(), ("openssl-libs", "1:3.0.7-24.el9"));
        assert_eq!(pkg.osv_ecosystem(), Some("Rocky Linux:9"));
        let skipped: Vec<_> = p
            .skipped
            .iter()
            .map(|s| (s.text.as_str(), s.reason))
            .collect();
        assert_eq!(
            skipped,
            [
                (
                    "gpg-pubkey-350d275d-6243b4ee",
                    "an imported signing key, not a package"
                ),
                ("Packages row hnum=3", "header shorter than 8 bytes"),
            ]
        );
    }

    #[test]
    fn uri_escapes() {
        assert_eq!(
            sqlite_uri(Path::new("/r/a b?#%/rpmdb.sqlite")),
            "file:/r/a%20b%3F%23%25/rpmdb.sqlite?immutable=1"
        );
    }
}
