//! The on-disk spool that keeps records while PostgreSQL is unreachable: numbered segment files of
//! JSON lines (`00000000000000000001.jsonl` …) under `data_dir/spool/`, each append fsync'd, the
//! total bounded by `spool_max_bytes`. Segments are replayed oldest first and deleted once written.
//!
//! Architecture invariant: no async here. Every method blocks on file I/O; the writer calls them on
//! a blocking thread.

use std::collections::VecDeque;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::StoreError;
use crate::record::Record;

/// A segment is closed and a new one started once it holds this much.
pub(crate) const SEGMENT_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    bytes: u64,
    records: u64,
}

/// What an append did. `dropped` counts records that are lost: beyond the bound, or not written
/// because of `error`.
#[derive(Debug, Default)]
pub(crate) struct Appended {
    pub(crate) spooled: u64,
    pub(crate) dropped: u64,
    pub(crate) error: Option<StoreError>,
}

/// One segment read back for replay.
#[derive(Debug)]
pub(crate) struct SegmentRecords {
    pub(crate) records: Vec<Record>,
    /// Lines that are not a record (a torn last line after a crash); they cannot be replayed.
    pub(crate) corrupt: u64,
    pub(crate) path: PathBuf,
}

#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    /// Oldest first. The newest may be `active`.
    segments: VecDeque<Segment>,
    /// Append handle to `segments.back()`. `None` after a restart or once the segment is full or
    /// being replayed: the next append starts a new segment.
    active: Option<File>,
    next_seq: u64,
    bytes: u64,
    records: u64,
}

fn segment_seq(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let digits = name.strip_suffix(".jsonl")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())?
}

fn count_lines(path: &Path) -> std::io::Result<u64> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let read = f.read(&mut buf)?;
        if read == 0 {
            return Ok(n);
        }
        n += buf[..read].iter().filter(|b| **b == b'\n').count() as u64;
    }
}

impl Spool {
    /// Opens `dir` (creating it, mode 0700) and takes stock of segments left by a previous run.
    pub(crate) fn open(
        dir: &Path,
        max_bytes: u64,
        segment_bytes: u64,
    ) -> Result<Spool, StoreError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| StoreError::io("create spool directory", dir, e))?;
        let mut found = Vec::new();
        let entries =
            std::fs::read_dir(dir).map_err(|e| StoreError::io("list spool directory", dir, e))?;
        for entry in entries {
            let path = entry
                .map_err(|e| StoreError::io("list spool directory", dir, e))?
                .path();
            if let Some(seq) = segment_seq(&path) {
                let bytes = std::fs::metadata(&path)
                    .map_err(|e| StoreError::io("stat spool segment", &path, e))?
                    .len();
                let records = count_lines(&path)
                    .map_err(|e| StoreError::io("read spool segment", &path, e))?;
                found.push((
                    seq,
                    Segment {
                        path,
                        bytes,
                        records,
                    },
                ));
            }
        }
        found.sort_by_key(|(seq, _)| *seq);
        let next_seq = found.last().map_or(1, |(seq, _)| seq + 1);
        let segments: VecDeque<Segment> = found.into_iter().map(|(_, s)| s).collect();
        let bytes = segments.iter().map(|s| s.bytes).sum();
        let records = segments.iter().map(|s| s.records).sum();
        Ok(Spool {
            dir: dir.to_owned(),
            max_bytes,
            segment_bytes: segment_bytes.max(1),
            segments,
            active: None,
            next_seq,
            bytes,
            records,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    pub(crate) fn records(&self) -> u64 {
        self.records
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends `records` in order, fsync'd. Records that would take the spool past its bound are
    /// dropped (counted in the result), as are all of them if the write fails.
    pub(crate) fn append(&mut self, records: &[Record]) -> Appended {
        let mut buf = Vec::new();
        let mut taken = 0u64;
        for r in records {
            // Serialising these plain data types cannot fail; should it ever, the record is dropped.
            let Ok(mut line) = serde_json::to_vec(r) else {
                break;
            };
            line.push(b'\n');
            if self.bytes + (buf.len() + line.len()) as u64 > self.max_bytes {
                break;
            }
            buf.extend_from_slice(&line);
            taken += 1;
        }
        let mut out = Appended {
            spooled: 0,
            dropped: records.len() as u64 - taken,
            error: None,
        };
        if taken == 0 {
            return out;
        }
        match self.write(&buf) {
            Ok(()) => {
                if let Some(seg) = self.segments.back_mut() {
                    seg.bytes += buf.len() as u64;
                    seg.records += taken;
                }
                self.bytes += buf.len() as u64;
                self.records += taken;
                out.spooled = taken;
            }
            Err(e) => {
                out.dropped += taken;
                out.error = Some(e);
            }
        }
        out
    }

    fn write(&mut self, buf: &[u8]) -> Result<(), StoreError> {
        let full = self
            .segments
            .back()
            .is_some_and(|s| s.bytes > 0 && s.bytes + buf.len() as u64 > self.segment_bytes);
        if full {
            self.active = None;
        }
        if self.active.is_none() {
            self.start_segment()?;
        }
        let (Some(file), Some(seg)) = (self.active.as_mut(), self.segments.back()) else {
            unreachable!("start_segment() sets both");
        };
        let result = file.write_all(buf).and_then(|()| file.sync_data());
        if let Err(e) = result {
            // Cut off what may have been written of this append (a torn line), and start afresh.
            let _ = file.set_len(seg.bytes);
            self.active = None;
            return Err(StoreError::io("append to spool segment", &seg.path, e));
        }
        Ok(())
    }

    fn start_segment(&mut self) -> Result<(), StoreError> {
        let path = self.dir.join(format!("{:020}.jsonl", self.next_seq));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| StoreError::io("create spool segment", &path, e))?;
        // Persist the new directory entry, or a crash could lose the whole segment.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::io("sync spool directory", &self.dir, e))?;
        self.next_seq += 1;
        self.segments.push_back(Segment {
            path,
            bytes: 0,
            records: 0,
        });
        self.active = Some(file);
        Ok(())
    }

    /// Reads the oldest segment. Appends after this go to a new segment.
    pub(crate) fn read_oldest(&mut self) -> Result<Option<SegmentRecords>, StoreError> {
        let Some(seg) = self.segments.front() else {
            return Ok(None);
        };
        if self.segments.len() == 1 {
            self.active = None;
        }
        let path = seg.path.clone();
        let data =
            std::fs::read(&path).map_err(|e| StoreError::io("read spool segment", &path, e))?;
        let mut records = Vec::new();
        let mut corrupt = 0;
        for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<Record>(line) {
                Ok(r) => records.push(r),
                Err(e) => {
                    corrupt += 1;
                    tracing::error!(path = %path.display(), error = %e, "unreadable line in spool segment");
                }
            }
        }
        Ok(Some(SegmentRecords {
            records,
            corrupt,
            path,
        }))
    }

    /// Deletes the oldest segment (after it was written to the database).
    pub(crate) fn remove_oldest(&mut self) -> Result<(), StoreError> {
        let Some(seg) = self.segments.front() else {
            return Ok(());
        };
        if self.segments.len() == 1 {
            self.active = None;
        }
        match std::fs::remove_file(&seg.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("delete spool segment", &seg.path, e)),
        }
        self.bytes -= seg.bytes;
        self.records -= seg.records;
        self.segments.pop_front();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpost_core::{AlertEvent, AlertSource, Severity};

    fn alerts(n: usize) -> Vec<Record> {
        (0..n)
            .map(|i| {
                AlertEvent::new(AlertSource::External, format!("r{i}"), "t", Severity::Low).into()
            })
            .collect()
    }

    fn drain(spool: &mut Spool) -> Vec<Record> {
        let mut out = Vec::new();
        while let Some(seg) = spool.read_oldest().expect("read") {
            assert_eq!(seg.corrupt, 0);
            out.extend(seg.records);
            spool.remove_oldest().expect("remove");
        }
        out
    }

    #[test]
    fn segments_rotate_and_replay_oldest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(&dir.path().join("spool"), 1 << 20, 600).expect("open");
        let recs = alerts(12);
        for chunk in recs.chunks(2) {
            let a = spool.append(chunk);
            assert_eq!((a.spooled, a.dropped), (2, 0));
            assert!(a.error.is_none());
        }
        assert!(
            spool.segments.len() > 2,
            "{} segments",
            spool.segments.len()
        );
        assert_eq!(spool.records(), 12);
        let on_disk: u64 = spool
            .segments
            .iter()
            .map(|s| std::fs::metadata(&s.path).expect("stat").len())
            .sum();
        assert_eq!(spool.bytes(), on_disk);
        assert_eq!(drain(&mut spool), recs);
        assert!(spool.is_empty());
        assert_eq!((spool.bytes(), spool.records()), (0, 0));
        assert_eq!(std::fs::read_dir(spool.dir()).expect("ls").count(), 0);
    }

    #[test]
    fn records_beyond_the_bound_are_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(dir.path(), 2000, SEGMENT_BYTES).expect("open");
        let a = spool.append(&alerts(100));
        assert!(a.spooled > 0 && a.dropped > 0, "{a:?}");
        assert_eq!(a.spooled + a.dropped, 100);
        assert!(spool.bytes() <= 2000);
        let b = spool.append(&alerts(5));
        assert_eq!((b.spooled, b.dropped), (0, 5));
        assert_eq!(drain(&mut spool).len() as u64, a.spooled);
    }

    #[test]
    fn a_reopened_spool_keeps_its_segments_and_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = alerts(3);
        let second = alerts(2);
        {
            let mut spool = Spool::open(dir.path(), 1 << 20, SEGMENT_BYTES).expect("open");
            spool.append(&first);
        }
        let mut spool = Spool::open(dir.path(), 1 << 20, SEGMENT_BYTES).expect("reopen");
        assert_eq!(spool.records(), 3);
        spool.append(&second);
        assert_eq!(spool.segments.len(), 2, "a restart starts a new segment");
        let all: Vec<Record> = first.into_iter().chain(second).collect();
        assert_eq!(drain(&mut spool), all);
    }

    #[test]
    fn a_torn_line_is_counted_not_fatal() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut spool = Spool::open(dir.path(), 1 << 20, SEGMENT_BYTES).expect("open");
            spool.append(&alerts(2));
        }
        let seg = dir.path().join(format!("{:020}.jsonl", 1));
        let mut f = OpenOptions::new()
            .append(true)
            .open(&seg)
            .expect("open segment");
        f.write_all(b"{\"kind\":\"alert\",\"ev").expect("tear");
        let mut spool = Spool::open(dir.path(), 1 << 20, SEGMENT_BYTES).expect("reopen");
        let seg = spool.read_oldest().expect("read").expect("one segment");
        assert_eq!((seg.records.len(), seg.corrupt), (2, 1));
        spool.remove_oldest().expect("remove");
        assert!(spool.is_empty());
    }
}
