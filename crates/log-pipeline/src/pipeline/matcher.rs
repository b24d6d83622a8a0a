//! Parsing and rule matching fanned out over threads.
//!
//! Parsing a line and matching it against the rule set depend on nothing but the line, the
//! batch it came in and the (immutable) rule set, and they are most of the worker's work: with the
//! rule library, matching alone is several times parsing (`examples/library_bench.rs`). So the
//! worker cuts each batch into consecutive chunks, one per thread of a [`MatchPool`]
//! (`match_threads - 1` threads), and queues the batch ([`InFlight`], at most
//! [`MAX_IN_FLIGHT`]): while the pool scans the next batch, the worker raises the alerts of the
//! one before. What comes back is, per chunk, the counts the metrics need and the (line, rule)
//! pairs that matched, in line order. Everything with state — thresholds, dedup, the shared alert
//! state, acknowledgement tokens — stays on the worker, which walks the batches in the order
//! they came and each batch's chunks in order: the alerts are the ones, in the order, a single
//! thread would raise. With `match_threads = 1` there is no pool and the worker scans itself.
//! A line that matched is parsed again on the worker ([`Reader`] parses a line the same way every
//! time), so no record crosses threads (a record is not `Sync`) and a chunk's result owns nothing
//! but integers.

use std::ops::Range;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;

use ironpost_core::Evidence;
use ironpost_core::ack::Ack;
use tokio::sync::oneshot;
use tracing::warn;

use super::Shared;
use super::alerter::Reader;
use crate::parse::{Format, ParseContext};
use crate::rules::RuleSet;
use crate::source::Batch;
use crate::source::file::FilePos;

/// Fewest lines in a chunk: a batch is cut into fewer chunks than the pool has threads rather
/// than into smaller ones.
pub(super) const MIN_CHUNK_LINES: usize = 128;

/// Most threads `match_threads = 0` (one per CPU) gives.
pub(super) const AUTO_MAX_THREADS: usize = 8;

/// Per-batch counts for the metrics, summed over chunks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tally {
    /// By [`Format`], in the order of `FORMAT_NAMES`.
    pub(super) formats: [u64; 7],
    /// verified, spoofable, forgeable.
    pub(super) classes: [u64; 3],
    pub(super) malformed: u64,
    pub(super) truncated: u64,
    pub(super) matches: u64,
}

/// Label of each `Tally::formats` slot.
pub(super) const FORMAT_NAMES: [&str; 7] = [
    "rfc5424",
    "rfc3164",
    "json",
    "raw",
    "journal",
    "combined",
    "web_error",
];

impl Tally {
    fn add(&mut self, o: &Tally) {
        for (a, b) in self.formats.iter_mut().zip(o.formats) {
            *a += b;
        }
        for (a, b) in self.classes.iter_mut().zip(o.classes) {
            *a += b;
        }
        self.malformed += o.malformed;
        self.truncated += o.truncated;
        self.matches += o.matches;
    }
}

/// What a chunk of a batch yields.
#[derive(Debug, Default)]
pub(super) struct Chunk {
    pub(super) tally: Tally,
    /// (line index in the batch, rule index in the set) of every match, in line then set order.
    pub(super) hits: Vec<(u32, u32)>,
}

/// Parses and matches lines `range` of `read`'s batch.
pub(super) fn scan(read: &Reader<'_>, rules: &RuleSet, range: Range<usize>) -> Chunk {
    let mut chunk = Chunk::default();
    let mut matched = Vec::new();
    for i in range {
        let Some(line) = read.batch.line(i) else {
            break;
        };
        let (rec, bad, cut) = read.record(i, line);
        let t = &mut chunk.tally;
        t.malformed += u64::from(bad);
        t.truncated += u64::from(cut);
        t.classes[match rec.evidence {
            Evidence::Verified => 0,
            Evidence::Spoofable => 1,
            Evidence::Forgeable => 2,
        }] += 1;
        t.formats[match rec.format {
            Format::Rfc5424 => 0,
            Format::Rfc3164 => 1,
            Format::Json => 2,
            Format::Raw => 3,
            Format::Journal => 4,
            Format::Combined => 5,
            Format::WebError => 6,
        }] += 1;
        rules.match_indices(&rec, &mut matched);
        t.matches += matched.len() as u64;
        let line_no = u32::try_from(i).unwrap_or(u32::MAX);
        chunk.hits.extend(matched.iter().map(|&r| (line_no, r)));
    }
    chunk
}

/// Sums the chunks' tallies.
pub(super) fn total(chunks: &[Chunk]) -> Tally {
    let mut t = Tally::default();
    for c in chunks {
        t.add(&c.tally);
    }
    t
}

/// One chunk for a pool thread.
struct Job {
    shared: Arc<Shared>,
    rules: Arc<RuleSet>,
    batch: Arc<Batch>,
    ctx: ParseContext,
    journal: bool,
    file_trusted: bool,
    range: Range<usize>,
    reply: oneshot::Sender<Chunk>,
}

/// The threads that scan chunks for the worker. They end when the pool is dropped.
#[derive(Debug)]
pub(super) struct MatchPool {
    helpers: Vec<std_mpsc::Sender<Job>>,
}

/// `match_threads` as configured (0: one per CPU, at most [`AUTO_MAX_THREADS`]).
pub(super) fn effective_threads(configured: usize) -> usize {
    match configured {
        0 => std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .min(AUTO_MAX_THREADS),
        n => n,
    }
}

impl MatchPool {
    /// A pool for `threads` scanning threads in all: the worker's own and `threads - 1` more. A
    /// thread the system refuses is left out (logged); the worker then does its share.
    pub(super) fn new(threads: usize) -> MatchPool {
        let mut helpers = Vec::new();
        for n in 1..threads.max(1) {
            let (tx, rx) = std_mpsc::channel::<Job>();
            let spawned = std::thread::Builder::new()
                .name(format!("ironpost-match-{n}"))
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        let read = Reader {
                            batch: &job.batch,
                            ctx: job.ctx,
                            trust: &job.shared.trust,
                            journal: job.journal,
                            file_trusted: job.file_trusted,
                        };
                        let chunk = scan(&read, &job.rules, job.range);
                        // The worker gave up waiting only if it is gone: nothing to do.
                        let _ = job.reply.send(chunk);
                    }
                });
            match spawned {
                Ok(_) => helpers.push(tx),
                Err(e) => {
                    warn!(error = %e, "cannot start a rule-matching thread: the worker matches its share");
                    break;
                }
            }
        }
        MatchPool { helpers }
    }

    /// Cuts `batch` into one chunk per pool thread (of at least [`MIN_CHUNK_LINES`] lines) and
    /// sends them: each chunk's range with the receiver of its result, `None` for a chunk not
    /// sent (no pool, or its thread is gone), which [`collect`] leaves to the worker.
    pub(super) fn dispatch(
        &self,
        shared: &Arc<Shared>,
        rules: &Arc<RuleSet>,
        batch: &Arc<Batch>,
        ctx: &ParseContext,
        journal: bool,
        file_trusted: bool,
    ) -> Vec<Scan> {
        let n = batch.len();
        if self.helpers.is_empty() {
            return vec![(0..n, None)];
        }
        let parts = self.helpers.len().min(n / MIN_CHUNK_LINES).max(1);
        let size = n.div_ceil(parts);
        let range = |k: usize| (k * size).min(n)..((k + 1) * size).min(n);
        (0..parts)
            .zip(&self.helpers)
            .map(|(k, helper)| {
                let (reply, rx) = oneshot::channel();
                let job = Job {
                    shared: shared.clone(),
                    rules: rules.clone(),
                    batch: batch.clone(),
                    ctx: ctx.clone(),
                    journal,
                    file_trusted,
                    range: range(k),
                    reply,
                };
                (range(k), helper.send(job).ok().map(|()| rx))
            })
            .collect()
    }
}

/// One chunk of a batch handed to the pool: its lines and, if a thread took it, the receiver of
/// its result.
pub(super) type Scan = (Range<usize>, Option<oneshot::Receiver<Chunk>>);

/// Batches the worker keeps handed to the pool before it finishes the oldest: one being scanned
/// while the worker raises the alerts of the one before.
pub(super) const MAX_IN_FLIGHT: usize = 2;

/// A batch handed to the pool, waiting for the worker to raise its alerts.
pub(super) struct InFlight {
    pub(super) batch: Arc<Batch>,
    pub(super) ack: Ack,
    pub(super) pos: Option<FilePos>,
    pub(super) rules: Arc<RuleSet>,
    pub(super) ctx: ParseContext,
    pub(super) journal: bool,
    pub(super) file_trusted: bool,
    pub(super) scans: Vec<Scan>,
}

/// Waits for the pool's chunks, in order; `None` for a chunk whose thread is gone (a panic),
/// which the caller then scans itself. Holds no borrow of a [`Reader`] (a [`ParseContext`] is not
/// `Sync`), so the worker's future stays `Send`.
pub(super) async fn collect(pending: Vec<Scan>) -> Vec<(Range<usize>, Option<Chunk>)> {
    let mut done = Vec::with_capacity(pending.len());
    for (range, rx) in pending {
        let chunk = match rx {
            Some(rx) => rx.await.ok(),
            None => None,
        };
        done.push((range, chunk));
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_add_slot_by_slot() {
        let mut a = Tally {
            formats: [1, 2, 0, 0, 0, 0, 3],
            classes: [1, 0, 2],
            malformed: 1,
            truncated: 0,
            matches: 4,
        };
        a.add(&Tally {
            formats: [0, 1, 0, 0, 0, 0, 1],
            classes: [0, 1, 1],
            malformed: 0,
            truncated: 2,
            matches: 1,
        });
        assert_eq!(a.formats, [1, 3, 0, 0, 0, 0, 4]);
        assert_eq!(a.classes, [1, 1, 3]);
        assert_eq!((a.malformed, a.truncated, a.matches), (1, 2, 5));
    }

    #[test]
    fn auto_threads_are_at_least_one_and_capped() {
        let n = effective_threads(0);
        assert!((1..=AUTO_MAX_THREADS).contains(&n));
        assert_eq!(effective_threads(3), 3);
    }
}
