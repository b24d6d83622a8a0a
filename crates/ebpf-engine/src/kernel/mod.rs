//! [`XdpFilter`]: loads the embedded XDP object with aya, sizes and optionally pins its maps,
//! attaches and detaches it, runs it on test frames (BPF_PROG_TEST_RUN), and writes the
//! program's `config` and `match_rules` maps. The typed API over the other maps lives in
//! `lists.rs` (blocklist and allowlist) and `stats.rs` (stats, counters, hits, per-destination
//! TCP counters); the event ring buffer is handed out as an [`EventReader`].
//!
//! Two ways to attach: [`XdpFilter::attach`] ties the program to this process (dropping the
//! filter detaches it); [`XdpFilter::attach_pinned`] attaches through a BPF link (kernel ≥ 5.9)
//! pinned on bpffs beside the maps, so the program keeps enforcing after the process exits or
//! is killed, and the next loader adopts that link and swaps its own program in with
//! BPF_LINK_UPDATE (no gap without a filter). Pinned maps stay in bpffs and are reused, entries
//! (and their expiry deadlines) included, by the next load with the same `pin_path`. A reused
//! map keeps the size it was created with: a new `blocklist_max_entries` applies once the pins
//! are removed ([`crate::remove_pins`]).
//!
//! Architecture invariant: this `XdpFilter` is the only writer of the blocklist and allowlist
//! maps while it lives; `lists.rs` says why and what that buys.

mod lists;
mod stats;

use std::path::{Path, PathBuf};

use aya::maps::{
    Array, HashMap as BpfHashMap, LpmTrie, Map, MapData, MapError, PerCpuArray, PerCpuHashMap,
    RingBuf,
};
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::xdp::{XdpLink, XdpLinkId};
use aya::programs::{ProgramError, TestRun, TestRunOptions, Xdp};
use aya::{Ebpf, EbpfLoader};

use crate::clock::JiffyClock;
use crate::config::{EbpfConfig, XdpMode};
use crate::error::{Error, Result};
use crate::events::EventReader;
use crate::maps::*;
use crate::rules::MatchRule;

/// The compiled `bpf/xdp_filter.bpf.c` (built by `build.rs`).
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xdp_filter.bpf.o"));

/// What the loader needs from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Capacity of the IPv4 blocklist and of the IPv6 blocklist (each: host entries and shorter
    /// prefixes together).
    pub blocklist_max_entries: u32,
    /// Bytes of the event ring buffer (a power of two, multiple of the page size).
    pub ring_buffer_size: u32,
    /// Directory on a bpffs mount for the blocklist, allowlist and hit maps (the engine uses
    /// `<ebpf.pin_path>/<interface>`).
    pub pin_path: Option<PathBuf>,
    /// Token bucket refill per second and per CPU; 0 = never refill (only `events_burst` events
    /// per CPU, ever — useful for tests).
    pub events_per_second: u32,
    /// Token bucket capacity per CPU.
    pub events_burst: u32,
}

impl LoadOptions {
    pub fn from_config(cfg: &EbpfConfig) -> Self {
        LoadOptions {
            blocklist_max_entries: cfg.blocklist_max_entries,
            ring_buffer_size: cfg.ring_buffer_size,
            // The engine pins only after checking that `pin_path` is on bpffs.
            pin_path: None,
            events_per_second: cfg.events_per_second,
            events_burst: cfg.events_burst,
        }
    }
}

impl Default for LoadOptions {
    /// The config defaults, unpinned.
    fn default() -> Self {
        Self::from_config(&EbpfConfig::default())
    }
}

/// An XDP program return code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpAction {
    Aborted,
    Drop,
    Pass,
    Tx,
    Redirect,
    Other(u32),
}

impl From<u32> for XdpAction {
    fn from(v: u32) -> Self {
        match v {
            0 => XdpAction::Aborted,
            1 => XdpAction::Drop,
            2 => XdpAction::Pass,
            3 => XdpAction::Tx,
            4 => XdpAction::Redirect,
            n => XdpAction::Other(n),
        }
    }
}

/// The loaded XDP filter and its maps.
pub struct XdpFilter {
    bpf: Ebpf,
    blocklist_v4: LpmTrie<MapData, [u8; 4], LpmValue>,
    blocklist_v6: LpmTrie<MapData, [u8; 16], LpmValue>,
    block_hosts_v4: BpfHashMap<MapData, HostV4, LpmValue>,
    block_hosts_v6: BpfHashMap<MapData, HostV6, LpmValue>,
    allowlist_v4: LpmTrie<MapData, [u8; 4], LpmValue>,
    allowlist_v6: LpmTrie<MapData, [u8; 16], LpmValue>,
    match_rules: Array<MapData, RawMatchRule>,
    config: Array<MapData, RawConfig>,
    stats: PerCpuArray<MapData, RawProtoStats>,
    counters: PerCpuArray<MapData, u64>,
    hits: PerCpuArray<MapData, RawHit>,
    dst_tcp: PerCpuHashMap<MapData, DstKey, RawDstTcp>,
    events: Option<RingBuf<MapData>>,
    blocklist_max_entries: u32,
    /// Entries per source-address map, as this filter wrote them.
    sizes: ListSizes,
    /// The `nonempty` bits last written to the program's config.
    published_nonempty: u32,
    /// `hits` slots held by blocklist and allowlist entries.
    slots: Slots,
    /// Converts deadlines between the API's monotonic time and the program's jiffies.
    clock: JiffyClock,
    /// Rule id of each live match rule (its `hits` slot is its index).
    match_rule_ids: Vec<u32>,
    attached: Option<Attachment>,
    /// Further interfaces the same program (same maps) watches ([`XdpFilter::attach_extra`]):
    /// name, ifindex at attach time, aya's link. Always owned: detached when the filter goes.
    extra: Vec<(String, u32, XdpLinkId)>,
}

/// How the program is attached.
enum Attachment {
    /// Owned by this process (aya's link: a BPF link or, on old kernels, netlink): detached when
    /// the filter is dropped.
    Owned { iface: String, id: XdpLinkId },
    /// A BPF link pinned at `path` on bpffs: it outlives this process.
    Pinned {
        iface: String,
        link: FdLink,
        path: PathBuf,
    },
}

impl Attachment {
    fn iface(&self) -> &str {
        match self {
            Attachment::Owned { iface, .. } | Attachment::Pinned { iface, .. } => iface,
        }
    }
}

/// What [`XdpFilter::attach_pinned`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinnedAttach {
    /// No usable pinned link: a new link was created and pinned.
    Created,
    /// A pinned link of an earlier loader now runs this program (BPF_LINK_UPDATE).
    Adopted,
}

impl std::fmt::Debug for XdpFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpFilter")
            .field("blocklist_max_entries", &self.blocklist_max_entries)
            .field("attached", &self.attached_to())
            .field("pinned_link", &self.pinned_link())
            .field("event_reader_taken", &self.events.is_none())
            .finish_non_exhaustive()
    }
}

/// The ifindex of the interface named `iface` in this network namespace, if it exists.
pub fn ifindex(iface: &str) -> Option<u32> {
    if iface.is_empty() || iface.contains('/') || iface == "." || iface == ".." {
        return None;
    }
    std::fs::read_to_string(Path::new("/sys/class/net").join(iface).join("ifindex"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Capacity of the hit map: one entry per rule id the blocklists, allowlists and match rules can
/// hold at once.
fn hits_capacity(blocklist_max_entries: u32) -> u32 {
    blocklist_max_entries
        .saturating_mul(2)
        .saturating_add(ALLOWLIST_MAX_ENTRIES * 2)
        .saturating_add(MAX_MATCH_RULES as u32)
}

fn take<T>(bpf: &mut Ebpf, name: &'static str) -> Result<T>
where
    T: TryFrom<Map, Error = MapError>,
{
    let map = bpf.take_map(name).ok_or(Error::MapLayout {
        map: name,
        source: None,
    })?;
    T::try_from(map).map_err(|e| Error::MapLayout {
        map: name,
        source: Some(Box::new(e)),
    })
}

fn is_pin_error(e: &aya::EbpfError) -> bool {
    matches!(e, aya::EbpfError::MapError(MapError::PinError { .. }))
}

impl XdpFilter {
    /// Loads the program into the kernel (not attached yet: see [`XdpFilter::attach`]) with its
    /// maps sized from `opts`, reusing pinned maps under `opts.pin_path` when present.
    pub fn load(opts: &LoadOptions) -> Result<Self> {
        let mut loader = EbpfLoader::new();
        loader
            .map_max_entries(BLOCKLIST_V4, opts.blocklist_max_entries)
            .map_max_entries(BLOCKLIST_V6, opts.blocklist_max_entries)
            .map_max_entries(BLOCK_HOSTS_V4, opts.blocklist_max_entries)
            .map_max_entries(BLOCK_HOSTS_V6, opts.blocklist_max_entries)
            .map_max_entries(ALLOWLIST_V4, ALLOWLIST_MAX_ENTRIES)
            .map_max_entries(ALLOWLIST_V6, ALLOWLIST_MAX_ENTRIES)
            .map_max_entries(HITS, hits_capacity(opts.blocklist_max_entries))
            .map_max_entries(EVENTS, opts.ring_buffer_size);
        if let Some(dir) = &opts.pin_path {
            std::fs::create_dir_all(dir).map_err(|source| Error::PinDir {
                path: dir.clone(),
                source,
            })?;
            for name in PINNED_MAPS {
                loader.map_pin_path(name, dir.join(name));
            }
        }
        let mut bpf = loader.load(OBJECT).map_err(|source| match &opts.pin_path {
            Some(path) if is_pin_error(&source) => Error::Pin {
                path: path.clone(),
                source: Box::new(source),
            },
            _ => Error::Load {
                blocklist_max_entries: opts.blocklist_max_entries,
                ring_buffer_size: opts.ring_buffer_size,
                source: Box::new(source),
            },
        })?;

        // The program must be loaded before maps are taken out of `bpf`: its instructions refer
        // to the map fds, which `take_map` hands over to us.
        let program = xdp_program(&mut bpf)?;
        program.load().map_err(|source| match source {
            ProgramError::LoadError {
                ref verifier_log, ..
            } => Error::Verifier {
                program: PROGRAM,
                verifier_log: verifier_log.to_string(),
                source: Box::new(source),
            },
            source => Error::ProgramLoad {
                program: PROGRAM,
                source: Box::new(source),
            },
        })?;

        let clock = calibrate(&mut bpf)?;
        let mut filter = XdpFilter {
            blocklist_v4: take(&mut bpf, BLOCKLIST_V4)?,
            blocklist_v6: take(&mut bpf, BLOCKLIST_V6)?,
            block_hosts_v4: take(&mut bpf, BLOCK_HOSTS_V4)?,
            block_hosts_v6: take(&mut bpf, BLOCK_HOSTS_V6)?,
            allowlist_v4: take(&mut bpf, ALLOWLIST_V4)?,
            allowlist_v6: take(&mut bpf, ALLOWLIST_V6)?,
            match_rules: take(&mut bpf, MATCH_RULES)?,
            config: take(&mut bpf, CONFIG)?,
            stats: take(&mut bpf, STATS)?,
            counters: take(&mut bpf, COUNTERS)?,
            hits: take(&mut bpf, HITS)?,
            dst_tcp: take(&mut bpf, DST_TCP)?,
            events: Some(take(&mut bpf, EVENTS)?),
            bpf,
            blocklist_max_entries: opts.blocklist_max_entries,
            sizes: ListSizes::default(),
            published_nonempty: 0,
            slots: Slots::new(0),
            clock,
            match_rule_ids: Vec::new(),
            attached: None,
            extra: Vec::new(),
        };
        // A reused (pinned) `hits` keeps its size: slots are bounded by the map, not the option.
        filter.slots = Slots::new(filter.hits.len());
        // Pinned maps may come with entries: from an earlier version, host entries in a trie.
        filter.move_trie_hosts()?;
        // And deadlines in nanoseconds (before jiffies): converted to the program's encoding.
        filter.convert_ns_deadlines()?;
        filter.claim_slots()?;
        filter.sizes = filter.count_entries()?;
        filter.write_config(|c| {
            c.match_rule_count = 0;
            c.nonempty = 0;
            set_rate(c, opts.events_per_second, opts.events_burst);
        })?;
        filter.publish_nonempty()?;
        Ok(filter)
    }

    /// Attaches the program to `iface`, for the lifetime of this filter. `Native` maps to
    /// driver mode, `Skb` to generic mode, `Hw` to offload.
    pub fn attach(&mut self, iface: &str, mode: XdpMode) -> Result<()> {
        if let Some(a) = &self.attached {
            return Err(Error::AlreadyAttached {
                iface: a.iface().to_owned(),
            });
        }
        let id = xdp_program(&mut self.bpf)?
            .attach(iface, aya_mode(mode))
            .map_err(|source| Error::Attach {
                iface: iface.to_owned(),
                mode,
                source: Box::new(source),
            })?;
        self.attached = Some(Attachment::Owned {
            iface: iface.to_owned(),
            id,
        });
        Ok(())
    }

    /// Attaches the program to `iface` through a BPF link pinned at `link_path` (on bpffs), so
    /// that it keeps running when this process exits. A link already pinned there (left by an
    /// earlier loader, alive or killed) is adopted: BPF_LINK_UPDATE swaps this program in
    /// atomically, so packets are never left unfiltered; its mode stays the one it was created
    /// with. A pin that no longer works (the interface was deleted meanwhile) is replaced.
    /// Needs bpf_link_create for XDP (Linux ≥ 5.9); the caller falls back to
    /// [`XdpFilter::attach`] on error.
    pub fn attach_pinned(
        &mut self,
        iface: &str,
        mode: XdpMode,
        link_path: &Path,
    ) -> Result<PinnedAttach> {
        if let Some(a) = &self.attached {
            return Err(Error::AlreadyAttached {
                iface: a.iface().to_owned(),
            });
        }
        let pin_err = |op: &'static str| {
            move |source: Box<dyn std::error::Error + Send + Sync>| Error::LinkPin {
                op,
                iface: iface.to_owned(),
                path: link_path.to_owned(),
                source,
            }
        };
        if link_path.exists() {
            match self.adopt_link(link_path) {
                Ok(link) => {
                    self.attached = Some(Attachment::Pinned {
                        iface: iface.to_owned(),
                        link,
                        path: link_path.to_owned(),
                    });
                    return Ok(PinnedAttach::Adopted);
                }
                Err(e) => {
                    tracing::warn!(
                        path = %link_path.display(),
                        error = %ironpost_core::error_chain(&*e),
                        "the pinned XDP link cannot be adopted; replacing it"
                    );
                    std::fs::remove_file(link_path)
                        .map_err(|e| pin_err("remove the stale")(Box::new(e)))?;
                }
            }
        }
        if !aya::util::KernelVersion::current()
            .is_ok_and(|v| v >= aya::util::KernelVersion::new(5, 9, 0))
        {
            return Err(pin_err("create")(
                "BPF links for XDP need Linux 5.9 or later".into(),
            ));
        }
        let program = xdp_program(&mut self.bpf)?;
        let id = program
            .attach(iface, aya_mode(mode))
            .map_err(|source| Error::Attach {
                iface: iface.to_owned(),
                mode,
                source: Box::new(source),
            })?;
        let link = program
            .take_link(id)
            .map_err(|e| pin_err("create")(Box::new(e)))?;
        let fd = FdLink::try_from(link).map_err(|e| pin_err("create")(Box::new(e)))?;
        let link: FdLink = fd
            .pin(link_path)
            .map_err(|e| pin_err("pin")(Box::new(e)))?
            .into();
        self.attached = Some(Attachment::Pinned {
            iface: iface.to_owned(),
            link,
            path: link_path.to_owned(),
        });
        Ok(PinnedAttach::Created)
    }

    /// Opens the link pinned at `path` and runs this program on it (BPF_LINK_UPDATE).
    fn adopt_link(
        &mut self,
        path: &Path,
    ) -> std::result::Result<FdLink, Box<dyn std::error::Error + Send + Sync>> {
        // Converting the PinnedLink keeps the file: only `unpin` removes it.
        let fd: FdLink = PinnedLink::from_pin(path)?.into();
        let xdp = XdpLink::try_from(fd)?;
        let program = xdp_program(&mut self.bpf)?;
        let id = program.attach_to_link(xdp)?;
        Ok(FdLink::try_from(program.take_link(id)?)?)
    }

    /// Detaches the program; a no-op when it is not attached. A pinned link is unpinned and
    /// released, which detaches it. (Dropping the filter detaches only an owned attachment.)
    pub fn detach(&mut self) -> Result<()> {
        let Some(attachment) = self.attached.take() else {
            return Ok(());
        };
        match attachment {
            Attachment::Owned { iface, id } => {
                xdp_program(&mut self.bpf)?
                    .detach(id)
                    .map_err(|source| Error::Detach {
                        iface,
                        source: Box::new(source),
                    })
            }
            Attachment::Pinned { iface, link, path } => {
                // Without its pin, the link lives only as long as `link`, dropped here.
                let removed = std::fs::remove_file(&path);
                drop(link);
                match removed {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(Error::LinkPin {
                        op: "unpin",
                        iface,
                        path,
                        source: Box::new(e),
                    }),
                }
            }
        }
    }

    /// Lets go of the attachment: a pinned link stays attached and enforcing (its pin holds
    /// it); an owned one is detached. Used when the interface vanished (the kernel has
    /// released the link already) and at a stop that keeps the program in place.
    pub fn release(&mut self) -> Result<()> {
        match self.attached.take() {
            Some(Attachment::Pinned { .. }) | None => Ok(()),
            Some(owned) => {
                self.attached = Some(owned);
                self.detach()
            }
        }
    }

    /// Attaches the same program to one more interface, besides the one of
    /// [`XdpFilter::attach`]/[`XdpFilter::attach_pinned`]: packets arriving there go through the
    /// same blocklists, allowlist, rules, counters and event ring buffer. The attachment belongs
    /// to this filter (never pinned): [`XdpFilter::detach_extra`] or dropping the filter ends it.
    /// Returns the interface's ifindex, which tells a re-created interface of the same name from
    /// the one attached to.
    pub fn attach_extra(&mut self, iface: &str, mode: XdpMode) -> Result<u32> {
        if self.attached_to() == Some(iface) || self.extra.iter().any(|(n, ..)| n == iface) {
            return Err(Error::AlreadyAttached {
                iface: iface.to_owned(),
            });
        }
        let attach_err = |source| Error::Attach {
            iface: iface.to_owned(),
            mode,
            source: Box::new(source),
        };
        let ifindex = ifindex(iface).ok_or_else(|| {
            attach_err(ProgramError::UnknownInterface {
                name: iface.to_owned(),
            })
        })?;
        let id = xdp_program(&mut self.bpf)?
            .attach(iface, aya_mode(mode))
            .map_err(attach_err)?;
        self.extra.push((iface.to_owned(), ifindex, id));
        Ok(ifindex)
    }

    /// Detaches the program from an interface of [`XdpFilter::attach_extra`]; false when it was
    /// not attached there. An interface deleted meanwhile took its attachment with it: the
    /// kernel's answer to the detach is then ignored.
    pub fn detach_extra(&mut self, iface: &str) -> Result<bool> {
        let Some(i) = self.extra.iter().position(|(n, ..)| n == iface) else {
            return Ok(false);
        };
        let (iface, ifindex, id) = self.extra.remove(i);
        let gone = self::ifindex(&iface) != Some(ifindex);
        match xdp_program(&mut self.bpf)?.detach(id) {
            Ok(()) => Ok(true),
            Err(_) if gone => Ok(true),
            Err(source) => Err(Error::Detach {
                iface,
                source: Box::new(source),
            }),
        }
    }

    /// The interfaces of [`XdpFilter::attach_extra`] and the ifindex each had when attached.
    pub fn extra_attached(&self) -> impl Iterator<Item = (&str, u32)> {
        self.extra.iter().map(|(n, i, _)| (n.as_str(), *i))
    }

    /// The interface the program is attached to.
    pub fn attached_to(&self) -> Option<&str> {
        self.attached.as_ref().map(Attachment::iface)
    }

    /// True when attached through a pinned link (enforcement outlives this process).
    pub fn pinned_link(&self) -> bool {
        matches!(self.attached, Some(Attachment::Pinned { .. }))
    }

    /// Runs the loaded program once per `repeat` on `frame` with BPF_PROG_TEST_RUN (needs
    /// CAP_BPF/root; the program need not be attached). Maps, stats and events are updated
    /// exactly as for a real packet.
    ///
    /// The kernel refuses test input shorter than an Ethernet header. A shorter `frame` is
    /// padded to 14 bytes and `xdp_md.data_end` is set to its length, so the program's linear
    /// data is exactly `frame` (the padding lands in a fragment the program does not read).
    /// Older kernels, which require `data_end` to cover the whole input, reject such frames with
    /// EINVAL (reported as [`Error::TestRun`]).
    pub fn test_run(&mut self, frame: &[u8], repeat: u32) -> Result<XdpAction> {
        self.test_run_timed(frame, repeat).map(|(action, _)| action)
    }

    /// [`XdpFilter::test_run`], also returning the kernel's mean time per run (what
    /// BPF_PROG_TEST_RUN measures: the program alone, over `repeat` runs).
    pub fn test_run_timed(
        &mut self,
        frame: &[u8],
        repeat: u32,
    ) -> Result<(XdpAction, std::time::Duration)> {
        const ETH_HLEN: usize = 14;
        let program = xdp_program(&mut self.bpf)?;
        let err = |source| Error::TestRun {
            len: frame.len(),
            source: Box::new(source),
        };
        let result = if frame.len() >= ETH_HLEN {
            program.test_run(TestRunOptions {
                data_in: Some(frame),
                repeat,
                ..TestRunOptions::default()
            })
        } else {
            let mut data = frame.to_vec();
            data.resize(ETH_HLEN, 0);
            // struct xdp_md { data, data_end, data_meta, ingress_ifindex, rx_queue_index,
            // egress_ifindex }: no metadata, linear data ends after `frame`.
            let md: [u32; 6] = [0, frame.len() as u32, 0, 0, 0, 0];
            let ctx: Vec<u8> = md.iter().flat_map(|w| w.to_ne_bytes()).collect();
            program.test_run(TestRunOptions {
                data_in: Some(&data),
                ctx_in: Some(&ctx),
                repeat,
                ..TestRunOptions::default()
            })
        };
        let result = result.map_err(err)?;
        Ok((XdpAction::from(result.return_value), result.duration))
    }

    /// Hands the event ring buffer to a reader; `None` after the first call.
    pub fn take_event_reader(&mut self) -> Option<EventReader> {
        self.events.take().map(EventReader::new)
    }

    /// Replaces the match rules (checked in this order after the allowlist and blocklist
    /// lookups).
    pub fn set_match_rules(&mut self, rules: &[MatchRule]) -> Result<()> {
        if rules.len() > MAX_MATCH_RULES {
            return Err(Error::TooManyMatchRules {
                count: rules.len(),
                max: MAX_MATCH_RULES,
            });
        }
        if rules.iter().any(|r| r.rule_id == 0) {
            return Err(Error::ReservedRuleId);
        }
        // Shrink the live count first so the kernel never reads a half-written rule, write the
        // entries, then publish the new count. Each rule's hit slot is its index: a new set of
        // rules starts from zero.
        self.write_config(|c| c.match_rule_count = 0)?;
        self.match_rule_ids.clear();
        for i in 0..MAX_MATCH_RULES as u32 {
            self.zero_hits(i)?;
        }
        for (i, r) in (0u32..).zip(rules) {
            let raw = RawMatchRule {
                slot: i as u16,
                ..r.to_raw()
            };
            self.match_rules
                .set(i, raw, 0)
                .map_err(|source| Error::Map {
                    map: MATCH_RULES,
                    source: Box::new(source),
                })?;
        }
        self.match_rule_ids = rules.iter().map(|r| r.rule_id).collect();
        self.write_config(|c| c.match_rule_count = rules.len() as u32)
    }

    /// Changes the event token bucket (per CPU). `per_second == 0` never refills.
    pub fn set_event_rate(&mut self, per_second: u32, burst: u32) -> Result<()> {
        self.write_config(|c| set_rate(c, per_second, burst))
    }

    fn write_config(&mut self, f: impl FnOnce(&mut RawConfig)) -> Result<()> {
        let err = |source| Error::Map {
            map: CONFIG,
            source: Box::new(source),
        };
        let mut c = self.config.get(&0, 0).map_err(err)?;
        f(&mut c);
        self.config.set(0, c, 0).map_err(err)
    }
}

fn aya_mode(mode: XdpMode) -> aya::programs::XdpMode {
    match mode {
        XdpMode::Native => aya::programs::XdpMode::Driver,
        XdpMode::Skb => aya::programs::XdpMode::Skb,
        XdpMode::Hw => aya::programs::XdpMode::Hardware,
    }
}

fn xdp_program(bpf: &mut Ebpf) -> Result<&mut Xdp> {
    named_program(bpf, PROGRAM)
}

fn named_program<'a>(bpf: &'a mut Ebpf, program: &'static str) -> Result<&'a mut Xdp> {
    bpf.program_mut(program)
        .and_then(|p| <&mut Xdp>::try_from(p).ok())
        .ok_or(Error::MissingProgram { program })
}

/// Samples taken in a row before calibration gives up on getting one no tick tore.
const TORN_SAMPLE_RETRIES: usize = 100;

/// Nanoseconds per jiffy on this kernel, measured once per process (`CONFIG_HZ` is fixed).
static TICK_NS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// The kernel-side clock pair for converting deadlines: loads `clock_probe` and runs it through
/// BPF_PROG_TEST_RUN, which reads jiffies and the coarse monotonic clock at one instant. The first
/// call in a process also measures the tick: samples every 10 ms until the span allows exactly one
/// known `CONFIG_HZ` despite a sample's slack (`JiffyClock::tick_from_samples`; about 70 ms at
/// HZ=250), at most 2 s, after which the shortest tick the samples allow is used (entries then end
/// late by at most the slack over the span, never early).
///
/// A CPU woken from idle updates jiffies at once but the coarse clock only at its next tick, so
/// one sample can pair fresh jiffies with a monotonic time some ticks old, which would convert
/// deadlines to jiffies that come too early. The pair kept is the freshest of the samples taken
/// back to back over three ticks (the largest monotonic time for its jiffies); a sample torn by a
/// tick between its reads (jiffies read again after the coarse clock differ) would be fresher
/// than any real pair and is never kept. The conversion adds a tick of margin on top
/// (`JiffyClock::to_jiffies`).
fn calibrate(bpf: &mut Ebpf) -> Result<JiffyClock> {
    use std::time::{Duration, Instant};

    let program = named_program(bpf, CLOCK_PROBE)?;
    program.load().map_err(|source| Error::ProgramLoad {
        program: CLOCK_PROBE,
        source: Box::new(source),
    })?;
    let samples: Array<MapData, RawClockSample> = take(bpf, CLOCK_SAMPLE)?;
    // A sample whose jiffies changed between its two reads was torn by a tick and is taken
    // again (a tick lasts milliseconds, a sample about a microsecond).
    let mut sample = || -> Result<(u64, u64)> {
        let frame = [0u8; 14];
        for _ in 0..TORN_SAMPLE_RETRIES {
            named_program(bpf, CLOCK_PROBE)?
                .test_run(TestRunOptions {
                    data_in: Some(&frame),
                    repeat: 1,
                    ..TestRunOptions::default()
                })
                .map_err(|source| Error::TestRun {
                    len: frame.len(),
                    source: Box::new(source),
                })?;
            let s = samples.get(&0, 0).map_err(|source| Error::Map {
                map: CLOCK_SAMPLE,
                source: Box::new(source),
            })?;
            if s.jiffies == s.jiffies_after {
                return Ok((s.jiffies, s.coarse_ns));
            }
        }
        Err(Error::ClockTorn {
            tries: TORN_SAMPLE_RETRIES,
        })
    };
    let tick_ns = match TICK_NS.get() {
        Some(t) => *t,
        None => {
            let first = sample()?;
            let start = Instant::now();
            let mut fit = None;
            while start.elapsed() < Duration::from_secs(2) {
                std::thread::sleep(Duration::from_millis(10));
                fit = JiffyClock::tick_from_samples(first, sample()?);
                if fit.is_some_and(|f| f.exact.is_some()) {
                    break;
                }
            }
            let waited_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
            let fit = fit.ok_or(Error::ClockCalibration { waited_ms })?;
            let tick = fit.exact.unwrap_or_else(|| {
                tracing::warn!(
                    tick_ns = fit.at_least,
                    waited_ms,
                    "the kernel's tick matches no known CONFIG_HZ; converting TTLs with the \
                     shortest tick the clock samples allow (entries may end late, never early)"
                );
                fit.at_least
            });
            *TICK_NS.get_or_init(|| tick)
        }
    };
    let offset = |(j, ns): (u64, u64)| i128::from(ns) - i128::from(j) * i128::from(tick_ns);
    let until = Instant::now() + Duration::from_nanos(tick_ns.saturating_mul(3));
    let mut best = sample()?;
    while Instant::now() < until {
        let s = sample()?;
        if offset(s) > offset(best) {
            best = s;
        }
    }
    Ok(JiffyClock {
        jiffies: best.0,
        coarse_ns: best.1,
        tick_ns,
    })
}

fn set_rate(c: &mut RawConfig, per_second: u32, burst: u32) {
    c.event_rate_per_sec = u64::from(per_second);
    c.event_burst = u64::from(burst);
    // After this long an empty bucket is full again; capping elapsed time there keeps
    // elapsed * rate within u64 in the kernel.
    c.refill_cap_ns = if per_second == 0 {
        0
    } else {
        (u64::from(burst) * NANOS_PER_SEC).div_ceil(u64::from(per_second))
    };
}

/// A later engine moves the filter and the reader into tasks.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<XdpFilter>();
    assert_send::<EventReader>();
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refill_cap_is_the_time_to_fill_the_bucket() {
        let mut c = RawConfig::default();
        set_rate(&mut c, 1_000, 2_000);
        assert_eq!(c.refill_cap_ns, 2 * NANOS_PER_SEC);
        set_rate(&mut c, 3, 1);
        assert_eq!(c.refill_cap_ns, 333_333_334);
        set_rate(&mut c, 0, 5);
        assert_eq!((c.refill_cap_ns, c.event_burst), (0, 5));
    }

    #[test]
    fn hit_map_holds_every_entry() {
        assert_eq!(hits_capacity(10), 20 + 2048 + 64);
        assert_eq!(hits_capacity(u32::MAX), u32::MAX);
    }
}
