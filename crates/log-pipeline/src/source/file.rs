//! `file`: tails files matched by glob patterns (`*` and `?` in the file name; the directory is
//! literal), picks up new files, follows rotation by rename+create (the old file is read to its
//! end, then the new one from its start) and by copytruncate (a file shorter than the read offset
//! is read again from its start), and starts new files at their beginning or end (`start_at`,
//! which applies only on the very first run: once a checkpoint file exists, a file that appears is
//! read from its start, so a file created while the daemon was down is not skipped).
//! It reads as soon as inotify reports a change in a watched directory, and every `file_poll_ms`
//! as well (the fallback where inotify is unavailable).
//!
//! **Identity.** A file is its (dev, inode) plus a fingerprint: the checksum of its first
//! [`FP_BYTES`] bytes (of all of them while it is shorter; the fingerprint grows with the file up
//! to that size). A checkpoint is resumed only when both match and the file is not shorter than the
//! committed offset; otherwise (inode reused by a new file, a file truncated while the daemon was
//! down) the file is read from its start. A file renamed while the daemon was down keeps its
//! inode and content, so when the glob still matches it (`auth.log*`) it is finished from its
//! checkpoint.
//!
//! **Acknowledgement.** Offsets are committed ([`Checkpoints::commit`]) from what the pipeline
//! acknowledged — every alert and evidence line derived from the lines before the offset durably
//! stored (see `ironpost_core::ack`) — not from what was read, so a crash loses nothing: the lines
//! after the last committed offset are read again, counted as replayed, and stored once because
//! their alerts have deterministic ids. The checkpoint file under `data_dir` is replaced with
//! `ironpost_core::fs::write_durable` (write, fsync, rename, fsync of the directory) at most once a
//! second and at stop. A damaged checkpoint file (unparseable, or empty after a power loss) is
//! moved aside to `checkpoints.json.corrupt`, reported (a warning naming it, health degraded,
//! `ironpost_log_checkpoint_corrupt_total`), and every file is read again from its start: the
//! safe point, because replaying stores nothing twice.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ironpost_core::ack::checksum64;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use super::{Batch, MAX_LINE, SourceMetrics};

const NAME: &str = "file";
/// Bytes read per file per poll at most (then the next file gets its turn).
const READ_CHUNK: usize = 256 * 1024;
/// Bytes of a file's start that make its content fingerprint (as Vector's `checksum` fingerprinter).
pub const FP_BYTES: usize = 256;

/// Where to start in a file seen for the first time (no checkpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    Beginning,
    #[default]
    End,
}

/// A file by identity: rotation changes the inode behind a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileKey {
    pub dev: u64,
    pub ino: u64,
}

/// The content fingerprint of a file: the checksum of its first `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Fingerprint {
    pub sum: u64,
    pub len: u32,
}

impl Fingerprint {
    /// The fingerprint of `file`'s first `min(FP_BYTES, size)` bytes (read without moving its
    /// cursor).
    pub fn of(file: &File, size: u64) -> std::io::Result<Self> {
        Self::prefix(
            file,
            usize::try_from(size).unwrap_or(FP_BYTES).min(FP_BYTES),
        )
    }

    fn prefix(file: &File, want: usize) -> std::io::Result<Self> {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; FP_BYTES];
        let want = want.min(FP_BYTES);
        let mut got = 0;
        while got < want {
            match file.read_at(&mut buf[got..want], got as u64)? {
                0 => break,
                n => got += n,
            }
        }
        Ok(Fingerprint {
            sum: checksum64(&buf[..got]),
            // At most FP_BYTES.
            len: got as u32,
        })
    }

    /// Whether `file` still starts with the bytes this fingerprint was taken from (an entry of an
    /// older version without a fingerprint matches any file).
    fn matches(&self, file: &File) -> bool {
        self.len == 0 || Self::prefix(file, self.len as usize).is_ok_and(|now| now == *self)
    }
}

/// A position the pipeline acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePos {
    pub key: FileKey,
    pub fingerprint: Fingerprint,
    pub path: Arc<str>,
    pub offset: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Entry {
    path: String,
    /// Everything before this offset has been processed and its results stored.
    committed: u64,
    /// Everything before this offset had been read when the checkpoint was written.
    read: u64,
    /// The content fingerprint at the last commit (absent in checkpoints of older versions).
    #[serde(default)]
    fingerprint: Fingerprint,
}

/// What [`Checkpoints::load`] found.
#[derive(Debug)]
pub enum CheckpointLoad {
    /// No checkpoint file: the first run (`start_at` applies).
    Missing,
    Loaded,
    /// Damaged: moved aside; every file is read again from its start.
    Corrupt(CheckpointError),
}

/// A checkpoint file that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("checkpoint file {} is damaged ({reason}); moved to {}, files are read again from their start", path.display(), moved_to.display())]
pub struct CheckpointError {
    pub path: PathBuf,
    pub moved_to: PathBuf,
    pub reason: String,
}

/// Committed offsets, shared by the file source and the pipeline.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    path: PathBuf,
    inner: Arc<Mutex<HashMap<FileKey, Entry>>>,
    /// A checkpoint file existed (valid or not): not the first run.
    existed: bool,
}

impl Checkpoints {
    /// Loads `path`. A damaged file is moved aside to `<path>.corrupt` and reported.
    pub fn load(path: PathBuf) -> (Self, CheckpointLoad) {
        let (map, load) = match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                (HashMap::new(), CheckpointLoad::Missing)
            }
            Err(e) => (HashMap::new(), Self::corrupt(&path, e.to_string())),
            Ok(b) => match serde_json::from_slice::<Vec<(FileKey, Entry)>>(&b) {
                Ok(v) => (v.into_iter().collect(), CheckpointLoad::Loaded),
                Err(e) => (HashMap::new(), Self::corrupt(&path, e.to_string())),
            },
        };
        let existed = !matches!(load, CheckpointLoad::Missing);
        let c = Checkpoints {
            path,
            inner: Arc::new(Mutex::new(map)),
            existed,
        };
        (c, load)
    }

    fn corrupt(path: &Path, reason: String) -> CheckpointLoad {
        let mut moved_to = path.as_os_str().to_owned();
        moved_to.push(".corrupt");
        let moved_to = PathBuf::from(moved_to);
        // Kept for inspection; a rename failure leaves it where it is (overwritten at next save).
        let _ = std::fs::rename(path, &moved_to);
        CheckpointLoad::Corrupt(CheckpointError {
            path: path.to_owned(),
            moved_to,
            reason,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<FileKey, Entry>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Everything derived from the lines before `pos` is stored. Positions of one file arrive in
    /// read order (the acknowledgement watermark), so the last one wins, also after a copytruncate.
    /// Returns how many bytes the committed offset moved forward.
    pub fn commit(&self, pos: &FilePos) -> u64 {
        let mut m = self.lock();
        let e = m.entry(pos.key).or_default();
        let moved = pos.offset.saturating_sub(e.committed);
        e.path = pos.path.to_string();
        e.committed = pos.offset;
        e.fingerprint = pos.fingerprint;
        moved
    }

    fn get(&self, key: &FileKey) -> Option<Entry> {
        self.lock().get(key).cloned()
    }

    fn note_read(&self, key: FileKey, path: &str, read: u64) {
        let mut m = self.lock();
        let e = m.entry(key).or_default();
        e.path = path.to_owned();
        e.read = read;
    }

    fn reset(&self, key: FileKey) {
        if let Some(e) = self.lock().get_mut(&key) {
            e.committed = 0;
            e.read = 0;
        }
    }

    /// Writes the checkpoint file durably, keeping only files in `live` (all when `None`).
    pub fn save(&self, live: Option<&[FileKey]>) -> std::io::Result<()> {
        let entries: Vec<(FileKey, Entry)> = {
            let mut m = self.lock();
            if let Some(live) = live {
                m.retain(|k, _| live.contains(k));
            }
            m.iter().map(|(k, e)| (*k, e.clone())).collect()
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let bytes = serde_json::to_vec(&entries).map_err(std::io::Error::other)?;
        ironpost_core::fs::write_durable(&self.path, &bytes).map_err(std::io::Error::other)
    }
}

pub use ironpost_core::glob::glob_match;

/// Paths currently matching `patterns`.
pub fn expand(patterns: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for pat in patterns {
        let (Some(dir), Some(name)) = (pat.parent(), pat.file_name().and_then(|n| n.to_str()))
        else {
            continue;
        };
        if !name.contains(['*', '?']) {
            if pat.is_file() {
                out.push(pat.clone());
            }
            continue;
        }
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = rd
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_str().is_some_and(|n| glob_match(name, n)))
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        out.extend(found);
    }
    out.dedup();
    out
}

struct Tailed {
    path: Arc<str>,
    key: FileKey,
    fingerprint: Fingerprint,
    file: File,
    offset: u64,
    partial: Vec<u8>,
    /// The partial line already exceeded MAX_LINE (the rest until newline is skipped).
    skipping: bool,
    /// Bytes before this offset were read in an earlier run and may be duplicates.
    replay_until: u64,
}

/// Checkpoints are written at most this often while lines flow (and at stop).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

type Events = inotify::EventStream<[u8; 4096]>;

/// An inotify stream on the directories of the patterns, so that a new line is read as soon as it
/// is written; the poll stays as the fallback (and is all there is where inotify is unavailable or
/// a directory is itself a glob).
fn watcher(patterns: &[PathBuf]) -> Option<Events> {
    use inotify::WatchMask;
    let ino = inotify::Inotify::init().ok()?;
    let mask = WatchMask::MODIFY | WatchMask::CREATE | WatchMask::MOVED_TO | WatchMask::CLOSE_WRITE;
    let mut any = false;
    for p in patterns {
        let Some(dir) = p.parent() else { continue };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let globbed = dir.to_string_lossy().contains(['*', '?', '[']);
        if !globbed && ino.watches().add(dir, mask).is_ok() {
            any = true;
        }
    }
    if !any {
        return None;
    }
    ino.into_event_stream([0u8; 4096]).ok()
}

/// The next change, or `None` when the stream failed; never resolves without a stream.
async fn next_event(events: &mut Option<Events>) -> Option<()> {
    use futures_util::StreamExt;
    match events {
        Some(s) => s.next().await.and_then(Result::ok).map(drop),
        None => std::future::pending().await,
    }
}

fn drain(events: &mut Option<Events>) {
    use futures_util::{FutureExt, StreamExt};
    if let Some(s) = events {
        while let Some(Some(Ok(_))) = s.next().now_or_never() {}
    }
}

/// Tails files; see the module doc.
#[derive(Debug)]
pub struct FileSource {
    patterns: Vec<PathBuf>,
    start_at: StartAt,
    poll: Duration,
    checkpoints: Checkpoints,
}

impl FileSource {
    pub fn new(
        patterns: Vec<PathBuf>,
        start_at: StartAt,
        poll: Duration,
        checkpoints: Checkpoints,
    ) -> Self {
        FileSource {
            patterns,
            start_at,
            poll,
            checkpoints,
        }
    }

    /// Reads until `stop` turns true. Batches carry the position to acknowledge.
    pub async fn run(
        self,
        out: mpsc::Sender<(Batch, FilePos)>,
        metrics: SourceMetrics,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut files: HashMap<PathBuf, Tailed> = HashMap::new();
        let mut retired: Vec<Tailed> = Vec::new();
        let mut first_scan = true;
        let mut tick = tokio::time::interval(self.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_save = Instant::now();
        let mut buf = vec![0u8; READ_CHUNK];
        let mut events = watcher(&self.patterns);
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = tick.tick() => {}
                ev = next_event(&mut events) => match ev {
                    // One pass for every change already queued.
                    Some(()) => drain(&mut events),
                    None => events = None,
                },
            }
            self.scan(&mut files, &mut retired, first_scan, &metrics);
            first_scan = false;
            // Rotated-away files first: they hold the older lines.
            for t in retired.iter_mut().chain(files.values_mut()) {
                loop {
                    if (t.fingerprint.len as usize) < FP_BYTES
                        && let Ok(fp) = Fingerprint::prefix(&t.file, FP_BYTES)
                    {
                        t.fingerprint = fp;
                    }
                    match read_lines(t, &metrics, &mut buf) {
                        Ok(Some((batch, pos))) => {
                            self.checkpoints.note_read(t.key, &t.path, pos.offset);
                            metrics.count(&batch);
                            if out.send((batch, pos)).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(_) => {
                            metrics.errors.with_label_values(&[NAME]).inc();
                            break;
                        }
                    }
                }
            }
            retired.clear();
            if last_save.elapsed() >= CHECKPOINT_EVERY {
                last_save = Instant::now();
                let live: Vec<FileKey> = files.values().map(|t| t.key).collect();
                if self.checkpoints.save(Some(&live)).is_err() {
                    metrics.errors.with_label_values(&[NAME]).inc();
                }
            }
        }
        let live: Vec<FileKey> = files.values().map(|t| t.key).collect();
        if self.checkpoints.save(Some(&live)).is_err() {
            metrics.errors.with_label_values(&[NAME]).inc();
        }
    }

    fn scan(
        &self,
        files: &mut HashMap<PathBuf, Tailed>,
        retired: &mut Vec<Tailed>,
        first: bool,
        metrics: &SourceMetrics,
    ) {
        for path in expand(&self.patterns) {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let key = FileKey {
                dev: meta.dev(),
                ino: meta.ino(),
            };
            if let Some(t) = files.get_mut(&path) {
                if t.key == key {
                    if meta.len() < t.offset {
                        // copytruncate: the file was emptied in place.
                        t.offset = 0;
                        t.partial.clear();
                        t.skipping = false;
                        self.checkpoints.reset(key);
                        let _ = t.file.seek(SeekFrom::Start(0));
                    }
                    continue;
                }
                // Renamed away and recreated: finish the old file, then start the new one.
                if let Some(old) = files.remove(&path) {
                    retired.push(old);
                }
            }
            let Ok(mut file) = File::open(&path) else {
                metrics.errors.with_label_values(&[NAME]).inc();
                continue;
            };
            let Ok(fingerprint) = Fingerprint::of(&file, meta.len()) else {
                metrics.errors.with_label_values(&[NAME]).inc();
                continue;
            };
            let (offset, replay_until) = match self.checkpoints.get(&key) {
                // The same file (same start), not shorter than what was committed: resume.
                Some(e) if e.committed <= meta.len() && e.fingerprint.matches(&file) => {
                    (e.committed, e.read)
                }
                // The inode now holds another file, or the file was truncated while down.
                Some(_) => {
                    self.checkpoints.reset(key);
                    (0, 0)
                }
                None if first && self.start_at == StartAt::End && !self.checkpoints.existed => {
                    (meta.len(), 0)
                }
                None => (0, 0),
            };
            if file.seek(SeekFrom::Start(offset)).is_err() {
                continue;
            }
            let path_str: Arc<str> = Arc::from(path.display().to_string());
            files.insert(
                path.clone(),
                Tailed {
                    path: path_str,
                    key,
                    fingerprint,
                    file,
                    offset,
                    partial: Vec::new(),
                    skipping: false,
                    replay_until,
                },
            );
        }
    }
}

/// Reads up to READ_CHUNK bytes of complete lines from `t`.
fn read_lines(
    t: &mut Tailed,
    metrics: &SourceMetrics,
    buf: &mut [u8],
) -> std::io::Result<Option<(Batch, FilePos)>> {
    let n = t.file.read(buf)?;
    if n == 0 {
        return Ok(None);
    }
    let data = &buf[..n];
    let mut batch = Batch::with_capacity(NAME, t.path.clone(), n);
    let mut start = 0;
    let mut line_start_offset = t.offset - t.partial.len() as u64;
    let mut end_offset = None;
    for nl in memchr::memchr_iter(b'\n', data) {
        let piece = &data[start..nl];
        let line_end = t.offset + nl as u64 + 1;
        if t.skipping {
            t.skipping = false;
        } else if t.partial.is_empty() {
            push_line(&mut batch, piece, line_start_offset, metrics);
        } else {
            let room = MAX_LINE.saturating_sub(t.partial.len());
            t.partial.extend_from_slice(&piece[..piece.len().min(room)]);
            if piece.len() > room {
                metrics.truncated.with_label_values(&[NAME]).inc();
            }
            let line = std::mem::take(&mut t.partial);
            push_line(&mut batch, &line, line_start_offset, metrics);
        }
        if line_start_offset < t.replay_until {
            metrics.replayed.with_label_values(&[NAME]).inc();
        }
        line_start_offset = line_end;
        end_offset = Some(line_end);
        start = nl + 1;
    }
    let rest = &data[start..];
    if !t.skipping {
        let room = MAX_LINE.saturating_sub(t.partial.len());
        if rest.len() > room {
            t.partial.extend_from_slice(&rest[..room]);
            metrics.truncated.with_label_values(&[NAME]).inc();
            let line = std::mem::take(&mut t.partial);
            push_line(&mut batch, &line, line_start_offset, metrics);
            t.skipping = true;
        } else {
            t.partial.extend_from_slice(rest);
        }
    }
    t.offset += n as u64;
    let offset = end_offset.unwrap_or(t.offset - t.partial.len() as u64);
    Ok(Some((
        batch,
        FilePos {
            key: t.key,
            fingerprint: t.fingerprint,
            path: t.path.clone(),
            offset,
        },
    )))
}

fn push_line(batch: &mut Batch, line: &[u8], offset: u64, metrics: &SourceMetrics) {
    let mut l = line;
    if l.len() > MAX_LINE {
        metrics.truncated.with_label_values(&[NAME]).inc();
        l = &l[..MAX_LINE];
    }
    while let [rest @ .., b'\r'] = l {
        l = rest;
    }
    if !l.is_empty() {
        batch.push_at(l, offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_lists_matches_sorted() {
        let d = tempfile::tempdir().unwrap();
        for f in ["b.log", "a.log", "c.txt"] {
            std::fs::write(d.path().join(f), "x\n").unwrap();
        }
        let got = expand(&[
            d.path().join("*.log"),
            d.path().join("c.txt"),
            d.path().join("missing"),
        ]);
        let names: Vec<_> = got
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["a.log", "b.log", "c.txt"]);
    }
}
