//! Reconciliation: every isolation the guard holds is checked against Docker's real state after
//! each burst of Docker events, after each (re)connection and every `reconcile_interval`. An
//! isolation someone or something undid — a manual `docker unpause`, a restart policy restarting
//! a stopped container, a dockerd restart (which unpauses and restarts), a
//! `docker network connect` — is re-applied or only reported (`on_undone`), counted in
//! `ironpost_isolation_undone_total{action,outcome}` and recorded as an `ActionEvent`.
//!
//! A container that no longer exists loses its record (counted in
//! `ironpost_container_guard_isolations_dropped_total{reason="container_gone"}`). A restore asked
//! through the CLI holds `restore_gate` for its whole run, so the unpause it causes is never seen
//! as an undone isolation.
//!
//! After a damaged `isolations.json` (see `isolations.rs`), the first pass adopts every paused
//! container as a `recovered` isolation: Docker keeps no mark of who paused a container (labels
//! cannot be added to an existing one), so a recovered isolation is never re-applied: when it is
//! found undone it is reported and forgotten. Stopped and disconnected containers cannot be told
//! apart from ones that were never isolated and are not recovered, nor are the networks a
//! disconnected container would be restored to.

use std::time::Duration;

use ironpost_core::{ActionEvent, ActionOutcome, Severity};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{info, warn};

use crate::config::OnUndone;
use crate::docker::{DockerApi, Inspected};
use crate::executor::Subject;
use crate::guard::{Inner, lock};
use crate::isolations::{Isolation, RECOVERED};
use crate::policy::IsolationAction;

/// Wake-ups queued for the reconciler: one is enough, more would repeat the same pass.
pub(crate) const WAKE_CAPACITY: usize = 1;

/// Asks for a pass soon; a pass already pending absorbs this one.
pub(crate) fn wake(tx: &mpsc::Sender<&'static str>, trigger: &'static str) {
    let _ = tx.try_send(trigger);
}

/// Runs `pass(trigger)` on each wake-up and, when nothing woke it for `interval`, with
/// `"interval"`; returns on `stop` or when every sender is gone. The interval restarts after
/// every pass, whatever caused it.
pub(crate) async fn schedule<F, Fut>(
    mut wake: mpsc::Receiver<&'static str>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
    mut pass: F,
) where
    F: FnMut(&'static str) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut tick = tokio::time::interval_at(Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let trigger = tokio::select! {
            t = wake.recv() => match t {
                Some(t) => t,
                None => return,
            },
            _ = tick.tick() => "interval",
            _ = stop.changed() => return,
        };
        pass(trigger).await;
        tick.reset();
    }
}

/// The actions of `record` that Docker's state no longer shows, each with what was found. A
/// stopped container counts as paused (it cannot run) and as disconnected only if it has no
/// network; when a stop is undone only the stop is listed, since a stop covers the rest.
pub(crate) fn undone(record: &Isolation, found: &Inspected) -> Vec<(IsolationAction, String)> {
    let mut out = Vec::new();
    if record.actions.contains(&IsolationAction::Stop) && found.running {
        return vec![(IsolationAction::Stop, "running again".into())];
    }
    for a in &record.actions {
        match a {
            IsolationAction::Pause if found.running && !found.paused => {
                out.push((*a, "running, not paused".into()));
            }
            IsolationAction::NetworkDisconnect => {
                // `none` is Docker's name for "no network".
                let nets: Vec<&str> = found
                    .attachments
                    .iter()
                    .map(|n| n.network.as_str())
                    .filter(|n| *n != "none")
                    .collect();
                if !nets.is_empty() {
                    out.push((*a, format!("attached to {}", nets.join(", "))));
                }
            }
            _ => {}
        }
    }
    out
}

impl Inner {
    /// One pass over every isolation. Without a Docker connection there is nothing to compare
    /// with: the pass is skipped (the reconnection wakes the next one).
    pub(crate) async fn reconcile(&self, trigger: &'static str) {
        let Ok(api) = self.current_api() else {
            return;
        };
        if self
            .rebuild_pending
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            self.rebuild(&api).await;
        }
        let ids: Vec<String> = self
            .isolations
            .lock()
            .await
            .list()
            .into_iter()
            .map(|i| i.container_id)
            .collect();
        for id in ids {
            self.reconcile_one(&api, &id).await;
        }
        // Counted when done, so that a reader who sees the count move knows the pass is over.
        self.metrics.reconciles.with_label_values(&[trigger]).inc();
    }

    async fn reconcile_one(&self, api: &DockerApi, id: &str) {
        // Held until the end: a restore waits, and one that ran meanwhile has left its record.
        let _gate = self.restore_gate.lock().await;
        let Some(record) = self.isolations.lock().await.get(id).cloned() else {
            return;
        };
        let found = match api.inspect(id).await {
            Ok(f) => f,
            Err(e) if e.is_no_such_container() => {
                return self.forget(&record, "container_gone").await;
            }
            Err(e) => {
                // Transient (timeout, dockerd going away): the next pass looks again.
                warn!(container = %record.container_name, error = %ironpost_core::error_chain(&e),
                    "cannot check an isolation against Docker");
                return;
            }
        };
        let undone = undone(&record, &found);
        {
            // An action seen holding again ends its reported episode.
            let mut reported = lock(&self.reported);
            for a in &record.actions {
                if !undone.iter().any(|(u, _)| u == a) {
                    reported.remove(&(id.to_owned(), *a));
                }
            }
        }
        if undone.is_empty() {
            return;
        }
        let subject = Subject {
            id: record.container_id.clone(),
            name: found.name.clone(),
        };
        if record.cause == RECOVERED {
            for (a, why) in &undone {
                self.report(
                    &subject,
                    &record,
                    *a,
                    why,
                    "recovered isolation released; forgotten",
                )
                .await;
            }
            return self.forget(&record, "released").await;
        }
        match self.cfg.on_undone {
            OnUndone::Report => {
                for (a, why) in &undone {
                    if lock(&self.reported).insert((id.to_owned(), *a)) {
                        self.report(
                            &subject,
                            &record,
                            *a,
                            why,
                            "on_undone = report: not re-applied",
                        )
                        .await;
                    }
                }
            }
            OnUndone::Reapply => {
                for (a, why) in undone {
                    let mut template = self.template(&subject, &record, a);
                    template.detail = format!(
                        "reconcile: {} undone (container {why}); re-applied; cause {}",
                        a.as_str(),
                        record.cause
                    );
                    let outcome = match self
                        .isolate(
                            &subject,
                            a,
                            &template,
                            &record.cause,
                            record.alert_id.clone(),
                        )
                        .await
                    {
                        Ok(_) => "reapplied",
                        Err(e) => {
                            warn!(container = %subject.name, action = a.as_str(),
                                error = %ironpost_core::error_chain(&e), "undone isolation not re-applied");
                            "failed"
                        }
                    };
                    warn!(container = %subject.name, action = a.as_str(), found = %why, outcome,
                        "isolation was undone outside the guard");
                    self.metrics
                        .undone
                        .with_label_values(&[a.as_str(), outcome])
                        .inc();
                }
            }
        }
    }

    /// An `ActionEvent` about `record` outside any alert's handling: linked to the alert that
    /// caused the isolation when there was one.
    fn template(&self, subject: &Subject, record: &Isolation, a: IsolationAction) -> ActionEvent {
        let mut ev = ActionEvent::manual(a.action_type(), ActionOutcome::Failure, Severity::High);
        ev.alert_id = record.alert_id.as_deref().and_then(|s| s.parse().ok());
        ev.target = subject.entities();
        ev
    }

    /// Records an undone isolation without acting: an `ActionEvent` with outcome `dry_run`.
    async fn report(
        &self,
        subject: &Subject,
        record: &Isolation,
        a: IsolationAction,
        why: &str,
        what: &str,
    ) {
        let mut ev = self.template(subject, record, a);
        ev.outcome = ActionOutcome::DryRun;
        ev.detail = format!(
            "reconcile: {} undone (container {why}); {what}; cause {}",
            a.as_str(),
            record.cause
        );
        warn!(container = %subject.name, action = a.as_str(), found = %why, "isolation was undone outside the guard; {what}");
        self.emit(&[ev]).await;
        self.metrics
            .undone
            .with_label_values(&[a.as_str(), "reported"])
            .inc();
    }

    /// Drops `record` without a restore.
    async fn forget(&self, record: &Isolation, reason: &'static str) {
        lock(&self.reported).retain(|(i, _)| *i != record.container_id);
        let mut reg = self.isolations.lock().await;
        if let Err(e) = reg.set(&record.container_id, None) {
            warn!(error = %ironpost_core::error_chain(&e), "isolation record dropped in memory only");
        }
        self.metrics.isolated.set(reg.len() as i64);
        self.metrics.dropped.with_label_values(&[reason]).inc();
        info!(container = %record.container_name, reason, "isolation record forgotten");
    }

    /// After a damaged state file: adopts every paused container as a `recovered` isolation.
    async fn rebuild(&self, api: &DockerApi) {
        let list = match api.list().await {
            Ok(l) => l,
            Err(e) => {
                warn!(error = %ironpost_core::error_chain(&e), "cannot list containers to rebuild the isolation state; retrying on the next pass");
                self.rebuild_pending
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                return;
            }
        };
        let mut reg = self.isolations.lock().await;
        let mut adopted = Vec::new();
        for c in list.into_iter().filter(|c| c.state == "paused") {
            if reg.get(&c.id).is_some() {
                continue;
            }
            let rec = Isolation {
                container_id: c.id,
                container_name: c.name.clone(),
                actions: vec![IsolationAction::Pause],
                since: chrono::Utc::now(),
                cause: RECOVERED.to_owned(),
                alert_id: None,
                networks: Vec::new(),
            };
            if let Err(e) = reg.record(rec) {
                warn!(error = %ironpost_core::error_chain(&e), "recovered isolation kept in memory only");
            }
            self.metrics.recovered.inc();
            adopted.push(c.name);
        }
        self.metrics.isolated.set(reg.len() as i64);
        warn!(adopted = ?adopted,
            "isolation state rebuilt from Docker: paused containers adopted as recovered isolations (reported, never re-applied, when undone); stopped or disconnected isolations and the networks to restore are lost");
    }
}

#[cfg(test)]
#[path = "reconcile/tests.rs"]
mod tests;
