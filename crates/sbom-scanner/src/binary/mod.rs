//! Language packages recorded inside executables, for static binaries shipped without a
//! lockfile: the module list Go links into every binary (`go.rs`, the build info) and the
//! dependency tree `cargo auditable` embeds in Rust binaries (`auditable.rs`, section `.dep-v0`).
//!
//! Entry point: [`packages_from_elf`] takes the bytes of a file and says whether it is an ELF
//! executable carrying either record. The ELF reader here is hand-rolled and minimal: the file
//! header, the section headers (to find a section by name) and the `PT_LOAD` program headers (to
//! turn a virtual address into a file offset). Every offset and size read from the file is
//! checked against the file's length before use; nothing is trusted to be aligned or sorted.

pub(crate) mod auditable;
mod go;

pub use auditable::MAX_JSON as MAX_AUDITABLE_JSON;

use std::path::Path;

use crate::error::Error;
use crate::package::{Package, Skipped};

/// Largest executable read whole, in bytes: real Go and Rust binaries are a few to a few hundred
/// MiB.
pub const MAX_BINARY_BYTES: u64 = 512 * 1024 * 1024;

/// Which record of a binary the packages come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryKind {
    /// Go's build info (`.go.buildinfo`).
    GoBuildInfo,
    /// `cargo auditable`'s `.dep-v0` section.
    CargoAuditable,
}

/// The packages found in one binary.
#[derive(Debug)]
pub struct BinaryPackages {
    pub kind: BinaryKind,
    /// The Go toolchain version (`go1.19.8`) for Go binaries.
    pub go_version: Option<String>,
    /// Sorted by name and version, without duplicates.
    pub packages: Vec<Package>,
    /// Entries deliberately not reported (main module without a version, non-crates.io crates).
    pub skipped: Vec<Skipped>,
}

/// The packages a binary records, trying Go's build info and then `cargo auditable`'s section.
/// `Ok(None)` when `bytes` is not an ELF file or carries neither record; an error names `path`
/// when a record is there but malformed. Each package's lockfile is `path`.
pub fn packages_from_elf(path: &Path, bytes: &[u8]) -> Result<Option<BinaryPackages>, Error> {
    if bytes.len() as u64 > MAX_BINARY_BYTES {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            size: bytes.len() as u64,
            limit: MAX_BINARY_BYTES,
        });
    }
    let Some(elf) = Elf::parse(bytes) else {
        return Ok(None);
    };
    let found = match go::read(path, &elf)? {
        Some(found) => Some(found),
        None => auditable::read(path, &elf)?,
    };
    let Some(mut found) = found else {
        return Ok(None);
    };
    let parsed = crate::lockfile::finish(
        path,
        crate::lockfile::Parsed {
            packages: std::mem::take(&mut found.packages),
            skipped: Vec::new(),
        },
    )?;
    found.packages = parsed.packages;
    Ok(Some(found))
}

/// An invalid-record error for `path`.
pub(super) fn invalid(path: &Path, reason: impl Into<String>) -> Error {
    Error::Invalid {
        path: path.to_owned(),
        line: None,
        reason: reason.into(),
    }
}

/// `SHT_NOBITS`: a section that occupies no file space (`.bss`).
const SHT_NOBITS: u32 = 8;
/// `PT_LOAD`: a segment mapped from the file.
const PT_LOAD: u32 = 1;
/// Most section or program headers looked at (ELF counts them in 16 bits, except the extended
/// numbering of `e_shnum == 0`, which could claim 2^32).
const MAX_HEADERS: usize = 1 << 16;

/// A `PT_LOAD` segment: virtual address range backed by file bytes.
#[derive(Debug, Clone, Copy)]
struct Load {
    vaddr: u64,
    offset: u64,
    filesz: u64,
}

/// The parts of an ELF file the readers need.
#[derive(Debug)]
pub(crate) struct Elf<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) is64: bool,
    pub(crate) big_endian: bool,
    /// (name, bytes), sections with file data only.
    sections: Vec<(&'a [u8], &'a [u8])>,
    loads: Vec<Load>,
}

impl<'a> Elf<'a> {
    /// Parses the headers; `None` when `bytes` is not an ELF file or its headers do not fit in it.
    /// A section or segment lying outside the file is left out rather than failing the file.
    pub(crate) fn parse(bytes: &'a [u8]) -> Option<Elf<'a>> {
        if bytes.get(..4)? != b"\x7fELF" {
            return None;
        }
        let is64 = match bytes.get(4)? {
            1 => false,
            2 => true,
            _ => return None,
        };
        let big_endian = match bytes.get(5)? {
            1 => false,
            2 => true,
            _ => return None,
        };
        let mut elf = Elf {
            bytes,
            is64,
            big_endian,
            sections: Vec::new(),
            loads: Vec::new(),
        };
        let (phoff, shoff, phentsize, phnum, shentsize, shnum, shstrndx) = if is64 {
            (
                elf.u64_at(32)?,
                elf.u64_at(40)?,
                elf.u16_at(54)?,
                elf.u16_at(56)?,
                elf.u16_at(58)?,
                elf.u16_at(60)?,
                elf.u16_at(62)?,
            )
        } else {
            (
                u64::from(elf.u32_at(28)?),
                u64::from(elf.u32_at(32)?),
                elf.u16_at(42)?,
                elf.u16_at(44)?,
                elf.u16_at(46)?,
                elf.u16_at(48)?,
                elf.u16_at(50)?,
            )
        };
        let (ph_min, sh_min) = if is64 { (56, 64) } else { (32, 40) };
        if phoff != 0 && usize::from(phentsize) >= ph_min {
            for i in 0..usize::from(phnum) {
                let at = usize::try_from(phoff)
                    .ok()
                    .and_then(|off| off.checked_add(i.checked_mul(usize::from(phentsize))?));
                let Some(load) = at.and_then(|at| elf.program_header(at)) else {
                    break;
                };
                if let Some(load) = load {
                    elf.loads.push(load);
                }
            }
        }
        // A section table that does not fit leaves the file without sections (the Go build
        // info is then looked for by its magic), not unreadable.
        if let Ok(shoff) = usize::try_from(shoff)
            && shoff != 0
            && usize::from(shentsize) >= sh_min
        {
            let entsize = usize::from(shentsize);
            let mut count = usize::from(shnum);
            let mut strndx = usize::from(shstrndx);
            // Extended numbering: the real counts live in section 0.
            if count == 0 {
                count = elf
                    .section_header(shoff)
                    .and_then(|(_, _, size)| usize::try_from(size).ok())
                    .unwrap_or(0)
                    .min(MAX_HEADERS);
            }
            if strndx == 0xffff {
                let link = shoff
                    .checked_add(if is64 { 40 } else { 24 })
                    .and_then(|at| elf.u32_at(at));
                strndx = link.map_or(0, |l| l as usize);
            }
            let header = |i: usize| shoff.checked_add(i.checked_mul(entsize)?);
            let names = header(strndx)
                .and_then(|at| elf.section_header(at))
                .and_then(|(_, data, _)| data);
            for i in 0..count {
                let Some((name_off, Some(data), _)) =
                    header(i).and_then(|at| elf.section_header(at))
                else {
                    continue;
                };
                let name = names
                    .and_then(|n| n.get(usize::try_from(name_off).ok()?..))
                    .map(|n| &n[..memchr::memchr(0, n).unwrap_or(n.len())])
                    .unwrap_or_default();
                elf.sections.push((name, data));
            }
        }
        Some(elf)
    }

    /// The bytes of the first section called `name` with its bytes in the file.
    pub(crate) fn section(&self, name: &str) -> Option<&'a [u8]> {
        self.sections
            .iter()
            .find(|(n, _)| *n == name.as_bytes())
            .map(|(_, s)| *s)
    }

    /// `len` bytes at virtual address `addr`, from the `PT_LOAD` segment holding them.
    pub(crate) fn read_addr(&self, addr: u64, len: u64) -> Option<&'a [u8]> {
        let end = addr.checked_add(len)?;
        self.loads.iter().find_map(|l| {
            if addr < l.vaddr || end > l.vaddr.checked_add(l.filesz)? {
                return None;
            }
            let start = l.offset.checked_add(addr - l.vaddr)?;
            let start = usize::try_from(start).ok()?;
            let len = usize::try_from(len).ok()?;
            self.bytes.get(start..start.checked_add(len)?)
        })
    }

    /// A program header at `at`: `None` if it is outside the file, `Some(None)` if it is not a
    /// `PT_LOAD` segment with file bytes.
    fn program_header(&self, at: usize) -> Option<Option<Load>> {
        let kind = self.u32_at(at)?;
        let (offset, vaddr, filesz) = if self.is64 {
            (
                self.u64_at(at.checked_add(8)?)?,
                self.u64_at(at.checked_add(16)?)?,
                self.u64_at(at.checked_add(32)?)?,
            )
        } else {
            (
                u64::from(self.u32_at(at.checked_add(4)?)?),
                u64::from(self.u32_at(at.checked_add(8)?)?),
                u64::from(self.u32_at(at.checked_add(16)?)?),
            )
        };
        let in_file = offset
            .checked_add(filesz)
            .is_some_and(|end| end <= self.bytes.len() as u64);
        Some((kind == PT_LOAD && filesz > 0 && in_file).then_some(Load {
            vaddr,
            offset,
            filesz,
        }))
    }

    fn section_size(&self, at: usize) -> Option<u64> {
        if self.is64 {
            self.u64_at(at.checked_add(32)?)
        } else {
            self.u32_at(at.checked_add(20)?).map(u64::from)
        }
    }

    /// A section header's name offset, its file bytes (`None` for `SHT_NOBITS` or out of file)
    /// and its size field.
    fn section_header(&self, at: usize) -> Option<(u32, Option<&'a [u8]>, u64)> {
        let name = self.u32_at(at)?;
        let kind = self.u32_at(at.checked_add(4)?)?;
        let offset = if self.is64 {
            self.u64_at(at.checked_add(24)?)?
        } else {
            u64::from(self.u32_at(at.checked_add(16)?)?)
        };
        let size = self.section_size(at)?;
        let data = (kind != SHT_NOBITS)
            .then(|| {
                let start = usize::try_from(offset).ok()?;
                let end = start.checked_add(usize::try_from(size).ok()?)?;
                self.bytes.get(start..end)
            })
            .flatten();
        Some((name, data, size))
    }

    fn u16_at(&self, at: usize) -> Option<u16> {
        let b: [u8; 2] = self.bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn u64_at(&self, at: usize) -> Option<u64> {
        let b: [u8; 8] = self.bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u64::from_be_bytes(b)
        } else {
            u64::from_le_bytes(b)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_elf_is_none() {
        let p = Path::new("f");
        assert!(packages_from_elf(p, b"").expect("ok").is_none());
        assert!(packages_from_elf(p, b"#!/bin/sh\n").expect("ok").is_none());
        assert!(packages_from_elf(p, b"\x7fELF").expect("ok").is_none());
        // Class 2, little endian, headers pointing far outside the file.
        let mut h = vec![0u8; 64];
        h[..6].copy_from_slice(b"\x7fELF\x02\x01");
        h[40..48].copy_from_slice(&u64::MAX.to_le_bytes());
        h[58..60].copy_from_slice(&64u16.to_le_bytes());
        h[60..62].copy_from_slice(&3u16.to_le_bytes());
        assert!(packages_from_elf(p, &h).expect("ok").is_none());
    }
}
