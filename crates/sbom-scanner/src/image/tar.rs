//! A small bounded tar reader: ustar/GNU headers, GNU long names (`L`, `K`) and PAX extended
//! headers (`path`, `linkpath`, `size`), the forms `docker save` and image layers use.
//!
//! Streaming (one pass, nothing seeks) and bounded: a long name or PAX header over
//! [`MAX_META`] bytes is an error, header checksums are verified, and the caller decides for
//! each entry whether its content is read (within its own limit) or skipped.

use std::io::Read;

/// Largest GNU long name or PAX extended header read.
pub(crate) const MAX_META: u64 = 64 * 1024;

/// What a tar entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    File,
    Dir,
    Symlink,
    Hardlink,
    /// FIFOs, devices and the rest.
    Other,
}

/// One entry's header, long names and PAX overrides applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) path: String,
    pub(crate) link: String,
    pub(crate) kind: EntryKind,
    pub(crate) size: u64,
    pub(crate) mode: u32,
}

/// Why a tar stream could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TarError {
    #[error("read failed at byte {offset}")]
    Io {
        offset: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("bad header at byte {offset}: {reason}")]
    Header { offset: u64, reason: &'static str },
}

/// Reads entries of a tar stream in order.
pub(crate) struct TarReader<R> {
    r: R,
    /// Bytes consumed so far.
    offset: u64,
    /// Content (and padding) of the current entry not read yet.
    pending: u64,
    /// Content bytes of the current entry not read yet (`pending` less the padding).
    content_left: u64,
    done: bool,
}

impl<R: std::fmt::Debug> std::fmt::Debug for TarReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TarReader")
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

fn padded(size: u64) -> u64 {
    size.div_ceil(512).saturating_mul(512)
}

/// A NUL-terminated field as text (non-UTF-8 bytes replaced).
fn field(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// An octal number field, or GNU base-256 when the high bit of its first byte is set.
fn number(b: &[u8]) -> Option<u64> {
    if b.first().is_some_and(|&c| c & 0x80 != 0) {
        let mut v: u64 = u64::from(b[0] & 0x7f);
        for &c in &b[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(c))?;
        }
        return Some(v);
    }
    let s = std::str::from_utf8(b).ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c == ' ');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

impl<R: Read> TarReader<R> {
    pub(crate) fn new(r: R) -> TarReader<R> {
        TarReader {
            r,
            offset: 0,
            pending: 0,
            content_left: 0,
            done: false,
        }
    }

    /// Bytes of the stream consumed so far (where the next unread byte is).
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    fn io(&self, source: std::io::Error) -> TarError {
        TarError::Io {
            offset: self.offset,
            source,
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), TarError> {
        self.r.read_exact(buf).map_err(|e| self.io(e))?;
        self.offset += buf.len() as u64;
        Ok(())
    }

    fn skip(&mut self, n: u64) -> Result<(), TarError> {
        let copied = std::io::copy(&mut (&mut self.r).take(n), &mut std::io::sink())
            .map_err(|e| self.io(e))?;
        self.offset += copied;
        if copied < n {
            return Err(self.io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        Ok(())
    }

    /// The next entry's header, skipping whatever of the previous entry was not read. `None` at
    /// the end of the archive (two zero blocks, or the stream ending cleanly at a header).
    pub(crate) fn next_header(&mut self) -> Result<Option<Header>, TarError> {
        if self.done {
            return Ok(None);
        }
        self.skip(self.pending)?;
        self.pending = 0;
        self.content_left = 0;
        let mut long_name: Option<String> = None;
        let mut long_link: Option<String> = None;
        let mut pax_path: Option<String> = None;
        let mut pax_link: Option<String> = None;
        let mut pax_size: Option<u64> = None;
        loop {
            let at = self.offset;
            let mut block = [0u8; 512];
            // A stream that ends where a header would start ends the archive.
            let n = read_full(&mut self.r, &mut block).map_err(|e| self.io(e))?;
            self.offset += n as u64;
            if n == 0 {
                self.done = true;
                return Ok(None);
            }
            if n < 512 {
                return Err(TarError::Header {
                    offset: at,
                    reason: "truncated header",
                });
            }
            if block.iter().all(|&b| b == 0) {
                self.done = true;
                return Ok(None);
            }
            let stored = number(&block[148..156]).ok_or(TarError::Header {
                offset: at,
                reason: "checksum field is not a number",
            })?;
            let sum: u64 = block
                .iter()
                .enumerate()
                .map(|(i, &b)| {
                    if (148..156).contains(&i) {
                        32
                    } else {
                        u64::from(b)
                    }
                })
                .sum();
            if sum != stored {
                return Err(TarError::Header {
                    offset: at,
                    reason: "checksum mismatch",
                });
            }
            let size = number(&block[124..136]).ok_or(TarError::Header {
                offset: at,
                reason: "size field is not a number",
            })?;
            let typeflag = block[156];
            match typeflag {
                b'L' | b'K' | b'x' | b'g' => {
                    if size > MAX_META {
                        return Err(TarError::Header {
                            offset: at,
                            reason: "long name or PAX header too large",
                        });
                    }
                    let mut data = vec![0u8; size as usize];
                    self.read_exact(&mut data)?;
                    self.skip(padded(size) - size)?;
                    match typeflag {
                        b'L' => long_name = Some(field(&data)),
                        b'K' => long_link = Some(field(&data)),
                        b'x' => {
                            for (k, v) in pax_records(&data) {
                                match k {
                                    "path" => pax_path = Some(v.to_owned()),
                                    "linkpath" => pax_link = Some(v.to_owned()),
                                    "size" => pax_size = v.parse().ok(),
                                    _ => {}
                                }
                            }
                        }
                        // Global headers apply to later entries; none of their keys matter here.
                        _ => {}
                    }
                    continue;
                }
                _ => {}
            }
            let ustar = &block[257..262] == b"ustar";
            let mut path = field(&block[0..100]);
            if ustar && block[345] != 0 && &block[257..263] == b"ustar\0" {
                // POSIX ustar: a prefix before the name.
                path = format!("{}/{path}", field(&block[345..500]));
            }
            let kind = match typeflag {
                b'0' | 0 | b'7' => EntryKind::File,
                b'5' => EntryKind::Dir,
                b'2' => EntryKind::Symlink,
                b'1' => EntryKind::Hardlink,
                _ => EntryKind::Other,
            };
            let size = pax_size.unwrap_or(size);
            // Only regular files carry content; a size on the others is skipped.
            self.pending = padded(size);
            self.content_left = if kind == EntryKind::File { size } else { 0 };
            return Ok(Some(Header {
                path: pax_path.or(long_name).unwrap_or(path),
                link: pax_link
                    .or(long_link)
                    .unwrap_or_else(|| field(&block[157..257])),
                kind,
                size: if kind == EntryKind::File { size } else { 0 },
                mode: number(&block[100..108]).unwrap_or(0) as u32,
            }));
        }
    }

    /// Reads the current entry's content; the caller has checked its size against its limit.
    pub(crate) fn read_content(&mut self) -> Result<Vec<u8>, TarError> {
        let n = self.content_left;
        let mut data = vec![0u8; n as usize];
        self.read_exact(&mut data)?;
        self.pending -= n;
        self.content_left = 0;
        Ok(data)
    }
}

/// Reads until `buf` is full or the stream ends; the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// `LEN key=value\n` records of a PAX header; malformed records end the list.
fn pax_records(data: &[u8]) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let Some(sp) = rest.iter().position(|&b| b == b' ') else {
            break;
        };
        let Some(len) = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        else {
            break;
        };
        if len <= sp + 1 || len > rest.len() {
            break;
        }
        let rec = &rest[sp + 1..len];
        let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
        if let Ok(rec) = std::str::from_utf8(rec)
            && let Some((k, v)) = rec.split_once('=')
        {
            out.push((k, v));
        }
        rest = &rest[len..];
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A ustar header block for tests (and the fuzz seeds).
    pub(crate) fn header(name: &str, typeflag: u8, size: u64, link: &str) -> [u8; 512] {
        let mut b = [0u8; 512];
        b[..name.len()].copy_from_slice(name.as_bytes());
        b[100..107].copy_from_slice(b"0000755");
        b[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        b[156] = typeflag;
        b[157..157 + link.len()].copy_from_slice(link.as_bytes());
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
        b[148..156].copy_from_slice(b"        ");
        let sum: u64 = b.iter().map(|&c| u64::from(c)).sum();
        b[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        b
    }

    pub(crate) fn entry(out: &mut Vec<u8>, name: &str, typeflag: u8, data: &[u8], link: &str) {
        out.extend_from_slice(&header(name, typeflag, data.len() as u64, link));
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }

    #[test]
    fn reads_entries_long_names_and_pax() {
        let mut t = Vec::new();
        entry(&mut t, "a/", b'5', b"", "");
        entry(&mut t, "a/f", b'0', b"hello", "");
        let long = format!("{}/Cargo.lock", "d".repeat(150));
        entry(&mut t, "././@LongLink", b'L', long.as_bytes(), "");
        entry(&mut t, "short", b'0', b"x", "");
        let rec = "path=p/q\n";
        let pax = format!("{} {rec}", rec.len() + 3);
        entry(&mut t, "pax", b'x', pax.as_bytes(), "");
        entry(&mut t, "ignored", b'2', b"", "../t");
        t.extend_from_slice(&[0u8; 1024]);
        let mut r = TarReader::new(&t[..]);
        let h = r.next_header().unwrap().unwrap();
        assert_eq!((h.path.as_str(), h.kind), ("a/", EntryKind::Dir));
        let h = r.next_header().unwrap().unwrap();
        assert_eq!((h.path.as_str(), h.size), ("a/f", 5));
        assert_eq!(r.read_content().unwrap(), b"hello");
        let h = r.next_header().unwrap().unwrap();
        assert_eq!(h.path, long);
        // Content left unread is skipped.
        let h = r.next_header().unwrap().unwrap();
        assert_eq!(
            (h.path.as_str(), h.kind, h.link.as_str()),
            ("p/q", EntryKind::Symlink, "../t")
        );
        assert!(r.next_header().unwrap().is_none());
        assert!(r.next_header().unwrap().is_none());
    }

    #[test]
    fn corrupt_headers_are_errors() {
        let mut t = Vec::new();
        entry(&mut t, "a", b'0', b"x", "");
        t[0] = b'b';
        assert!(matches!(
            TarReader::new(&t[..]).next_header(),
            Err(TarError::Header { offset: 0, .. })
        ));
        let mut t = Vec::new();
        entry(&mut t, "huge", b'x', &vec![b'a'; MAX_META as usize + 1], "");
        assert!(TarReader::new(&t[..]).next_header().is_err());
        // Truncated content.
        let mut t = Vec::new();
        entry(&mut t, "a", b'0', b"xyz", "");
        t.truncate(514);
        let mut r = TarReader::new(&t[..]);
        r.next_header().unwrap();
        assert!(r.read_content().is_err());
        assert_eq!(number(b"\x80\0\0\0\0\0\0\0\0\0\x01\0"), Some(256));
    }
}
