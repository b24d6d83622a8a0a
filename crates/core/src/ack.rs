//! End-to-end acknowledgement: a source position advances only once everything derived from the
//! records before it is durably stored (the design of Vector's `BatchNotifier` and finalizers).
//!
//! - A source registers each batch it reads with its [`Watermark`] and gets an [`Ack`] token.
//! - Everything derived from the batch (an alert, a log event kept as evidence) carries a clone
//!   of the token. The store drops its clone once the record is committed (or durably spooled);
//!   whoever loses a record instead calls [`Ack::fail`] first.
//! - When the last clone is gone the batch is resolved: `Delivered`, or `Failed` when any clone
//!   was failed. A clone dropped without `fail` counts as delivered (a record a transform chose
//!   not to keep is done with, as in Vector).
//! - [`Watermark::advance`] returns the position of the last batch of the longest resolved,
//!   delivered prefix: positions are committed in order, never past a pending or failed batch,
//!   so a crash or a failed write replays from there (and deterministic ids, [`stable_id`], make
//!   the replay store nothing twice).
//!
//! Architecture invariant: a token never waits and never blocks; resolution is one atomic store.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

const PENDING: u8 = 0;
const DELIVERED: u8 = 1;
const FAILED: u8 = 2;

/// How a batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Delivered,
    Failed,
}

#[derive(Debug)]
struct Inner {
    /// None for a joined token: it resolves the tokens it holds instead.
    status: Option<Arc<AtomicU8>>,
    failed: AtomicBool,
    /// The tokens a joined token holds (see [`Ack::join`]); released after this one resolves.
    parts: Vec<Ack>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let failed = self.failed.load(Ordering::Acquire);
        if failed {
            self.parts.iter().for_each(Ack::fail);
        }
        if let Some(status) = &self.status {
            status.store(if failed { FAILED } else { DELIVERED }, Ordering::Release);
        }
    }
}

/// A batch's acknowledgement token (cheap to clone; empty for records nobody waits for).
/// Equality ignores it: two events are equal whatever tokens they carry.
#[derive(Clone, Default)]
pub struct Ack(Option<Arc<Inner>>);

impl Ack {
    /// A token nobody waits for.
    pub fn none() -> Self {
        Ack(None)
    }

    /// A token and the status it resolves (for sources without a [`Watermark`] and for tests).
    pub fn new() -> (Self, StatusCell) {
        let status = Arc::new(AtomicU8::new(PENDING));
        (
            Ack(Some(Arc::new(Inner {
                status: Some(status.clone()),
                failed: AtomicBool::new(false),
                parts: Vec::new(),
            }))),
            StatusCell(status),
        )
    }

    /// One token standing for many: a record derived from several batches (an anomaly alert from
    /// the flow messages of its window) holds it; the batches resolve once it is dropped, failed
    /// if it was failed. Empty tokens are left out; none left gives an empty token.
    pub fn join(parts: impl IntoIterator<Item = Ack>) -> Ack {
        let parts: Vec<Ack> = parts.into_iter().filter(|a| !a.is_none()).collect();
        if parts.is_empty() {
            return Ack::none();
        }
        Ack(Some(Arc::new(Inner {
            status: None,
            failed: AtomicBool::new(false),
            parts,
        })))
    }

    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }

    /// The record carrying this clone was lost: the batch resolves as failed and its position is
    /// not committed.
    pub fn fail(&self) {
        if let Some(i) = &self.0 {
            i.failed.store(true, Ordering::Release);
        }
    }

    /// Takes the token out, leaving none (a copy for a consumer that does not store it).
    pub fn take(&mut self) -> Ack {
        std::mem::take(self)
    }
}

impl fmt::Debug for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Ack(..)"
        } else {
            "Ack(none)"
        })
    }
}

impl PartialEq for Ack {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Ack {}

/// The resolved status of one batch.
#[derive(Debug, Clone)]
pub struct StatusCell(Arc<AtomicU8>);

impl StatusCell {
    pub fn get(&self) -> Status {
        match self.0.load(Ordering::Acquire) {
            PENDING => Status::Pending,
            DELIVERED => Status::Delivered,
            _ => Status::Failed,
        }
    }
}

/// The batches of one ordered stream (a file, the journal) in read order, with their positions.
#[derive(Debug)]
pub struct Watermark<P> {
    pending: VecDeque<(StatusCell, P)>,
    failed: bool,
}

impl<P> Default for Watermark<P> {
    fn default() -> Self {
        Watermark {
            pending: VecDeque::new(),
            failed: false,
        }
    }
}

impl<P> Watermark<P> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the next batch, which ends at `pos`; its token goes with what it produces.
    pub fn track(&mut self, pos: P) -> Ack {
        let (ack, status) = Ack::new();
        self.pending.push_back((status, pos));
        ack
    }

    /// The position up to which every batch is delivered, if it moved since the last call.
    /// A failed batch stops the watermark for good (until the source restarts and replays).
    pub fn advance(&mut self) -> Option<P> {
        let mut last = None;
        while !self.failed {
            match self.pending.front().map(|(s, _)| s.get()) {
                Some(Status::Delivered) => last = self.pending.pop_front().map(|(_, p)| p),
                Some(Status::Failed) => self.failed = true,
                Some(Status::Pending) | None => break,
            }
        }
        last
    }

    /// A batch failed: the position cannot move past it in this run.
    pub fn is_stuck(&self) -> bool {
        self.failed
    }

    /// Batches not yet resolved (or behind a failed one).
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// A UUID (version 8, "custom") that depends only on `parts`: the same record read again after a
/// crash gets the same id, so the store's `INSERT … ON CONFLICT (id) DO NOTHING` keeps one copy.
/// FNV-1a over 128 bits: stable across builds and platforms (unlike `std`'s `DefaultHasher`).
pub fn stable_id(parts: &[&[u8]]) -> uuid::Uuid {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let mut h = OFFSET;
    for part in parts {
        // The length first, so ("ab", "c") and ("a", "bc") differ.
        for b in (part.len() as u64).to_le_bytes().iter().chain(part.iter()) {
            h ^= u128::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    }
    // Version 8 and the RFC 4122 variant.
    let h = (h & !(0xf << 76)) | (0x8 << 76);
    let h = (h & !(0x3 << 62)) | (0x2 << 62);
    uuid::Uuid::from_u128(h)
}

/// FNV-1a over 64 bits of `bytes`: the content fingerprint of a file's first bytes.
pub fn checksum64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watermark_moves_only_over_a_delivered_prefix() {
        let mut w = Watermark::new();
        let a = w.track(10);
        let b = w.track(20);
        let c = w.track(30);
        assert_eq!(w.advance(), None, "nothing resolved");
        drop(b);
        assert_eq!(w.advance(), None, "the first batch is still pending");
        drop(a);
        assert_eq!(w.advance(), Some(20), "both first batches delivered");
        let c2 = c.clone();
        drop(c);
        assert_eq!(w.advance(), None, "a clone is still out");
        drop(c2);
        assert_eq!(w.advance(), Some(30));
        assert!(w.is_empty());
    }

    #[test]
    fn a_failed_clone_stops_the_watermark() {
        let mut w = Watermark::new();
        let a = w.track(1);
        let b = w.track(2);
        let a2 = a.clone();
        a2.fail();
        drop((a, a2, b));
        assert_eq!(w.advance(), None);
        assert!(w.is_stuck());
        let c = w.track(3);
        drop(c);
        assert_eq!(w.advance(), None, "never past a failed batch");
    }

    #[test]
    fn taking_a_token_leaves_an_empty_one_and_equality_ignores_tokens() {
        let (mut a, status) = Ack::new();
        let taken = a.take();
        assert!(a.is_none() && !taken.is_none());
        assert_eq!(a, taken);
        drop(a);
        assert_eq!(status.get(), Status::Pending);
        drop(taken);
        assert_eq!(status.get(), Status::Delivered);
    }

    #[test]
    fn a_joined_token_resolves_its_parts_when_it_resolves() {
        let (a, sa) = Ack::new();
        let (b, sb) = Ack::new();
        let joined = Ack::join([a.clone(), Ack::none(), b.clone()]);
        drop((a, b));
        assert_eq!((sa.get(), sb.get()), (Status::Pending, Status::Pending));
        drop(joined);
        assert_eq!((sa.get(), sb.get()), (Status::Delivered, Status::Delivered));

        let (a, sa) = Ack::new();
        let (b, sb) = Ack::new();
        let joined = Ack::join([a.clone(), b]);
        joined.clone().fail();
        drop(joined);
        assert_eq!(sb.get(), Status::Failed, "a failed join fails every part");
        assert_eq!(sa.get(), Status::Pending, "another clone of a is still out");
        drop(a);
        assert_eq!(sa.get(), Status::Failed);
        assert!(Ack::join([Ack::none()]).is_none());
    }

    #[test]
    fn stable_ids_depend_on_every_part_and_nothing_else() {
        let id = stable_id(&[b"file", b"42", b"rule"]);
        assert_eq!(id, stable_id(&[b"file", b"42", b"rule"]));
        assert_ne!(id, stable_id(&[b"file", b"43", b"rule"]));
        assert_ne!(stable_id(&[b"ab", b"c"]), stable_id(&[b"a", b"bc"]));
        assert_eq!(id.get_version_num(), 8);
        assert_eq!(checksum64(b""), 0xcbf2_9ce4_8422_2325);
        assert_ne!(checksum64(b"a"), checksum64(b"b"));
    }
}
