//! Persistence of the blocklist without rewriting it per block: an append-only journal of
//! block / unblock records (one JSON object per line). A change's record is buffered by
//! [`Journal::append`] and made durable by [`Journal::sync`]: one write and one `fdatasync` for
//! every record buffered since the previous sync (the engine syncs after its kernel map update,
//! before the change is announced; a batch of changes shares one sync). Compacted into
//! the snapshot (`blocklist.json`, written to a temporary file, synced and renamed) when it has
//! grown to twice the live state, and on shutdown.
//!
//! Crash safety: the snapshot is replaced atomically before the journal is truncated, and
//! replaying a record twice gives the same state (a block record carries the whole block, an
//! unblock record names the CIDR), so a crash between the two steps loses nothing. A torn or
//! damaged line (a crash mid-write, a full disk) is skipped, reported and counted; the records
//! after it still apply.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use ironpost_core::net::Cidr;
use serde::{Deserialize, Serialize};

use super::{Block, State};
use crate::{Error, Result};

/// Largest snapshot or journal read back.
pub(super) const MAX_STATE_BYTES: u64 = 256 * 1024 * 1024;
/// Longest journal line accepted (a block record is a few hundred bytes; the reason is bounded
/// by the control socket's frame size).
const MAX_RECORD_BYTES: usize = 256 * 1024;
/// Records waiting for a sync that keeps failing (a full disk) are given up past this size; the
/// failures are counted by the engine, and the next snapshot holds the whole state again.
const MAX_PENDING_BYTES: usize = 16 * 1024 * 1024;
/// The journal is not compacted before it holds this many records.
const COMPACT_MIN_RECORDS: u64 = 4096;

/// One journal line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(super) enum Record {
    /// A block added, renewed, restored or adopted. `remembered`: its offence was recorded in
    /// the repeat-offender history at `added_at`.
    Block {
        block: Block,
        #[serde(default)]
        remembered: bool,
    },
    /// A block removed (expired, evicted, unblocked).
    Unblock { cidr: Cidr },
}

/// The snapshot path and its journal beside it.
#[derive(Debug)]
pub(super) struct Journal {
    snapshot: PathBuf,
    journal: PathBuf,
    file: Option<File>,
    /// Encoded records not yet written (one line each).
    pending: Vec<u8>,
    /// A write failed, maybe part-way: the next one starts with a newline so that its first
    /// record does not extend the torn line.
    torn: bool,
    /// Records appended (buffered or written) since the last compaction.
    pub(super) records: u64,
    /// Snapshots written.
    pub(super) compactions: u64,
}

/// What `Journal::read` found.
#[derive(Debug, Default)]
pub(super) struct ReadBack {
    pub(super) state: Option<State>,
    pub(super) records: Vec<Record>,
    pub(super) warnings: Vec<String>,
    /// Journal lines skipped because they were damaged.
    pub(super) corrupt: u64,
    /// The snapshot was damaged (truncated, zeroed, not our JSON); it was moved aside.
    pub(super) snapshot_damaged: bool,
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::BlocklistState {
        op,
        path: path.to_owned(),
        source,
    }
}

impl Journal {
    /// `snapshot` is `…/blocklist.json`; the journal is `…/blocklist.journal`.
    pub(super) fn new(snapshot: &Path) -> Self {
        Journal {
            snapshot: snapshot.to_owned(),
            journal: snapshot.with_extension("journal"),
            file: None,
            pending: Vec::new(),
            torn: false,
            records: 0,
            compactions: 0,
        }
    }

    /// Reads the snapshot and the journal's records. Nothing here is fatal.
    pub(super) fn read(&self) -> ReadBack {
        let mut out = ReadBack::default();
        match read_bounded(&self.snapshot) {
            Ok(None) => {}
            Ok(Some(text)) => match serde_json::from_slice::<State>(&text) {
                Ok(s) => out.state = Some(s),
                Err(e) => {
                    // Kept for inspection, out of the way of the next snapshot.
                    let aside = self.snapshot.with_extension(format!(
                        "json.corrupt-{}",
                        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
                    ));
                    let moved = match std::fs::rename(&self.snapshot, &aside) {
                        Ok(()) => format!("moved to {}", aside.display()),
                        Err(re) => format!("cannot move it aside: {re}"),
                    };
                    out.snapshot_damaged = true;
                    out.warnings.push(format!(
                        "{} is damaged ({e}; {} bytes), {moved}; starting from the journal and \
                         the pinned kernel maps",
                        self.snapshot.display(),
                        text.len()
                    ));
                }
            },
            Err(w) => out.warnings.push(w),
        }
        let file = match File::open(&self.journal) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return out,
            Err(e) => {
                out.warnings
                    .push(format!("cannot read {}: {e}", self.journal.display()));
                return out;
            }
        };
        let mut reader = BufReader::new(file.take(MAX_STATE_BYTES));
        let mut line = Vec::new();
        let mut lineno = 0u64;
        loop {
            line.clear();
            // Bounded: a line longer than MAX_RECORD_BYTES is read in pieces and rejected.
            match (&mut reader)
                .take(MAX_RECORD_BYTES as u64 + 1)
                .read_until(b'\n', &mut line)
            {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    out.warnings
                        .push(format!("cannot read {}: {e}", self.journal.display()));
                    break;
                }
            }
            lineno += 1;
            if line.len() > MAX_RECORD_BYTES {
                // Skip the rest of the overlong line.
                let mut rest = Vec::new();
                let _ = reader.read_until(b'\n', &mut rest);
                out.corrupt += 1;
                out.warnings.push(format!(
                    "{}:{lineno}: record longer than {MAX_RECORD_BYTES} bytes; skipped",
                    self.journal.display()
                ));
                continue;
            }
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            if text.is_empty() {
                continue;
            }
            match serde_json::from_slice::<Record>(text) {
                Ok(r) => out.records.push(r),
                Err(e) => {
                    out.corrupt += 1;
                    out.warnings.push(format!(
                        "{}:{lineno}: damaged record ({e}); skipped",
                        self.journal.display()
                    ));
                }
            }
        }
        out
    }

    /// Buffers one record; [`Journal::sync`] writes it. Only encoding can fail here.
    pub(super) fn append(&mut self, r: &Record) -> Result<()> {
        let start = self.pending.len();
        if let Err(e) = serde_json::to_writer(&mut self.pending, r) {
            self.pending.truncate(start);
            return Err(Error::BlocklistState {
                op: "encode a record for",
                path: self.journal.clone(),
                source: std::io::Error::other(e),
            });
        }
        self.pending.push(b'\n');
        self.records += 1;
        Ok(())
    }

    /// Whether records wait for [`Journal::sync`].
    pub(super) fn dirty(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes the buffered records and syncs them to disk: one write, one `fdatasync`. On an
    /// error the records stay buffered and the next sync tries again.
    pub(super) fn sync(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if self.file.is_none() {
            if let Some(dir) = self.journal.parent() {
                std::fs::create_dir_all(dir).map_err(io("create the directory of", dir))?;
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.journal)
                .map_err(io("open", &self.journal))?;
            self.file = Some(f);
        }
        let f = self.file.as_mut().expect("opened above");
        let lead: &[u8] = if self.torn { b"\n" } else { b"" };
        if let Err(e) = f
            .write_all(lead)
            .and_then(|()| f.write_all(&self.pending))
            .and_then(|()| f.sync_data())
        {
            // A partial write leaves a torn line, skipped at read-back; the whole batch is
            // written again by the next sync (replaying a record twice changes nothing).
            self.file = None;
            self.torn = true;
            if self.pending.len() > MAX_PENDING_BYTES {
                self.pending.clear();
            }
            return Err(io("append to", &self.journal)(e));
        }
        self.torn = false;
        self.pending.clear();
        Ok(())
    }

    /// Whether the journal has grown enough, relative to `live` blocks, to be compacted.
    pub(super) fn due(&self, live: usize) -> bool {
        self.records >= COMPACT_MIN_RECORDS && self.records > 2 * live as u64
    }

    /// Writes `state` as the snapshot (temporary file, sync, rename) and empties the journal.
    pub(super) fn compact(&mut self, state: &State) -> Result<()> {
        let path = &self.snapshot;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io("create the directory of", dir))?;
        }
        let tmp = path.with_extension("tmp");
        let bytes = serde_json::to_vec(state).map_err(|e| Error::BlocklistState {
            op: "encode",
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        {
            let mut f = File::create(&tmp).map_err(io("create", &tmp))?;
            f.write_all(&bytes)
                .and_then(|()| f.sync_all())
                .map_err(io("write", &tmp))?;
        }
        std::fs::rename(&tmp, path).map_err(io("replace", path))?;
        if let Some(dir) = path.parent()
            && let Ok(d) = File::open(dir)
        {
            // Makes the rename durable before the journal it replaces is emptied.
            let _ = d.sync_all();
        }
        // Reopened on the next sync. The snapshot holds every buffered change already.
        self.file = None;
        self.pending.clear();
        match OpenOptions::new().write(true).open(&self.journal) {
            Ok(f) => f
                .set_len(0)
                .and_then(|()| f.sync_all())
                .map_err(io("truncate", &self.journal))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("open", &self.journal)(e)),
        }
        self.records = 0;
        self.compactions += 1;
        Ok(())
    }
}

/// The file's bytes; `Ok(None)` when it does not exist; `Err` a warning when it cannot be read
/// or is too large.
fn read_bounded(path: &Path) -> std::result::Result<Option<Vec<u8>>, String> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        Ok(m) if m.len() > MAX_STATE_BYTES => Err(format!(
            "{} is larger than {MAX_STATE_BYTES} bytes; ignored",
            path.display()
        )),
        Ok(_) => std::fs::read(path)
            .map(Some)
            .map_err(|e| format!("cannot read {}: {e}", path.display())),
    }
}
