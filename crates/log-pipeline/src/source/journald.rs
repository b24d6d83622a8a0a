//! `journald`: follows the systemd journal through `journalctl -o json --follow`, as Vector's
//! journald source does, with a cursor persisted under the pipeline's data directory.
//!
//! **Start.** With a saved cursor: `--after-cursor=C`. Without one, `file_start_at` decides:
//! `end` (`-n 0`, new entries only) or `beginning` (`--no-tail`, the whole journal). A cursor file
//! that is not a cursor (damaged, hand-edited) is reported (warning, and
//! `ironpost_log_journald_cursor_invalid_total`) and the source starts from the end: replaying
//! an unknown part of the journal could raise a storm of old alerts, and the entries skipped are
//! still in the journal for an operator to read.
//!
//! **Acknowledgement.** Each batch travels with the cursor of its last entry; the pipeline
//! commits it ([`CursorFile::commit`]) only once every alert and evidence line raised by the
//! batch and those before it is stored (the acknowledgement watermark, `ironpost_core::ack`), and
//! the file is written from commits (write, fsync, rename, fsync of the directory) at most once a
//! second and at stop, after the pipeline drained. A crash, or a stop while alerts are still
//! queued for the store, replays the entries after the last commit; their alerts have
//! deterministic ids (entry + rule), so they are stored once.
//!
//! **The child.** `journalctl` (path configurable, and `--directory` for a journal elsewhere)
//! runs with `--output-fields` limited to what records use, so an entry stays small; entries
//! are bounded to [`MAX_ENTRY`] bytes (longer ones are skipped to their end and counted as
//! truncated and dropped). If it exits, it is started again after a backoff (0.5 s doubling to
//! 30 s, reset after a child that produced entries), from the last entry read; restarts are
//! counted (`ironpost_log_journald_restarts_total`) and the module is Degraded until the new
//! child produced entries or ran for 5 s. A child that fails at once on a saved cursor drops the cursor (counted as invalid) so
//! the next start is from the end. At stop the child is killed.
//!
//! Filters: `units` (`-u`, any of them) and `identifiers` (`-t`, any of them); both given, an
//! entry must match one of each. The trust keys say whose entries are authenticated (see
//! `parse/journal.rs`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ironpost_core::config::{Issues, key};
use ironpost_core::metrics::{self, prometheus};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use super::file::StartAt;
use super::{Batch, SourceMetrics};
use crate::parse::journal::{JournalTrust, cursor_of, valid_cursor};
use crate::pipeline::PipelineError;

/// The component name (metric label, batch source).
pub const NAME: &str = "journald";
/// Longest `journalctl` JSON line read: a 64 KiB message whose bytes journald had to encode as
/// numbers takes up to four times that.
pub const MAX_ENTRY: usize = 4 * super::MAX_LINE + 4096;
/// Entries handed on together at most.
const BATCH_ENTRIES: usize = 512;
/// Fields asked of `journalctl` (it always adds `__CURSOR`, the timestamps and `_BOOT_ID`).
const FIELDS: &str = "MESSAGE,SYSLOG_IDENTIFIER,_PID,PRIORITY,SYSLOG_FACILITY,_HOSTNAME,_COMM,_EXE,_SYSTEMD_UNIT,_UID,_TRANSPORT";
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// A child alive this long without entries counts as up (the journal may just be quiet).
const UP_AFTER: Duration = Duration::from_secs(5);

/// `[log_pipeline.journald]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournaldConfig {
    /// The `journalctl` binary.
    pub journalctl: PathBuf,
    /// Read the journal files in this directory (`journalctl --directory`) instead of the
    /// system journal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<PathBuf>,
    /// Only entries of these systemd units (`journalctl -u`); empty: all.
    pub units: Vec<String>,
    /// Only entries with these `SYSLOG_IDENTIFIER`s (`journalctl -t`); empty: all.
    pub identifiers: Vec<String>,
    /// Executables (`_EXE`, absolute paths) whose entries are authenticated when the entry's
    /// identifier is the executable's file name, `_COMM` agrees and `_UID` is trusted. Default:
    /// where Debian, Fedora and Arch install sshd and OpenSSH 9.8+'s `sshd-session`/`sshd-auth`.
    pub trusted_exes: Vec<PathBuf>,
    /// User ids (`_UID`) an authenticated entry's writer may run as. Default: root only.
    pub trusted_uids: Vec<u32>,
    /// When set, an authenticated entry must also come from one of these units
    /// (`_SYSTEMD_UNIT`, e.g. `ssh.service`). Empty: not checked (no systemd as PID 1, no units).
    pub trusted_units: Vec<String>,
}

impl Default for JournaldConfig {
    fn default() -> Self {
        JournaldConfig {
            journalctl: PathBuf::from("/usr/bin/journalctl"),
            directory: None,
            units: Vec::new(),
            identifiers: Vec::new(),
            trusted_exes: [
                "/usr/sbin/sshd",
                "/usr/bin/sshd",
                "/usr/lib/openssh/sshd-session",
                "/usr/lib/openssh/sshd-auth",
                "/usr/libexec/openssh/sshd-session",
                "/usr/libexec/openssh/sshd-auth",
                "/usr/lib/ssh/sshd-session",
                "/usr/lib/ssh/sshd-auth",
            ]
            .map(PathBuf::from)
            .to_vec(),
            trusted_uids: vec![0],
            trusted_units: Vec::new(),
        }
    }
}

impl JournaldConfig {
    /// Checks the section; `active` when the source is enabled.
    pub fn validate(&self, prefix: &str, active: bool, issues: &mut Issues) {
        if !self.journalctl.is_absolute() {
            issues.push(
                key(prefix, "journalctl"),
                format!("`{}` must be an absolute path", self.journalctl.display()),
            );
        } else if active && !self.journalctl.is_file() {
            issues.push(
                key(prefix, "journalctl"),
                format!(
                    "`{}` does not exist (Debian: package systemd)",
                    self.journalctl.display()
                ),
            );
        }
        if let Some(d) = self.directory.as_ref().filter(|d| !d.is_absolute()) {
            issues.push(
                key(prefix, "directory"),
                format!("`{}` must be an absolute path", d.display()),
            );
        }
        for (i, p) in self.trusted_exes.iter().enumerate() {
            if !p.is_absolute() || p.to_str().is_none() {
                issues.push(
                    format!("{}[{i}]", key(prefix, "trusted_exes")),
                    format!("`{}` must be an absolute UTF-8 path", p.display()),
                );
            }
        }
        for (name, list) in [
            ("units", &self.units),
            ("identifiers", &self.identifiers),
            ("trusted_units", &self.trusted_units),
        ] {
            for (i, v) in list.iter().enumerate() {
                // Passed to journalctl as one argument each: no option-looking or empty values.
                if v.is_empty() || v.starts_with('-') || v.contains(char::is_whitespace) {
                    issues.push(
                        format!("{}[{i}]", key(prefix, name)),
                        format!(
                            "`{v}` must be a non-empty name without spaces, not starting with `-`"
                        ),
                    );
                }
            }
        }
    }

    /// The trust keys as the entry parser wants them.
    pub fn trust(&self) -> JournalTrust {
        JournalTrust {
            exes: self
                .trusted_exes
                .iter()
                .filter_map(|p| p.to_str().map(String::from))
                .collect(),
            uids: self.trusted_uids.clone(),
            units: self.trusted_units.clone(),
        }
    }
}

/// What the source counts beyond [`SourceMetrics`].
#[derive(Clone)]
pub struct JournaldMetrics {
    pub restarts: prometheus::IntCounter,
    pub cursor_invalid: prometheus::IntCounter,
}

impl std::fmt::Debug for JournaldMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournaldMetrics").finish_non_exhaustive()
    }
}

impl JournaldMetrics {
    pub fn new(r: &prometheus::Registry) -> Self {
        JournaldMetrics {
            restarts: metrics::int_counter(
                r,
                "log_journald_restarts_total",
                "journalctl children started again after one exited.",
            ),
            cursor_invalid: metrics::int_counter(
                r,
                "log_journald_cursor_invalid_total",
                "Saved journal cursors that were unreadable or refused by journalctl (the source then starts from the end).",
            ),
        }
    }
}

/// What was found in the cursor file at start.
#[derive(Debug)]
pub enum CursorLoad {
    Missing,
    Found(String),
    /// The file exists but holds no cursor: [`PipelineError::CursorRead`] or
    /// [`PipelineError::NotACursor`].
    Invalid(PipelineError),
}

#[derive(Debug, Default)]
struct CursorState {
    committed: Option<String>,
    saved: Option<String>,
    last_save: Option<Instant>,
}

/// The committed cursor and its file, shared by the source and the pipeline worker.
#[derive(Debug, Clone)]
pub struct CursorFile {
    path: PathBuf,
    state: Arc<Mutex<CursorState>>,
}

impl CursorFile {
    /// Reads `path` (one cursor, optionally followed by a newline).
    pub fn load(path: PathBuf) -> (Self, CursorLoad) {
        let load = match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => CursorLoad::Missing,
            Err(source) => CursorLoad::Invalid(PipelineError::CursorRead {
                path: path.clone(),
                source,
            }),
            Ok(b) => match std::str::from_utf8(&b).map(str::trim_end) {
                Ok(c) if valid_cursor(c) => CursorLoad::Found(c.to_owned()),
                _ => CursorLoad::Invalid(PipelineError::NotACursor { path: path.clone() }),
            },
        };
        let committed = match &load {
            CursorLoad::Found(c) => Some(c.clone()),
            _ => None,
        };
        let f = CursorFile {
            path,
            state: Arc::new(Mutex::new(CursorState {
                saved: committed.clone(),
                committed,
                last_save: None,
            })),
        };
        (f, load)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CursorState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pipeline processed every entry up to and including `cursor`.
    pub fn commit(&self, cursor: &str) {
        self.lock().committed = Some(cursor.to_owned());
    }

    pub fn committed(&self) -> Option<String> {
        self.lock().committed.clone()
    }

    /// Forgets the cursor (journalctl refused it); the file is removed.
    fn forget(&self) {
        let mut s = self.lock();
        s.committed = None;
        s.saved = None;
        let _ = std::fs::remove_file(&self.path);
    }

    /// Writes the committed cursor if it changed and `SAVE_EVERY` passed since the last write.
    pub fn save_due(&self) -> std::io::Result<()> {
        let due = self
            .lock()
            .last_save
            .is_none_or(|t| t.elapsed() >= SAVE_EVERY);
        if due { self.save() } else { Ok(()) }
    }

    /// Writes the committed cursor now if it changed: temporary file, fsync, rename, fsync of
    /// the directory, so a crash leaves the old cursor or the new one, never a torn file.
    pub fn save(&self) -> std::io::Result<()> {
        let cursor = {
            let mut s = self.lock();
            s.last_save = Some(Instant::now());
            match &s.committed {
                Some(c) if s.saved.as_ref() != Some(c) => c.clone(),
                _ => return Ok(()),
            }
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = self.path.with_extension("tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(cursor.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        std::fs::File::open(dir)?.sync_all()?;
        self.lock().saved = Some(cursor);
        Ok(())
    }
}

/// Why the source is not reading, for the module's health (`None`: reading).
pub type SourceStatus = Arc<Mutex<Option<String>>>;

/// Follows the journal; see the module doc.
#[derive(Debug)]
pub struct JournaldSource {
    cfg: JournaldConfig,
    start_at: StartAt,
    cursor: CursorFile,
    status: SourceStatus,
    metrics: JournaldMetrics,
}

/// Where the next child starts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum From {
    After(String),
    End,
    Beginning,
}

impl JournaldSource {
    pub fn new(
        cfg: JournaldConfig,
        start_at: StartAt,
        cursor: CursorFile,
        status: SourceStatus,
        metrics: JournaldMetrics,
    ) -> Self {
        JournaldSource {
            cfg,
            start_at,
            cursor,
            status,
            metrics,
        }
    }

    fn command(&self, from: &From) -> Command {
        let mut c = Command::new(&self.cfg.journalctl);
        c.args(["-o", "json", "--all", "--follow", "--no-pager", "--quiet"])
            .arg(format!("--output-fields={FIELDS}"));
        if let Some(d) = &self.cfg.directory {
            c.arg("--directory").arg(d);
        }
        for u in &self.cfg.units {
            c.arg("-u").arg(u);
        }
        for t in &self.cfg.identifiers {
            c.arg("-t").arg(t);
        }
        match from {
            From::After(cursor) => c.arg(format!("--after-cursor={cursor}")),
            From::End => c.args(["-n", "0"]),
            From::Beginning => c.arg("--no-tail"),
        };
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    fn set_status(&self, s: Option<String>) {
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = s;
    }

    /// Reads until `stop` turns true. Batches carry the cursor of their last entry.
    pub async fn run(
        self,
        out: mpsc::Sender<(Batch, Option<String>)>,
        metrics: SourceMetrics,
        mut stop: watch::Receiver<bool>,
    ) {
        let origin: Arc<str> = Arc::from(match &self.cfg.directory {
            Some(d) => format!("journald:{}", d.display()),
            None => "journald".to_owned(),
        });
        let mut from = match self.cursor.committed() {
            Some(c) => From::After(c),
            None if self.start_at == StartAt::Beginning => From::Beginning,
            None => From::End,
        };
        let mut backoff = BACKOFF_MIN;
        let mut first = true;
        loop {
            if !first {
                self.metrics.restarts.inc();
                tokio::select! {
                    _ = stop.changed() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
            first = false;
            let mut child = match self.command(&from).spawn() {
                Ok(c) => c,
                Err(e) => {
                    metrics.errors.with_label_values(&[NAME]).inc();
                    let msg = format!(
                        "journald: cannot run {}: {e}",
                        self.cfg.journalctl.display()
                    );
                    warn!("{msg}");
                    self.set_status(Some(msg));
                    continue;
                }
            };
            let stderr = child.stderr.take().map(|e| tokio::spawn(tail(e)));
            let Some(stdout) = child.stdout.take() else {
                continue;
            };
            let mut reader = BufReader::with_capacity(256 * 1024, stdout);
            let mut follower = Follower::default();
            // Up: once it produced entries, or stayed alive this long (a quiet journal).
            let up_at = tokio::time::Instant::now() + UP_AFTER;
            let mut up = false;
            let end = loop {
                let mut batch = Batch::new(NAME, origin.clone());
                // Cancelling `fill` loses nothing: complete lines are in `batch` (sent below),
                // a partial one in `follower`, unread bytes in `reader`.
                let r = tokio::select! {
                    _ = stop.changed() => Ended::Stop,
                    _ = tokio::time::sleep_until(up_at), if !up => {
                        up = true;
                        self.set_status(None);
                        Ended::More
                    }
                    r = follower.fill(&mut reader, &mut batch, &metrics) => r,
                };
                if !batch.is_empty() {
                    if !up {
                        up = true;
                        self.set_status(None);
                    }
                    backoff = BACKOFF_MIN;
                    let cursor = batch
                        .lines()
                        .filter_map(|l| cursor_of(l).map(str::to_owned))
                        .last();
                    if let Some(c) = &cursor {
                        from = From::After(c.clone());
                    }
                    metrics.count(&batch);
                    if out.send((batch, cursor)).await.is_err() {
                        break Ended::Stop;
                    }
                }
                if r != Ended::More {
                    break r;
                }
            };
            let _ = child.start_kill();
            let status = child.wait().await;
            if end == Ended::Stop {
                break;
            }
            let err = match stderr {
                Some(h) => h.await.unwrap_or_default(),
                None => String::new(),
            };
            metrics.errors.with_label_values(&[NAME]).inc();
            let msg = format!(
                "journald: journalctl exited ({}){}{}",
                status.map_or_else(|e| e.to_string(), |s| s.to_string()),
                if err.is_empty() { "" } else { ": " },
                err.trim()
            );
            warn!("{msg}");
            self.set_status(Some(msg));
            // Refused at once on a saved cursor: drop it rather than fail forever.
            if follower.entries == 0
                && let From::After(c) = &from
                && self.cursor.committed().as_deref() == Some(c.as_str())
            {
                warn!(cursor = %c, "journald: cursor refused; starting from the end");
                self.metrics.cursor_invalid.inc();
                self.cursor.forget();
                from = From::End;
            }
        }
        if self.cursor.save().is_err() {
            metrics.errors.with_label_values(&[NAME]).inc();
        }
        info!("journald source stopped");
    }
}

/// Keeps the last 512 bytes `journalctl` wrote on stderr (its reason for exiting).
async fn tail(mut e: tokio::process::ChildStderr) -> String {
    let mut keep = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = e.read(&mut buf).await {
        if n == 0 {
            break;
        }
        keep.extend_from_slice(&buf[..n]);
        if keep.len() > 512 {
            keep.drain(..keep.len() - 512);
        }
    }
    String::from_utf8_lossy(&keep).into_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The batch is full or nothing more is buffered: send it and read on.
    More,
    /// The child's output ended.
    Eof,
    Stop,
}

/// Line assembly across reads, bounded to [`MAX_ENTRY`].
#[derive(Debug, Default)]
struct Follower {
    partial: Vec<u8>,
    /// The current line is over the bound: its rest is skipped.
    skipping: bool,
    /// Entries read from this child.
    entries: u64,
}

impl Follower {
    /// Waits for at least one complete entry, then takes what else is already buffered (up to
    /// `BATCH_ENTRIES`) without waiting.
    async fn fill<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut BufReader<R>,
        batch: &mut Batch,
        metrics: &SourceMetrics,
    ) -> Ended {
        loop {
            let buf = match reader.fill_buf().await {
                Ok(b) => b,
                Err(_) => {
                    metrics.errors.with_label_values(&[NAME]).inc();
                    return Ended::Eof;
                }
            };
            if buf.is_empty() {
                return Ended::Eof;
            }
            let (used, line_done) = match memchr::memchr(b'\n', buf) {
                Some(i) => (i + 1, Some(i)),
                None => (buf.len(), None),
            };
            let piece = &buf[..line_done.unwrap_or(buf.len())];
            if !self.skipping {
                if self.partial.len() + piece.len() > MAX_ENTRY {
                    // An entry cannot be parsed from its first half: skip it whole, counted.
                    self.skipping = true;
                    self.partial.clear();
                    metrics.truncated.with_label_values(&[NAME]).inc();
                    metrics.dropped.with_label_values(&[NAME]).inc();
                } else {
                    self.partial.extend_from_slice(piece);
                }
            }
            reader.consume(used);
            if line_done.is_some() {
                if !self.skipping && !self.partial.is_empty() {
                    batch.push(&self.partial);
                    self.entries += 1;
                }
                self.partial.clear();
                self.skipping = false;
                let more_buffered = memchr::memchr(b'\n', reader.buffer()).is_some();
                if !batch.is_empty() && (batch.len() >= BATCH_ENTRIES || !more_buffered) {
                    return Ended::More;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_file_round_trip_and_damage() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("journald.cursor");
        let (f, load) = CursorFile::load(p.clone());
        assert!(matches!(load, CursorLoad::Missing), "{load:?}");
        f.commit("s=1;i=2");
        f.save().unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "s=1;i=2\n");
        let (g, load) = CursorFile::load(p.clone());
        assert!(
            matches!(load, CursorLoad::Found(ref c) if c == "s=1;i=2"),
            "{load:?}"
        );
        assert_eq!(g.committed().as_deref(), Some("s=1;i=2"));
        std::fs::write(&p, b"\xff garbage {\n").unwrap();
        let (h, load) = CursorFile::load(p.clone());
        assert!(
            matches!(load, CursorLoad::Invalid(PipelineError::NotACursor { ref path }) if *path == p),
            "{load:?}"
        );
        assert_eq!(h.committed(), None);
    }

    #[tokio::test]
    async fn follower_bounds_entries_and_batches_what_is_buffered() {
        let reg = ironpost_core::metrics::new_registry();
        let m = SourceMetrics::new(&reg);
        let big = "x".repeat(MAX_ENTRY + 10);
        let input = format!("{{\"a\":1}}\n{big}\n{{\"b\":2}}\n{{\"c\":3}}");
        let mut r = BufReader::with_capacity(1024, input.as_bytes());
        let mut f = Follower::default();
        let mut lines = Vec::new();
        loop {
            let mut b = Batch::new(NAME, Arc::from("t"));
            let end = f.fill(&mut r, &mut b, &m).await;
            lines.extend(b.lines().map(|l| String::from_utf8_lossy(l).into_owned()));
            if end != Ended::More {
                break;
            }
        }
        // The oversized entry is skipped, counted; an unterminated last line is not an entry.
        assert_eq!(lines, ["{\"a\":1}", "{\"b\":2}"]);
        assert_eq!(m.truncated.with_label_values(&[NAME]).get(), 1);
        assert_eq!(m.dropped.with_label_values(&[NAME]).get(), 1);
    }

    #[test]
    fn config_validation_names_the_key() {
        let cfg = JournaldConfig {
            journalctl: PathBuf::from("journalctl"),
            identifiers: vec!["--all".into()],
            trusted_exes: vec![PathBuf::from("sshd")],
            ..Default::default()
        };
        let mut issues = Issues::default();
        cfg.validate("log_pipeline.journald", true, &mut issues);
        let keys: Vec<_> = issues.into_vec().into_iter().map(|i| i.key).collect();
        assert_eq!(
            keys,
            [
                "log_pipeline.journald.journalctl",
                "log_pipeline.journald.trusted_exes[0]",
                "log_pipeline.journald.identifiers[0]"
            ]
        );
    }
}
