//! The container inventory: a full list at connect, a re-list after each burst of Docker events
//! (create, start, die, destroy, rename, pause, network connect/disconnect …) and every
//! `poll_interval` as a fallback. When dockerd goes away the monitor reconnects with exponential
//! backoff (200 ms doubling to 5 s) and the guard reports Degraded meanwhile. Each connection and
//! each burst of events also wakes the reconciler (`reconcile.rs`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::docker::DockerApi;
use crate::error::GuardError;
use crate::guard::Inner;
use crate::policy::ContainerInfo;

const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What the guard knows about the host's containers.
#[derive(Debug, Default)]
pub(crate) struct InventoryState {
    pub(crate) containers: Vec<ContainerInfo>,
    pub(crate) host_ips: Vec<IpAddr>,
    pub(crate) refreshed_at: Option<Instant>,
    /// Why Docker is unreachable, while it is.
    pub(crate) down: Option<String>,
    pub(crate) ever_connected: bool,
}

impl Inner {
    /// Re-lists the containers now.
    pub(crate) async fn refresh(&self, api: &DockerApi, trigger: &str) -> Result<(), GuardError> {
        let mut list = api.list().await?;
        list.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        let host_ips = ironpost_core::net::host_addresses();
        self.metrics.refreshes.with_label_values(&[trigger]).inc();
        self.metrics.containers.set(list.len() as i64);
        let mut inv = crate::guard::lock(&self.inventory);
        inv.containers = list;
        inv.host_ips = host_ips;
        inv.refreshed_at = Some(Instant::now());
        Ok(())
    }

    fn set_down(&self, why: String) {
        *crate::guard::lock(&self.api) = None;
        self.metrics.connected.set(0);
        let mut inv = crate::guard::lock(&self.inventory);
        if inv.down.is_none() {
            warn!(endpoint = %self.cfg.docker_socket, error = %why, "Docker unreachable; reconnecting");
        }
        inv.down = Some(why);
    }

    fn set_up(&self, api: DockerApi) {
        *crate::guard::lock(&self.api) = Some(api);
        self.metrics.connected.set(1);
        let mut inv = crate::guard::lock(&self.inventory);
        if inv.ever_connected {
            self.metrics.reconnects.inc();
        }
        if inv.down.take().is_some() || !inv.ever_connected {
            info!(endpoint = %self.cfg.docker_socket, "connected to Docker");
        }
        inv.ever_connected = true;
    }
}

/// Keeps the inventory fresh until `stop`.
pub(crate) async fn monitor(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let mut backoff = BACKOFF_MIN;
    loop {
        if *stop.borrow() {
            return;
        }
        let api = match DockerApi::connect(
            &inner.cfg.docker_socket,
            inner.cfg.action_timeout,
            inner.metrics.docker_calls.clone(),
        )
        .await
        {
            Ok(api) => api,
            Err(e) => {
                inner.set_down(crate::executor::error_chain(&e));
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        // Subscribe before listing, so that nothing between the list and the stream is missed.
        let mut events = Box::pin(api.events());
        if let Err(e) = inner.refresh(&api, "connect").await {
            inner.set_down(crate::executor::error_chain(&e));
            continue;
        }
        inner.set_up(api.clone());
        // After a dockerd restart the isolations may be undone (it unpauses, restart policies
        // restart): check them now.
        crate::reconcile::wake(&inner.reconcile_tx, "connect");
        backoff = BACKOFF_MIN;
        let mut ttl = tokio::time::interval(inner.cfg.poll_interval);
        ttl.tick().await;
        let why = loop {
            tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(_)) => {
                        inner.metrics.events.inc();
                        // One re-list for a burst of events.
                        let mut ended = None;
                        while let Some(next) = events.next().now_or_never() {
                            match next {
                                Some(Ok(_)) => inner.metrics.events.inc(),
                                Some(Err(e)) => { ended = Some(e.to_string()); break; }
                                None => { ended = Some("event stream ended".to_owned()); break; }
                            }
                        }
                        if let Err(e) = inner.refresh(&api, "event").await {
                            break crate::executor::error_chain(&e);
                        }
                        crate::reconcile::wake(&inner.reconcile_tx, "event");
                        if let Some(why) = ended {
                            break why;
                        }
                    }
                    Some(Err(e)) => break format!("event stream failed: {e}"),
                    None => break "event stream ended".to_owned(),
                },
                _ = ttl.tick() => {
                    if let Err(e) = inner.refresh(&api, "ttl").await {
                        break crate::executor::error_chain(&e);
                    }
                }
                _ = stop.changed() => return,
            }
        };
        inner.set_down(why);
    }
}
