//! Go build info: the record the Go linker writes into every binary (`runtime/debug.BuildInfo`,
//! read by `go version -m`), as Go's own `debug/buildinfo` reads it.
//!
//! The record is a 32-byte header starting with the magic `\xff Go buildinf:` at a 16-byte
//! aligned address, in the `.go.buildinfo` section where there is one. Byte 14 is the pointer
//! size, byte 15 the flags: with bit 2 set (Go 1.18 and later) the Go version and the module info
//! follow the header as varint-prefixed strings; otherwise (Go 1.13–1.17) the header holds two
//! pointers (endianness from bit 1) to Go string headers `{data, len}` in the data segment,
//! resolved here through the `PT_LOAD` segments.
//!
//! The module info is framed by two 16-byte sentinels and holds tab-separated lines: `path` (the
//! main package), `mod` (the main module), `dep` (a dependency) and `=>` (the replacement of the
//! `mod`/`dep` line above it), `build` (settings, ignored). Reported: every dependency (a
//! directory replacement keeps the required path and version with a path source, as in go.mod;
//! a module replacement reports the replacing module), the main module when it has a version
//! (`(devel)` is skipped and said so), and the standard library as `stdlib` at the toolchain's
//! version (`go1.19.8` → `v1.19.8`), the name Go's vulnerability database gives it.

use std::path::Path;

use super::{BinaryKind, BinaryPackages, Elf, invalid};
use crate::error::Error;
use crate::package::{Ecosystem, Package, Skipped, Source};

const MAGIC: &[u8] = b"\xff Go buildinf:";
const HEADER: usize = 32;
const ALIGN: usize = 16;
/// Longest version or module-info string read (Go refuses string lengths over 2^32; real module
/// info is a few KiB, a few hundred KiB for the largest programs).
const MAX_STRING: u64 = 16 * 1024 * 1024;

/// The packages of a Go binary, `None` when it carries no build info.
pub(super) fn read(path: &Path, elf: &Elf<'_>) -> Result<Option<BinaryPackages>, Error> {
    let Some(blob) = find_blob(elf) else {
        return Ok(None);
    };
    let (version, modinfo) = decode_header(path, elf, blob)?;
    if version.is_empty() {
        return Ok(None);
    }
    let version = std::str::from_utf8(version)
        .map_err(|_| invalid(path, "Go build info: the Go version is not UTF-8"))?;
    // The sentinels are binary; what they frame is text.
    let modinfo = std::str::from_utf8(strip_sentinels(modinfo))
        .map_err(|_| invalid(path, "Go build info: the module info is not UTF-8"))?;
    let mut found = BinaryPackages {
        kind: BinaryKind::GoBuildInfo,
        go_version: Some(version.to_owned()),
        packages: Vec::new(),
        skipped: Vec::new(),
    };
    match stdlib_version(version) {
        Some(v) => found.packages.push(Package::from_owned(
            Ecosystem::Go,
            "stdlib".to_owned(),
            v,
            Source::Registry { url: None },
        )),
        None => found.skipped.push(Skipped {
            line: None,
            text: version.to_owned(),
            reason: "Go toolchain version is not a release: the standard library is not reported",
        }),
    }
    parse_modinfo(path, modinfo, &mut found)?;
    Ok(Some(found))
}

/// The 32-byte header and what follows it: in `.go.buildinfo`, else the first 16-byte aligned
/// magic anywhere in the file (a segment's file offset and address agree modulo the page size, so
/// alignment in the file is alignment in memory).
fn find_blob<'a>(elf: &Elf<'a>) -> Option<&'a [u8]> {
    if let Some(s) = elf.section(".go.buildinfo")
        && s.starts_with(MAGIC)
        && s.len() >= HEADER
    {
        return Some(s);
    }
    memchr::memmem::find_iter(elf.bytes, MAGIC)
        .find(|&i| i % ALIGN == 0 && elf.bytes.len() - i >= HEADER)
        .map(|i| &elf.bytes[i..])
}

/// The Go version and the module info of a blob starting with the header.
fn decode_header<'a>(
    path: &Path,
    elf: &Elf<'a>,
    blob: &'a [u8],
) -> Result<(&'a [u8], &'a [u8]), Error> {
    let ptr_size = blob[14];
    let flags = blob[15];
    if flags & 2 != 0 {
        let rest = &blob[HEADER..];
        let (version, rest) = varint_string(rest)
            .ok_or_else(|| invalid(path, "Go build info: the version string overruns the file"))?;
        let (modinfo, _) = varint_string(rest).ok_or_else(|| {
            invalid(
                path,
                "Go build info: the module info string overruns the file",
            )
        })?;
        return Ok((version, modinfo));
    }
    let ptr = usize::from(ptr_size);
    if ptr != 4 && ptr != 8 {
        return Err(invalid(
            path,
            format!("Go build info: pointer size {ptr_size}, not 4 or 8"),
        ));
    }
    let big_endian = flags & 1 != 0;
    let read_ptr = |b: &[u8]| -> Option<u64> {
        Some(match (ptr, big_endian) {
            (4, false) => u64::from(u32::from_le_bytes(b.get(..4)?.try_into().ok()?)),
            (4, true) => u64::from(u32::from_be_bytes(b.get(..4)?.try_into().ok()?)),
            (_, false) => u64::from_le_bytes(b.get(..8)?.try_into().ok()?),
            (_, true) => u64::from_be_bytes(b.get(..8)?.try_into().ok()?),
        })
    };
    // A Go string header `{data *byte, len int}` at `addr`, then its bytes.
    let read_string = |addr: u64| -> Option<&'a [u8]> {
        let hdr = elf.read_addr(addr, 2 * ptr as u64)?;
        let data = read_ptr(hdr)?;
        let len = read_ptr(&hdr[ptr..])?;
        if len > MAX_STRING {
            return None;
        }
        elf.read_addr(data, len)
    };
    let unresolved = |what: &str| {
        invalid(
            path,
            format!("Go build info: the {what} pointer does not lead to a string in the file"),
        )
    };
    let version_at = read_ptr(&blob[16..]).ok_or_else(|| unresolved("version"))?;
    let modinfo_at = read_ptr(&blob[16 + ptr..]).ok_or_else(|| unresolved("module info"))?;
    let version = read_string(version_at).ok_or_else(|| unresolved("version"))?;
    // A binary built outside module mode has a version and no module info (a nil string).
    let modinfo = if modinfo_at == 0 {
        &[][..]
    } else {
        read_string(modinfo_at).ok_or_else(|| unresolved("module info"))?
    };
    Ok((version, modinfo))
}

/// A string prefixed by its length as an unsigned LEB128 varint, and what follows it.
fn varint_string(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut len = 0u64;
    let mut i = 0usize;
    loop {
        let byte = *b.get(i)?;
        if i == 9 && byte > 1 {
            return None;
        }
        len |= u64::from(byte & 0x7f) << (7 * i);
        i += 1;
        if byte & 0x80 == 0 {
            break;
        }
    }
    if len > MAX_STRING {
        return None;
    }
    let rest = &b[i..];
    let len = usize::try_from(len).ok()?;
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// The module info between its two 16-byte sentinels (`cmd/go`'s `infoStart`/`infoEnd`); empty
/// when they are not there, as Go reads it.
fn strip_sentinels(b: &[u8]) -> &[u8] {
    if b.len() >= 33 && b[b.len() - 17] == b'\n' {
        &b[16..b.len() - 16]
    } else {
        &[]
    }
}

/// `go1.19.8` → `v1.19.8`, `go1.21` → `v1.21.0`, `go1.21rc2` → `v1.21.0-rc.2`; `None` for a
/// development toolchain (`devel go1.22-abc…`). Experiments (` X:…`) are dropped.
fn stdlib_version(go: &str) -> Option<String> {
    let go = go.split_whitespace().next()?;
    let v = go.strip_prefix("go")?;
    let (release, pre) = match v.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&v[..i], Some(&v[i..])),
        None => (v, None),
    };
    let parts: Vec<&str> = release.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut out = format!(
        "v{}.{}.{}",
        parts[0],
        parts.get(1).unwrap_or(&"0"),
        parts.get(2).unwrap_or(&"0")
    );
    if let Some(pre) = pre {
        let kind_len = pre.find(|c: char| c.is_ascii_digit()).unwrap_or(pre.len());
        let (kind, n) = pre.split_at(kind_len);
        if !matches!(kind, "rc" | "beta") || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        out.push('-');
        out.push_str(kind);
        if !n.is_empty() {
            out.push('.');
            out.push_str(n);
        }
    }
    Some(out)
}

/// One `mod`/`dep` line and its replacement.
struct Module<'a> {
    line: usize,
    main: bool,
    path: &'a str,
    version: &'a str,
    replace: Option<(&'a str, &'a str)>,
}

fn parse_modinfo(path: &Path, text: &str, found: &mut BinaryPackages) -> Result<(), Error> {
    let bad = |line: usize, reason: &str| Error::Invalid {
        path: path.to_owned(),
        line: None,
        reason: format!("Go module info line {line}: {reason}"),
    };
    let mut modules: Vec<Module<'_>> = Vec::new();
    let mut last_can_be_replaced = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let (kind, rest) = line.split_once('\t').unwrap_or((line, ""));
        match kind {
            "mod" | "dep" => {
                let cols: Vec<&str> = rest.split('\t').collect();
                if cols.len() != 2 && cols.len() != 3 {
                    return Err(bad(n, "expected 2 or 3 columns"));
                }
                if cols[0].is_empty() {
                    return Err(bad(n, "empty module path"));
                }
                if modules.len() >= crate::MAX_PACKAGES {
                    return Err(crate::lockfile::too_many(path));
                }
                modules.push(Module {
                    line: n,
                    main: kind == "mod",
                    path: cols[0],
                    version: cols[1],
                    replace: None,
                });
                last_can_be_replaced = true;
            }
            "=>" => {
                let cols: Vec<&str> = rest.split('\t').collect();
                if cols.len() != 3 {
                    return Err(bad(n, "expected 3 columns for a replacement"));
                }
                if !last_can_be_replaced {
                    return Err(bad(n, "replacement with no module on the line above"));
                }
                if let Some(m) = modules.last_mut() {
                    m.replace = Some((cols[0], cols[1]));
                }
                last_can_be_replaced = false;
            }
            "path" | "build" | "" => last_can_be_replaced = false,
            _ => return Err(bad(n, "unknown line kind")),
        }
    }
    for m in modules {
        let (name, version, source) = match m.replace {
            // A directory replacement (Go writes its version as `(devel)` or leaves it empty):
            // the code is local, the required version names it.
            Some((dir, "" | "(devel)")) => (m.path, m.version, Source::Path(dir.to_owned())),
            Some((new_path, new_version)) => {
                (new_path, new_version, Source::Registry { url: None })
            }
            None => (m.path, m.version, Source::Registry { url: None }),
        };
        if m.main && (version.is_empty() || version == "(devel)") {
            found.skipped.push(Skipped {
                line: Some(m.line),
                text: m.path.to_owned(),
                reason: "main module built without a version ((devel))",
            });
            continue;
        }
        if version.is_empty() {
            return Err(bad(m.line, "module without a version"));
        }
        found
            .packages
            .push(Package::new(Ecosystem::Go, name, version, source));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdlib_versions() {
        for (go, want) in [
            ("go1.19.8", Some("v1.19.8")),
            ("go1.21", Some("v1.21.0")),
            ("go1.21rc2", Some("v1.21.0-rc.2")),
            ("go1.22.1 X:boringcrypto", Some("v1.22.1")),
            ("devel go1.22-abc Tue", None),
            ("go1.x", None),
            ("1.20", None),
        ] {
            assert_eq!(stdlib_version(go).as_deref(), want, "{go}");
        }
    }

    #[test]
    fn varints() {
        assert_eq!(varint_string(b"\x03abcd"), Some((&b"abc"[..], &b"d"[..])));
        assert_eq!(varint_string(b"\x05abc"), None);
        assert_eq!(varint_string(b"\x80"), None);
        assert_eq!(varint_string(&[0xff; 11]), None);
        let mut long = vec![0x80, 0x01];
        long.extend(std::iter::repeat_n(b'x', 128));
        assert_eq!(varint_string(&long).map(|(s, _)| s.len()), Some(128));
    }

    fn found() -> BinaryPackages {
        BinaryPackages {
            kind: BinaryKind::GoBuildInfo,
            go_version: None,
            packages: Vec::new(),
            skipped: Vec::new(),
        }
    }

    #[test]
    fn modinfo_lines() {
        let text = "path\texample.com/app\nmod\texample.com/app\t(devel)\t\n\
                    dep\tgolang.org/x/text\tv0.3.7\th1:abc=\n\
                    dep\texample.com/lib\tv1.0.0\t\n=>\t../lib\t(devel)\t\n\
                    dep\texample.com/lib2\tv2.0.0\n=>\t/src/lib2\t\t\n\
                    dep\told.example/m\tv1.0.0\th1:x=\n=>\tnew.example/m\tv1.2.0\th1:y=\n\
                    build\t-compiler=gc\nbuild\tCGO_ENABLED=0\n";
        let mut f = found();
        parse_modinfo(Path::new("b"), text, &mut f).expect("parses");
        let got: Vec<_> = f
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.source.kind()))
            .collect();
        assert_eq!(
            got,
            [
                ("golang.org/x/text", "v0.3.7", "registry"),
                ("example.com/lib", "v1.0.0", "path"),
                ("example.com/lib2", "v2.0.0", "path"),
                ("new.example/m", "v1.2.0", "registry"),
            ]
        );
        assert_eq!(f.skipped.len(), 1);
        assert_eq!(f.skipped[0].text, "example.com/app");
    }

    #[test]
    fn modinfo_errors() {
        for (text, want) in [
            (
                "=>\ta\tb\tc\n",
                "b: Go module info line 1: replacement with no module on the line above",
            ),
            (
                "dep\ta\n",
                "b: Go module info line 1: expected 2 or 3 columns",
            ),
            (
                "dep\ta\tv1\t\nbuild\tx=y\n=>\tb\tv2\t\n",
                "b: Go module info line 3: replacement with no module on the line above",
            ),
            ("what\tx\n", "b: Go module info line 1: unknown line kind"),
        ] {
            let e = parse_modinfo(Path::new("b"), text, &mut found()).expect_err(text);
            assert_eq!(e.to_string(), want);
        }
    }

    #[test]
    fn sentinels() {
        let inner = "path\tx\n";
        // Go's real sentinels, which are not UTF-8.
        let mut b = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6".to_vec();
        b.extend_from_slice(inner.as_bytes());
        b.extend_from_slice(b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2");
        assert_eq!(strip_sentinels(&b), inner.as_bytes());
        assert_eq!(strip_sentinels(inner.as_bytes()), b"");
    }

    /// A little-endian ELF64 with one `PT_LOAD` segment mapping the whole file at `BASE`, no
    /// section headers, the build info header at file offset 256 in the pre-1.18 pointer format.
    fn pointer_format_elf(big_endian: bool) -> Vec<u8> {
        const BASE: u64 = 0x40_0000;
        let put32 = |b: &mut Vec<u8>, at: usize, v: u32| {
            let bytes = if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            b[at..at + 4].copy_from_slice(&bytes);
        };
        let put64 = |b: &mut Vec<u8>, at: usize, v: u64| {
            let bytes = if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            b[at..at + 8].copy_from_slice(&bytes);
        };
        let put16 = |b: &mut Vec<u8>, at: usize, v: u16| {
            let bytes = if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            b[at..at + 2].copy_from_slice(&bytes);
        };
        let version = b"go1.16.15";
        let mut modinfo = vec![b'S'; 16];
        modinfo.extend_from_slice(
            b"path\tex.com/old\nmod\tex.com/old\tv0.1.0\t\ndep\tgithub.com/pkg/errors\tv0.9.1\th1:x=\n",
        );
        modinfo.extend_from_slice(&[b'E'; 16]);
        let mut b = vec![0u8; 1024];
        b[..6].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, if big_endian { 2 } else { 1 }]);
        put64(&mut b, 32, 64); // e_phoff
        put16(&mut b, 54, 56); // e_phentsize
        put16(&mut b, 56, 1); // e_phnum
        // The program header.
        put32(&mut b, 64, crate::binary::PT_LOAD);
        put64(&mut b, 64 + 8, 0); // p_offset
        put64(&mut b, 64 + 16, BASE); // p_vaddr
        put64(&mut b, 64 + 32, 1024); // p_filesz
        // The build info header.
        b[256..256 + 14].copy_from_slice(MAGIC);
        b[256 + 14] = 8;
        b[256 + 15] = u8::from(big_endian);
        put64(&mut b, 256 + 16, BASE + 320); // &runtime.buildVersion
        put64(&mut b, 256 + 24, BASE + 336); // &runtime.modinfo
        // The string headers and their bytes.
        put64(&mut b, 320, BASE + 400);
        put64(&mut b, 328, version.len() as u64);
        put64(&mut b, 336, BASE + 448);
        put64(&mut b, 344, modinfo.len() as u64);
        b[400..400 + version.len()].copy_from_slice(version);
        b[448..448 + modinfo.len()].copy_from_slice(&modinfo);
        b
    }

    #[test]
    fn pointer_format_both_endians() {
        for big_endian in [false, true] {
            let bytes = pointer_format_elf(big_endian);
            let got = crate::binary::packages_from_elf(Path::new("old"), &bytes)
                .expect("parses")
                .expect("a Go binary");
            assert_eq!(got.go_version.as_deref(), Some("go1.16.15"));
            let ids: Vec<String> = got.packages.iter().map(Package::purl).collect();
            assert_eq!(
                ids,
                [
                    "pkg:golang/ex.com/old@v0.1.0",
                    "pkg:golang/github.com/pkg/errors@v0.9.1",
                    "pkg:golang/stdlib@v1.16.15",
                ],
                "big endian: {big_endian}"
            );
        }
        // A section header table that cannot be read (out of the file, extended numbering whose
        // section 0 is not there) leaves the file without sections: the magic is still found.
        let mut bytes = pointer_format_elf(false);
        bytes[40..48].copy_from_slice(&(u64::MAX - 8).to_le_bytes()); // e_shoff
        bytes[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
        bytes[60..64].copy_from_slice(&[0, 0, 0xff, 0xff]); // e_shnum 0, e_shstrndx SHN_XINDEX
        let got = crate::binary::packages_from_elf(Path::new("old"), &bytes)
            .expect("parses")
            .expect("a Go binary");
        assert_eq!(got.packages.len(), 3);
        // A pointer leading outside every segment is an error naming the file.
        let mut bytes = pointer_format_elf(false);
        bytes[256 + 24..256 + 32].copy_from_slice(&u64::MAX.to_le_bytes());
        let e = crate::binary::packages_from_elf(Path::new("old"), &bytes).expect_err("bad");
        assert_eq!(
            e.to_string(),
            "old: Go build info: the module info pointer does not lead to a string in the file"
        );
    }
}
