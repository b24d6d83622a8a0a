//! apk's installed database (`lib/apk/db/installed`, apk-tools' "installed" file, documented in
//! apk-package(5)/apk-v2 database format): one stanza per package, lines `X:value` with a
//! one-letter field, stanzas separated by blank lines. Read: `P:` name, `V:` version, `A:`
//! architecture, `o:` origin (the source package advisories name).

use std::path::Path;

use super::OsRelease;
use crate::error::{Error, MAX_PACKAGES};
use crate::lockfile::Parsed;
use crate::package::{Ecosystem, OsPackage, Package, Skipped, Source};

const MAX_VALUE: usize = 512;

#[derive(Default)]
struct Stanza<'a> {
    line: usize,
    name: Option<&'a str>,
    version: Option<&'a str>,
    arch: Option<&'a str>,
    origin: Option<&'a str>,
}

pub(crate) fn parse(path: &Path, text: &str, os: Option<&OsRelease>) -> Result<Parsed, Error> {
    let invalid = |line: usize, reason: String| Error::Invalid {
        path: path.to_owned(),
        line: Some(line),
        reason,
    };
    let osv_ecosystem = os.and_then(|o| o.osv_ecosystem(Ecosystem::Alpine));
    let purl_distro = os.and_then(OsRelease::purl_distro);
    let mut out = Parsed::default();
    let mut stanzas = 0usize;
    let mut cur: Option<Stanza<'_>> = None;
    let finish = |st: Stanza<'_>, out: &mut Parsed| {
        let (Some(name), Some(version)) = (st.name, st.version) else {
            out.skipped.push(Skipped {
                line: Some(st.line),
                text: st.name.unwrap_or("").to_owned(),
                reason: "stanza without P: or V:",
            });
            return;
        };
        let mut pkg = Package::new(
            Ecosystem::Alpine,
            name,
            version,
            Source::Registry { url: None },
        );
        pkg.os = Some(Box::new(OsPackage {
            arch: st.arch.map(str::to_owned),
            source_name: st.origin.unwrap_or(name).to_owned(),
            source_version: version.to_owned(),
            osv_ecosystem: osv_ecosystem.clone(),
            purl_distro: purl_distro.clone(),
        }));
        out.packages.push(pkg);
    };
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            if let Some(st) = cur.take() {
                finish(st, &mut out);
            }
            continue;
        }
        let b = line.as_bytes();
        if b.len() < 2 || b[1] != b':' || !b[0].is_ascii_alphanumeric() {
            return Err(invalid(n, "not an `X:value` line".into()));
        }
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
        let value = &line[2..];
        let slot = match b[0] {
            b'P' => &mut st.name,
            b'V' => &mut st.version,
            b'A' => &mut st.arch,
            b'o' => &mut st.origin,
            _ => continue,
        };
        if value.is_empty() || value.len() > MAX_VALUE {
            return Err(invalid(
                n,
                format!("{}: is empty or over {MAX_VALUE} bytes", b[0] as char),
            ));
        }
        if slot.replace(value).is_some() {
            return Err(invalid(
                n,
                format!("{}: given twice in one stanza", b[0] as char),
            ));
        }
    }
    if let Some(st) = cur.take() {
        finish(st, &mut out);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanzas_with_origin() {
        let os = OsRelease::parse(Path::new("os-release"), "ID=alpine\nVERSION_ID=3.19.1\n")
            .expect("valid");
        let text = "C:Q1abc=\nP:libcrypto3\nV:3.1.4-r5\nA:x86_64\nS:1\nI:2\no:openssl\n\
                    F:usr/lib\nR:libcrypto.so.3\n\nP:musl\nV:1.2.4_git20230717-r4\nA:x86_64\n";
        let p = parse(Path::new("installed"), text, Some(&os)).expect("parses");
        assert_eq!(p.packages.len(), 2);
        assert_eq!(
            p.packages[0].purl(),
            "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=3.19.1"
        );
        assert_eq!(p.packages[0].match_key(), ("openssl", "3.1.4-r5"));
        assert_eq!(p.packages[1].match_key(), ("musl", "1.2.4_git20230717-r4"));
        assert_eq!(p.packages[0].osv_ecosystem(), Some("Alpine:v3.19"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse(Path::new("installed"), "P:a\nV:1\nbogus\n", None).expect_err("bad");
        assert_eq!(e.to_string(), "installed:3: not an `X:value` line");
    }
}
