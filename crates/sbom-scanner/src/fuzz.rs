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

/// An ELF file as the binary scanner reads it: `data` as a whole file, then `data` placed at
/// offset 256 of a minimal little-endian ELF64 whose one `PT_LOAD` segment maps the file at
/// 0x400000 (so a build info header at the start of `data` is found, and its pointers resolve
/// into `data` at 0x400100 onwards). The packages read, each with a purl.
pub fn go_buildinfo(data: &[u8]) -> usize {
    let mut n = 0;
    for bytes in [data.to_vec(), in_minimal_elf(data, None)] {
        if let Ok(Some(found)) = crate::binary::packages_from_elf(Path::new("bin"), &bytes) {
            for p in &found.packages {
                let _ = p.purl();
            }
            n += found.packages.len();
        }
    }
    n
}

/// `cargo auditable`'s section: `data` after its first byte, as zlib data when that byte is odd,
/// as the decompressed JSON otherwise; also inside an ELF's `.dep-v0` section. The crates read.
pub fn auditable(data: &[u8]) -> usize {
    let Some((&mode, rest)) = data.split_first() else {
        return 0;
    };
    let path = Path::new("bin");
    let parsed = if mode & 1 == 1 {
        crate::binary::auditable::parse_compressed(path, rest)
    } else {
        crate::binary::auditable::parse_json(path, rest)
    };
    let mut n = 0;
    if let Ok(found) = parsed {
        for p in &found.packages {
            let _ = p.purl();
        }
        n += found.packages.len();
    }
    if mode & 1 == 1 {
        let elf = in_minimal_elf(&[], Some(rest));
        if let Ok(Some(found)) = crate::binary::packages_from_elf(path, &elf) {
            n += found.packages.len();
        }
    }
    n
}

/// One rpm header blob as stored in `rpmdb.sqlite`, as a package of a Rocky Linux 9 root.
pub fn rpm_header(data: &[u8]) -> usize {
    if let Ok(h) = crate::os::rpm::parse_header(data) {
        let _ = h.evr();
        let _ = h.source_name();
    }
    let os = crate::os::OsRelease {
        id: "rocky".into(),
        version_id: Some("9.3".into()),
        ..crate::os::OsRelease::default()
    };
    let parsed = crate::os::rpm::packages([(1, data)], Some(&os));
    for p in &parsed.packages {
        let _ = p.purl();
        let _ = p.match_key();
    }
    parsed.packages.len()
}

/// A little-endian ELF64: `data` at file offset 256, one `PT_LOAD` segment mapping the whole
/// file at 0x400000, and, with `section`, a section header table naming `.dep-v0` for it.
fn in_minimal_elf(data: &[u8], section: Option<&[u8]>) -> Vec<u8> {
    let mut b = vec![0u8; 256];
    b[..6].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1]);
    b[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
    b[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
    b[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
    b[64..68].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    b[80..88].copy_from_slice(&0x40_0000u64.to_le_bytes()); // p_vaddr
    b.extend_from_slice(data);
    if let Some(sec) = section {
        let names = b"\0.shstrtab\0.dep-v0\0";
        let names_at = b.len() as u64;
        b.extend_from_slice(names);
        let sec_at = b.len() as u64;
        b.extend_from_slice(sec);
        let shoff = b.len() as u64;
        b[40..48].copy_from_slice(&shoff.to_le_bytes()); // e_shoff
        b[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
        b[60..62].copy_from_slice(&3u16.to_le_bytes()); // e_shnum
        b[62..64].copy_from_slice(&1u16.to_le_bytes()); // e_shstrndx
        let mut header = |name: u32, kind: u32, offset: u64, size: u64| {
            let mut h = [0u8; 64];
            h[..4].copy_from_slice(&name.to_le_bytes());
            h[4..8].copy_from_slice(&kind.to_le_bytes());
            h[24..32].copy_from_slice(&offset.to_le_bytes());
            h[32..40].copy_from_slice(&size.to_le_bytes());
            b.extend_from_slice(&h);
        };
        header(0, 0, 0, 0);
        header(1, 3, names_at, names.len() as u64); // .shstrtab, SHT_STRTAB
        header(11, 1, sec_at, sec.len() as u64); // .dep-v0, SHT_PROGBITS
    }
    let len = b.len() as u64;
    b[96..104].copy_from_slice(&len.to_le_bytes()); // p_filesz
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_elf_carries_the_section() {
        use std::io::Write;
        let json = br#"{"packages":[{"name":"serde","version":"1.0.0","source":"crates.io"}]}"#;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(json).expect("compress");
        let mut input = vec![1u8];
        input.extend(z.finish().expect("compress"));
        // Once from the section bytes, once from the ELF around them.
        assert_eq!(auditable(&input), 2);
        let mut raw = vec![0u8];
        raw.extend_from_slice(json);
        assert_eq!(auditable(&raw), 1);
    }

    #[test]
    fn minimal_elf_finds_the_build_info() {
        let mut blob = b"\xff Go buildinf:\x08\x02".to_vec();
        blob.resize(32, 0);
        blob.push(8);
        blob.extend_from_slice(b"go1.19.8");
        blob.push(0);
        // Only the stdlib: the module info is empty.
        assert_eq!(go_buildinfo(&blob), 1);
    }
}
