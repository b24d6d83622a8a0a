//! The engine's control API, used by the daemon's control socket: block, unblock, list, stats.

use chrono::{DateTime, Utc};
use ironpost_core::net::Cidr;
use ironpost_core::{ActionEvent, ActionOutcome, ActionType, Severity};
use tracing::info;

use super::{
    BlockView, Counters, EngineHandle, EngineStats, ExtraInterface, lock, reserved_entries, target,
    unblock_action,
};
use crate::blocklist::{Block, BlockRequest};
use crate::clock::MonoTime;
use crate::config::RuleAction;
use crate::kernel::XdpFilter;
use crate::maps::HitCount;
use crate::{Error, Result};

/// A block applied to the blocklist and the kernel map, its journal record not yet synced: the
/// outcome (the block, whether it changed, when it was in force) and the blocks evicted for it.
type Staged = (Result<(Block, bool, DateTime<Utc>)>, Vec<Block>);

impl EngineHandle {
    fn with_filter<T>(&self, f: impl FnOnce(&mut XdpFilter) -> Result<T>) -> Result<T> {
        let mut guard = lock(&self.inner.filter);
        match guard.as_mut() {
            Some(filter) => f(filter),
            None => Err(Error::NotLoaded {
                reason: self.inner.health_reason(),
            }),
        }
    }

    /// Blocks a source address or network (renews it when already blocked) and records the
    /// `ip_block` action. When the family's table is full, a block on verified evidence evicts
    /// per policy (see `blocklist`); each eviction is removed from the kernel, counted in
    /// `ironpost_ebpf_blocks_evicted_total{evidence}` and announced by an `ip_unblock` action.
    ///
    /// Order: the kernel map first (the block drops packets from then on), then the journal
    /// record is synced, then the action is announced and this returns. A crash between the
    /// first two loses the block locally, before anyone was told of it.
    pub async fn block(&self, req: BlockRequest) -> Result<Block> {
        let mut out = self.block_many(vec![req]).await;
        out.pop()
            .unwrap_or_else(|| unreachable!("one result per request"))
            .map(|(block, _)| block)
    }

    /// [`Self::block`] for a batch: each request goes to the kernel map in turn, then one
    /// journal sync (one `fdatasync`) makes them all durable, then their actions are announced.
    /// One result per request, in order, with the time its block was in force in the kernel
    /// (for a request that left an existing block as it was: when that was found).
    pub async fn block_many(&self, reqs: Vec<BlockRequest>) -> Vec<Result<(Block, DateTime<Utc>)>> {
        let staged: Vec<_> = reqs
            .into_iter()
            .map(|req| {
                let applied = self.apply(&req);
                (req, applied)
            })
            .collect();
        // Durable before anything is announced or answered: one sync for the batch. The
        // evictions stand whatever happened next (the kernel no longer holds them).
        self.inner.persist();
        let mut out = Vec::with_capacity(staged.len());
        for (req, applied) in staged {
            let (outcome, evicted) = match applied {
                Ok(a) => a,
                Err(e) => {
                    out.push(Err(e));
                    continue;
                }
            };
            self.inner.announce_evictions(&evicted, &req).await;
            out.push(match outcome {
                Ok((block, changed, at)) => {
                    if changed {
                        self.announce_block(&block).await;
                    }
                    Ok((block, at))
                }
                Err(e) => Err(e),
            });
        }
        out
    }

    /// The blocklist and the kernel map part of a block: the outcome (the block, whether it
    /// changed, when it was in force) and the blocks evicted for it. Its journal record is
    /// buffered, not yet synced.
    fn apply(&self, req: &BlockRequest) -> Result<Staged> {
        let v4 = req.cidr.0.addr().is_ipv4();
        let mut bl = lock(&self.inner.blocklist);
        let existing = bl.get(&req.cidr).cloned();
        let added = bl.add(req, reserved_entries(&self.inner.compiled, v4), Utc::now())?;
        // Evicted entries leave the kernel first, so the new one finds room.
        let evicted = added.evicted.clone();
        let _ = self.with_filter(|f| {
            for b in &evicted {
                f.remove_block(b.cidr)?;
            }
            Ok(())
        });
        let block = added.block;
        let outcome = if !added.changed {
            Ok((block, false, Utc::now()))
        } else if let Err(e) = self.with_filter(|f| {
            f.insert_block_until(
                block.cidr,
                block.rule_id,
                RuleAction::Drop,
                block.expires_at.map(MonoTime::from_wall),
            )
        }) {
            match existing {
                Some(prev) => bl.restore(prev),
                None => {
                    bl.remove(&req.cidr);
                }
            }
            Err(e)
        } else {
            Ok((block, true, Utc::now()))
        };
        Ok((outcome, evicted))
    }

    /// Counts a block that changed and sends its `ip_block` action.
    async fn announce_block(&self, block: &Block) {
        self.inner.metrics.blocks_added.inc();
        info!(cidr = %block.cidr, reason = %block.reason, evidence = %block.evidence, expires_at = ?block.expires_at, offence = block.offence, "blocked");
        let mut ev =
            ActionEvent::manual(ActionType::IpBlock, ActionOutcome::Success, Severity::Info);
        ev.alert_id = block.alert_id;
        if let Some(t) = block.trace_id {
            ev.trace_id = t;
        }
        ev.target = target(block.cidr);
        ev.detail = match block.expires_at {
            Some(t) => format!(
                "{} until {} ({}; offence {}; evidence {})",
                block.cidr,
                t.to_rfc3339(),
                block.reason,
                block.offence,
                block.evidence
            ),
            None => format!(
                "{} until removed ({}; evidence {})",
                block.cidr, block.reason, block.evidence
            ),
        };
        let _ = self.inner.outputs.actions.send(ev).await;
    }

    /// Removes a run-time block. `Ok(None)` when there was none.
    pub async fn unblock(&self, cidr: Cidr) -> Result<Option<Block>> {
        let removed = lock(&self.inner.blocklist).remove(&cidr);
        let Some(block) = removed else {
            return Ok(None);
        };
        self.with_filter(|f| f.remove_block(cidr))?;
        self.inner.persist();
        info!(cidr = %cidr, "unblocked");
        let _ = self
            .inner
            .outputs
            .actions
            .send(unblock_action(&block, "removed"))
            .await;
        Ok(Some(block))
    }

    /// Run-time blocks with their hit counters, soonest expiry first.
    pub fn list(&self) -> Result<Vec<BlockView>> {
        let hits = self.with_filter(|f| f.read_hits()).unwrap_or_default();
        let mut out: Vec<BlockView> = lock(&self.inner.blocklist)
            .iter()
            .map(|b| {
                let h = hits.get(&b.rule_id).copied().unwrap_or(HitCount::default());
                BlockView {
                    block: b.clone(),
                    hits: h.packets,
                    hit_bytes: h.bytes,
                }
            })
            .collect();
        out.sort_by_key(|v| {
            (
                v.block.expires_at.is_none(),
                v.block.expires_at,
                v.block.cidr.to_string(),
            )
        });
        Ok(out)
    }

    pub fn stats(&self) -> Result<EngineStats> {
        let (stats, counters, attached, pinned, extra) = self.with_filter(|f| {
            Ok((
                f.read_stats()?,
                f.read_counters()?,
                f.attached_to().is_some(),
                f.pinned_link(),
                f.extra_attached()
                    .map(|(n, _)| n.to_owned())
                    .collect::<Vec<_>>(),
            ))
        })?;
        let extra_interfaces = {
            let notes = lock(&self.inner.extra_notes);
            self.inner
                .cfg
                .extra_interfaces
                .iter()
                .map(|n| {
                    let attached = extra.contains(n);
                    ExtraInterface {
                        interface: n.clone(),
                        attached,
                        note: if attached {
                            None
                        } else {
                            notes.get(n).cloned()
                        },
                    }
                })
                .collect()
        };
        // One guard, taken and released here: two `lock` temporaries in the struct literal below
        // would live to the end of the statement and deadlock.
        let pinning = lock(&self.inner.pinning).clone();
        let c = |p: crate::maps::ProtoCounters| Counters {
            packets: p.packets,
            bytes: p.bytes,
            drops: p.drops,
        };
        Ok(EngineStats {
            interface: self.inner.cfg.interface.clone(),
            attached,
            extra_interfaces,
            pinned,
            pin_dir: pinning.dir().map(|d| d.display().to_string()),
            pin_note: pinning.note(),
            traffic: [
                ("tcp", stats.tcp),
                ("udp", stats.udp),
                ("icmp", stats.icmp),
                ("other", stats.other),
                ("total", stats.total),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), c(v)))
            .collect(),
            malformed: counters.malformed,
            events_sent: counters.events_sent,
            events_ringbuf_full: counters.events_ringbuf_full,
            events_rate_limited: counters.events_rate_limited,
            expired_passed: counters.expired_passed,
            blocks: lock(&self.inner.blocklist).len(),
        })
    }
}
