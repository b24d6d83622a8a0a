//! `extra_interfaces`: the same XDP program, maps and detectors attached to more interfaces
//! (a container's host-side veth, say) while they exist, never pinned.

use tracing::{info, warn};

use ironpost_core::error_chain;

use super::{Inner, interface_exists, lock};

impl Inner {
    /// Attaches each `extra_interfaces` entry that exists and is not attached yet. Health
    /// follows `interface` alone: a missing extra interface (a container's veth between two
    /// runs of the container) is normal; a failed attach is logged once per cause and shown in
    /// `stats`.
    pub(super) fn ensure_extras_attached(&self) {
        if self.cfg.extra_interfaces.is_empty() {
            return;
        }
        let mut guard = lock(&self.filter);
        let Some(filter) = guard.as_mut() else { return };
        let mut notes = lock(&self.extra_notes);
        for iface in &self.cfg.extra_interfaces {
            if filter.extra_attached().any(|(n, _)| n == iface) {
                continue;
            }
            if !interface_exists(iface) {
                notes.insert(iface.clone(), "not found; waiting for it".into());
                continue;
            }
            match filter.attach_extra(iface, self.cfg.xdp_mode) {
                Ok(ifindex) => {
                    info!(interface = %iface, ifindex, mode = ?self.cfg.xdp_mode, "XDP program attached to an extra interface");
                    notes.remove(iface);
                }
                Err(e) => {
                    let why = format!("cannot attach: {}", error_chain(&e));
                    if notes.get(iface) != Some(&why) {
                        warn!(interface = %iface, error = %why, "XDP program not attached to an extra interface");
                    }
                    notes.insert(iface.clone(), why);
                }
            }
        }
        self.metrics
            .extra_attached
            .set(i64::try_from(filter.extra_attached().count()).unwrap_or(i64::MAX));
    }

    /// Detaches what a deleted extra interface left (or one deleted and made again under its
    /// name: another ifindex); it is attached again once it exists.
    pub(super) fn drop_vanished_extras(&self) {
        let mut guard = lock(&self.filter);
        let Some(f) = guard.as_mut() else { return };
        let gone: Vec<String> = f
            .extra_attached()
            .filter(|(n, i)| crate::kernel::ifindex(n) != Some(*i))
            .map(|(n, _)| n.to_owned())
            .collect();
        for iface in gone {
            if let Err(e) = f.detach_extra(&iface) {
                warn!(interface = %iface, error = %error_chain(&e), "cannot detach from a vanished extra interface");
            }
            info!(interface = %iface, "extra interface gone; its XDP attachment with it");
        }
        self.metrics
            .extra_attached
            .set(i64::try_from(f.extra_attached().count()).unwrap_or(i64::MAX));
    }
}
