//! dpkg's status database: deb822 stanzas (`Field: value`, continuation lines indented,
//! stanzas separated by blank lines). A package counts when its `Status:` state is `installed`
//! (`install ok installed`, `hold ok installed`, …); distroless `status.d/` files carry no
//! `Status:` and every stanza in them is installed.

use std::path::Path;

use super::OsRelease;
use crate::error::{Error, MAX_PACKAGES};
use crate::lockfile::Parsed;
use crate::package::{OsPackage, Package, Skipped, Source};

/// Longest field value kept (descriptions are skipped, not kept); longer names or versions are
/// refused.
const MAX_VALUE: usize = 512;

#[derive(Default)]
struct Stanza<'a> {
    line: usize,
    package: Option<&'a str>,
    version: Option<&'a str>,
    arch: Option<&'a str>,
    source: Option<&'a str>,
    status: Option<&'a str>,
}

/// Parses a status file (or one `status.d/` file when `distroless`).
pub(crate) fn parse(
    path: &Path,
    text: &str,
    distroless: bool,
    os: Option<&OsRelease>,
) -> Result<Parsed, Error> {
    let invalid = |line: usize, reason: String| Error::Invalid {
        path: path.to_owned(),
        line: Some(line),
        reason,
    };
    let eco = os.map_or(crate::Ecosystem::Debian, OsRelease::dpkg_ecosystem);
    let osv_ecosystem = os.and_then(|o| o.osv_ecosystem(eco));
    let purl_distro = os.and_then(OsRelease::purl_distro);
    let mut out = Parsed::default();
    let mut stanzas = 0usize;
    let mut cur: Option<Stanza<'_>> = None;
    let finish = |st: Stanza<'_>, out: &mut Parsed| -> Result<(), Error> {
        let installed = match st.status {
            Some(s) => s.split_whitespace().nth(2) == Some("installed"),
            None => distroless,
        };
        if !installed {
            return Ok(());
        }
        let (Some(name), Some(version)) = (st.package, st.version) else {
            out.skipped.push(Skipped {
                line: Some(st.line),
                text: st.package.unwrap_or("").to_owned(),
                reason: "installed stanza without Package or Version",
            });
            return Ok(());
        };
        let (source_name, source_version) = match st.source {
            Some(src) => match src.split_once('(') {
                Some((n, v)) => {
                    let v = v.trim().strip_suffix(')').ok_or_else(|| {
                        invalid(st.line, format!("Source {src:?}: unclosed version"))
                    })?;
                    (n.trim(), v.trim())
                }
                None => (src.trim(), version),
            },
            None => (name, version),
        };
        if source_name.is_empty() || source_version.is_empty() {
            return Err(invalid(st.line, format!("Source {:?} is empty", st.source)));
        }
        let mut pkg = Package::new(eco, name, version, Source::Registry { url: None });
        pkg.os = Some(Box::new(OsPackage {
            arch: st.arch.map(str::to_owned),
            source_name: source_name.to_owned(),
            source_version: source_version.to_owned(),
            osv_ecosystem: osv_ecosystem.clone(),
            purl_distro: purl_distro.clone(),
        }));
        out.packages.push(pkg);
        Ok(())
    };
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            if let Some(st) = cur.take() {
                finish(st, &mut out)?;
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if cur.is_none() {
                return Err(invalid(n, "continuation line outside a stanza".into()));
            }
            continue;
        }
        let Some((field, value)) = line.split_once(':') else {
            return Err(invalid(n, "not a `Field: value` line".into()));
        };
        let st = cur.get_or_insert_with(|| {
            stanzas += 1;
            Stanza {
                line: n,
                ..Stanza::default()
            }
        });
        if stanzas > MAX_PACKAGES {
            return Err(crate::lockfile::too_many(path));
        }
        let value = value.trim();
        let slot = match field {
            "Package" => &mut st.package,
            "Version" => &mut st.version,
            "Architecture" => &mut st.arch,
            "Source" => &mut st.source,
            "Status" => &mut st.status,
            _ => continue,
        };
        if value.len() > MAX_VALUE || value.is_empty() {
            return Err(invalid(
                n,
                format!("{field} is empty or over {MAX_VALUE} bytes"),
            ));
        }
        if slot.replace(value).is_some() {
            return Err(invalid(n, format!("{field} given twice in one stanza")));
        }
    }
    if let Some(st) = cur.take() {
        finish(st, &mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os() -> OsRelease {
        OsRelease::parse(
            Path::new("os-release"),
            "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
        )
        .expect("valid os-release")
    }

    #[test]
    fn installed_stanzas_with_sources() {
        let text = "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\n\
                    Source: openssl\nVersion: 3.0.11-1~deb12u2\nDescription: x\n more\n\n\
                    Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n\
                    Package: libgcc-s1\nStatus: hold ok installed\nArchitecture: amd64\n\
                    Source: gcc-12 (12.2.0-14)\nVersion: 12.2.0-14\n";
        let p = parse(Path::new("status"), text, false, Some(&os())).expect("parses");
        let names: Vec<_> = p.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["libssl3", "libgcc-s1"]);
        assert_eq!(
            p.packages[0].purl(),
            "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12"
        );
        assert_eq!(p.packages[0].match_key(), ("openssl", "3.0.11-1~deb12u2"));
        assert_eq!(p.packages[1].match_key(), ("gcc-12", "12.2.0-14"));
        assert_eq!(p.packages[0].osv_ecosystem(), Some("Debian:12"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse(
            Path::new("status"),
            "Package: a\nno colon here\n",
            false,
            None,
        )
        .expect_err("bad line");
        assert_eq!(e.to_string(), "status:2: not a `Field: value` line");
        let e = parse(Path::new("status"), "Package: a\nPackage: b\n", false, None)
            .expect_err("duplicate");
        assert!(e.to_string().contains("status:2"), "{e}");
    }

    #[test]
    fn distroless_stanzas_have_no_status() {
        let p = parse(
            Path::new("base"),
            "Package: base-files\nVersion: 12.4\n",
            true,
            None,
        )
        .expect("parses");
        assert_eq!(p.packages.len(), 1);
        assert_eq!(p.packages[0].osv_ecosystem(), None);
    }
}
