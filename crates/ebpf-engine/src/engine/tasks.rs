//! The engine's two background tasks: the ring-buffer reader and the once-a-second ticker
//! (stats, detectors, expiry, re-attach, SYN cookie check).

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Instant;

use ironpost_core::Health;
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

use super::{EVENT_BATCH, Inner, SYNCOOKIES_CHECK, TICK};
use crate::events::EventReader;

/// Wraps the reader so tokio can poll its fd.
struct Fd(EventReader);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

pub(super) async fn read_events(
    inner: Arc<Inner>,
    reader: EventReader,
    mut stop: watch::Receiver<bool>,
) {
    let names = inner.compiled.names.clone();
    // `new` is deprecated for types whose fd could be closed behind tokio's back; here the fd
    // belongs to the ring buffer inside the value AsyncFd owns, so it lives exactly as long as the
    // registration (the replacement, `register`, is `unsafe` for that same promise).
    #[allow(deprecated)]
    let registered = AsyncFd::new(Fd(reader));
    let mut fd = match registered {
        Ok(fd) => fd,
        Err(e) => {
            inner.set_health(Health::Degraded(format!(
                "cannot poll the event ring buffer: {e}"
            )));
            return;
        }
    };
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            ready = fd.readable_mut() => {
                let Ok(mut guard) = ready else { return };
                let batch = guard.get_inner_mut().0.drain(EVENT_BATCH);
                if batch.len() < EVENT_BATCH {
                    guard.clear_ready();
                }
                let now = Instant::now();
                for ev in batch {
                    let name = ev.rule_id.and_then(|id| names.get(&id).cloned());
                    if let Some(alert) = inner.on_event(ev.into_packet_event(name), now) {
                        // Alerts are rare and must not be lost: wait for room.
                        let _ = inner.outputs.alerts.send(alert).await;
                    }
                }
            }
        }
    }
}

pub(super) async fn tick(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut cookies_checked = Instant::now();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = interval.tick() => {
                inner.check_interface();
                inner.ensure_attached();
                inner.poll_stats();
                for alert in inner.detect(Instant::now()) {
                    let _ = inner.outputs.alerts.send(alert).await;
                }
                inner.expire().await;
                if cookies_checked.elapsed() >= SYNCOOKIES_CHECK {
                    cookies_checked = Instant::now();
                    inner.check_syncookies();
                }
            }
        }
    }
}
