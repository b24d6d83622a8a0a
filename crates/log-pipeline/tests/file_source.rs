//! The `file` source on real files: start position, new files, rotation by rename+create and by
//! copytruncate, and a restart from the committed checkpoint with nothing lost.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use ironpost_core::metrics;
use ironpost_log_pipeline::source::file::{Checkpoints, FilePos, FileSource, StartAt};
use ironpost_log_pipeline::source::{Batch, SourceMetrics};
use tokio::sync::{mpsc, watch};

struct Running {
    rx: mpsc::Receiver<(Batch, FilePos)>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    checkpoints: Checkpoints,
    metrics: SourceMetrics,
}

fn start(dir: &Path, pattern: &str, start_at: StartAt) -> Running {
    start_polling(dir, pattern, start_at, Duration::from_millis(20))
}

fn start_polling(dir: &Path, pattern: &str, start_at: StartAt, poll: Duration) -> Running {
    let reg = metrics::new_registry();
    let m = SourceMetrics::new(&reg);
    let (checkpoints, _) = Checkpoints::load(dir.join("state/checkpoints.json"));
    let src = FileSource::new(vec![dir.join(pattern)], start_at, poll, checkpoints.clone());
    let (tx, rx) = mpsc::channel(16);
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(src.run(tx, m.clone(), stop_rx));
    Running {
        rx,
        stop,
        task,
        checkpoints,
        metrics: m,
    }
}

impl Running {
    /// Receives `n` lines, acknowledging each batch.
    async fn take(&mut self, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            let (b, pos) = tokio::time::timeout(Duration::from_secs(20), self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("got {} of {n} lines: {out:?}", out.len()))
                .unwrap();
            out.extend(b.lines().map(|l| String::from_utf8_lossy(l).into_owned()));
            self.checkpoints.commit(&pos);
        }
        out
    }

    async fn stop(self) -> SourceMetrics {
        self.stop.send(true).unwrap();
        self.task.await.unwrap();
        self.metrics
    }
}

fn append(path: &Path, lines: &[&str]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

#[tokio::test]
async fn start_at_end_skips_old_lines_and_new_files_are_read_from_the_start() {
    let d = tempfile::tempdir().unwrap();
    append(&d.path().join("a.log"), &["old 1", "old 2"]);
    let mut r = start(d.path(), "*.log", StartAt::End);
    tokio::time::sleep(Duration::from_millis(100)).await;
    append(&d.path().join("a.log"), &["new 1"]);
    assert_eq!(r.take(1).await, ["new 1"]);
    append(&d.path().join("b.log"), &["b 1", "b 2"]);
    assert_eq!(r.take(2).await, ["b 1", "b 2"]);
    r.stop().await;
}

#[tokio::test]
async fn start_at_beginning_reads_everything_and_partial_lines_wait() {
    let d = tempfile::tempdir().unwrap();
    append(&d.path().join("a.log"), &["one", "two"]);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(d.path().join("a.log"))
        .unwrap();
    write!(f, "thr").unwrap();
    let mut r = start(d.path(), "a.log", StartAt::Beginning);
    assert_eq!(r.take(2).await, ["one", "two"]);
    writeln!(f, "ee").unwrap();
    assert_eq!(r.take(1).await, ["three"]);
    r.stop().await;
}

#[tokio::test]
async fn rotation_by_rename_and_by_copytruncate_loses_nothing() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("auth.log");
    append(&log, &["1"]);
    let mut r = start(d.path(), "auth.log", StartAt::Beginning);
    assert_eq!(r.take(1).await, ["1"]);
    // logrotate's default: rename, then the writer creates a new file.
    append(&log, &["2"]);
    std::fs::rename(&log, d.path().join("auth.log.1")).unwrap();
    append(
        &d.path().join("auth.log.1"),
        &["3 written late to the old file"],
    );
    append(&log, &["4"]);
    let got = r.take(3).await;
    assert_eq!(got.len(), 3);
    for want in ["2", "3 written late to the old file", "4"] {
        assert!(got.iter().any(|g| g == want), "{want} missing from {got:?}");
    }
    // copytruncate: the content is copied away and the file emptied in place.
    append(&log, &["5"]);
    assert_eq!(r.take(1).await, ["5"]);
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    append(&log, &["6"]);
    assert_eq!(r.take(1).await, ["6"]);
    r.stop().await;
}

#[tokio::test]
async fn restart_resumes_from_the_committed_checkpoint() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    let lines: Vec<String> = (0..1000).map(|i| format!("line {i}")).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    append(&log, &refs[..600]);
    let mut r = start(d.path(), "app.log", StartAt::Beginning);
    let first = r.take(600).await;
    r.stop().await;
    append(&log, &refs[600..]);
    // The second run starts where the first committed: nothing lost, nothing read twice.
    let mut r = start(d.path(), "app.log", StartAt::Beginning);
    let second = r.take(400).await;
    let all: Vec<String> = first.into_iter().chain(second).collect();
    assert_eq!(all, lines);
    r.stop().await;
}

/// inotify wakes the source: with a one-minute poll, a written line still arrives at once (the
/// wait below gives up long before the next poll).
#[tokio::test]
async fn a_written_line_is_read_without_waiting_for_the_poll() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    std::fs::write(&path, "first line, read by the scan at start\n").unwrap();
    let mut r = start_polling(
        dir.path(),
        "auth.log",
        StartAt::Beginning,
        Duration::from_secs(60),
    );
    assert_eq!(r.take(1).await.len(), 1);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    writeln!(f, "Failed password for root from 198.18.3.3 port 22 ssh2").unwrap();
    let (b, _) = tokio::time::timeout(Duration::from_secs(5), r.rx.recv())
        .await
        .expect("the line arrives through inotify, not after the 60 s poll")
        .unwrap();
    assert_eq!(b.lines().count(), 1);
    r.stop().await;
}

/// A file rotated (renamed) while the daemon was down is finished from its checkpoint when the
/// glob still matches it; the file created in its place is read from its start although
/// `start_at = end` (that applies only on the very first run).
#[tokio::test]
async fn rotation_while_down_finishes_the_old_file_and_reads_the_new_one() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("auth.log");
    append(&log, &["1", "2"]);
    let mut r = start(d.path(), "auth.log*", StartAt::Beginning);
    assert_eq!(r.take(2).await, ["1", "2"]);
    r.stop().await;
    append(&log, &["3 written before the rotation"]);
    std::fs::rename(&log, d.path().join("auth.log.1")).unwrap();
    append(&log, &["4 in the new file"]);
    let mut r = start(d.path(), "auth.log*", StartAt::End);
    let mut got = r.take(2).await;
    got.sort();
    assert_eq!(got, ["3 written before the rotation", "4 in the new file"]);
    let m = r.stop().await;
    assert_eq!(m.replayed.with_label_values(&["file"]).get(), 0);
}

/// The same (dev, inode) with other content (a reused inode, or a file rewritten in place while
/// the daemon was down): the fingerprint differs, so the file is read from its start instead of
/// from the old offset.
#[tokio::test]
async fn a_reused_inode_with_other_content_is_read_from_its_start() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    append(&log, &["old first line", "old second line"]);
    let mut r = start(d.path(), "app.log", StartAt::Beginning);
    assert_eq!(r.take(2).await.len(), 2);
    r.stop().await;
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&log).unwrap());
    // Rewritten in place: same inode, longer than the committed offset, other first bytes.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .unwrap();
    writeln!(
        f,
        "new 1 of a different file\nnew 2 of a different file\nnew 3"
    )
    .unwrap();
    drop(f);
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&log).unwrap()),
        ino
    );
    let mut r = start(d.path(), "app.log", StartAt::End);
    assert_eq!(
        r.take(3).await,
        [
            "new 1 of a different file",
            "new 2 of a different file",
            "new 3"
        ]
    );
    r.stop().await;
}

/// A file truncated while the daemon was down and written again, shorter than the old offset,
/// is read from its start.
#[tokio::test]
async fn a_file_truncated_while_down_is_read_from_its_start() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("app.log");
    append(
        &log,
        &["a fairly long first line", "a fairly long second line"],
    );
    let mut r = start(d.path(), "app.log", StartAt::Beginning);
    assert_eq!(r.take(2).await.len(), 2);
    r.stop().await;
    std::fs::write(&log, "short\n").unwrap();
    let mut r = start(d.path(), "app.log", StartAt::End);
    assert_eq!(r.take(1).await, ["short"]);
    r.stop().await;
}

/// A damaged checkpoint file (garbage, or empty as after a power loss without fsync) is moved
/// aside and reported with its path; the caller reads every file from its start.
#[test]
fn a_damaged_checkpoint_is_moved_aside_and_reported() {
    use ironpost_log_pipeline::source::file::CheckpointLoad;
    for damage in [&b""[..], b"[[{\"dev\":1", b"\0\0\0\0"] {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("checkpoints.json");
        std::fs::write(&path, damage).unwrap();
        let (_, load) = Checkpoints::load(path.clone());
        let CheckpointLoad::Corrupt(e) = load else {
            panic!("{damage:?} accepted: {load:?}");
        };
        assert_eq!(e.path, path);
        assert!(!path.exists(), "moved aside");
        assert_eq!(std::fs::read(&e.moved_to).unwrap(), damage);
        assert!(e.to_string().contains("checkpoints.json"), "{e}");
    }
    let d = tempfile::tempdir().unwrap();
    let (_, load) = Checkpoints::load(d.path().join("none.json"));
    assert!(matches!(load, CheckpointLoad::Missing));
}
