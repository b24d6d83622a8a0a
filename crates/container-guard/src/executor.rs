//! Carries out isolation actions and their reversal against Docker, with a timeout per call and
//! linear-backoff retries. Every attempt ends in an `ActionEvent`.
//!
//! Idempotence: pausing a paused container, stopping a stopped one and disconnecting a container
//! that has no network left all succeed; so do unpausing a running container and re-attaching a
//! network it is already on.

use std::time::Duration;

use ironpost_core::{ActionEvent, ActionOutcome, ActionType, ContainerRef, Entities};

use crate::docker::{Attachment, DockerApi};
use crate::error::GuardError;
use crate::policy::IsolationAction;

/// Pause between attempts: `RETRY_STEP × attempt` (500 ms, 1 s, 1.5 s …).
pub(crate) const RETRY_STEP: Duration = Duration::from_millis(500);

impl IsolationAction {
    /// The low-cardinality action type of its `ActionEvent`s.
    pub fn action_type(self) -> ActionType {
        match self {
            IsolationAction::Pause => ActionType::ContainerPause,
            IsolationAction::Stop => ActionType::ContainerStop,
            IsolationAction::NetworkDisconnect => ActionType::ContainerNetworkDisconnect,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IsolationAction::Pause => "pause",
            IsolationAction::Stop => "stop",
            IsolationAction::NetworkDisconnect => "network_disconnect",
        }
    }
}

impl std::str::FromStr for IsolationAction {
    type Err = GuardError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pause" => Ok(IsolationAction::Pause),
            "stop" => Ok(IsolationAction::Stop),
            "network_disconnect" => Ok(IsolationAction::NetworkDisconnect),
            other => Err(GuardError::UnknownAction {
                input: other.to_owned(),
            }),
        }
    }
}

/// The container an action is about.
#[derive(Debug, Clone)]
pub(crate) struct Subject {
    pub(crate) id: String,
    pub(crate) name: String,
}

impl Subject {
    pub(crate) fn entities(&self) -> Entities {
        Entities {
            container: Some(ContainerRef {
                id: Some(self.id.clone()),
                name: Some(self.name.clone()),
            }),
            ..Entities::default()
        }
    }
}

/// Retries and timeouts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Attempts after the first.
    pub(crate) retries: u32,
}

/// Runs `op` up to `1 + retries` times; `template` is filled in for each attempt's event. On
/// failure returns the last attempt's error (the earlier ones are in their events).
pub(crate) async fn with_retries<T, F, Fut>(
    limits: Limits,
    template: &ActionEvent,
    mut op: F,
) -> (Result<T, GuardError>, Vec<ActionEvent>)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(T, String), GuardError>>,
{
    let mut events = Vec::new();
    let mut attempt: u32 = 1;
    loop {
        if attempt > 1 {
            tokio::time::sleep(RETRY_STEP * (attempt - 1)).await;
        }
        let mut ev = template.clone();
        ev.id = ironpost_core::EventId::new();
        ev.timestamp = chrono::Utc::now();
        ev.attempt = attempt;
        match op().await {
            Ok((v, detail)) => {
                ev.outcome = ActionOutcome::Success;
                if !detail.is_empty() {
                    ev.detail = format!("{}; {detail}", ev.detail);
                }
                events.push(ev);
                return (Ok(v), events);
            }
            Err(e) => {
                ev.outcome = ActionOutcome::Failure;
                ev.error = Some(error_chain(&e));
                events.push(ev);
                if attempt > limits.retries || attempt == u32::MAX {
                    return (Err(e), events);
                }
            }
        }
        attempt += 1;
    }
}

pub(crate) use ironpost_core::error_chain;

/// One attempt at `action`; returns the networks it detached (for `NetworkDisconnect`).
pub(crate) async fn isolate_once(
    api: &DockerApi,
    action: IsolationAction,
    id: &str,
    timeout: Duration,
) -> Result<(Vec<Attachment>, String), GuardError> {
    match action {
        IsolationAction::Pause => match api.pause(id).await {
            Ok(()) => Ok((Vec::new(), String::new())),
            // 409: already paused (success) or not running (a real failure).
            Err(e) if e.status() == Some(409) => {
                if api.inspect(id).await?.paused {
                    Ok((Vec::new(), "already paused".into()))
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        },
        IsolationAction::Stop => {
            let grace = Duration::from_secs(timeout.as_secs() / 2);
            api.stop(id, grace).await?;
            Ok((Vec::new(), String::new()))
        }
        IsolationAction::NetworkDisconnect => {
            let attached = api.inspect(id).await?.attachments;
            if attached.is_empty() {
                return Ok((Vec::new(), "no network attached".into()));
            }
            let mut done = Vec::new();
            for a in attached {
                api.disconnect(id, &a.network).await?;
                done.push(a);
            }
            let names: Vec<&str> = done.iter().map(|a| a.network.as_str()).collect();
            let detail = format!("disconnected from {}", names.join(", "));
            Ok((done, detail))
        }
    }
}

/// Unpauses `id`; a container that is not paused is left as it is.
pub(crate) async fn unpause_once(api: &DockerApi, id: &str) -> Result<((), String), GuardError> {
    match api.unpause(id).await {
        Ok(()) => Ok(((), String::new())),
        // Docker 20.10 answers 500 "is not paused" (newer engines 409): whatever the status, the
        // container's state decides.
        Err(e) if e.status().is_some() && !api.inspect(id).await?.paused => {
            Ok(((), "was not paused".into()))
        }
        Err(e) => Err(e),
    }
}

/// Starts `id` (304 "already started" is a success).
pub(crate) async fn start_once(api: &DockerApi, id: &str) -> Result<((), String), GuardError> {
    api.start(id).await.map(|()| ((), String::new()))
}

/// Re-attaches `a`, with the same aliases and addresses when Docker accepts them (it refuses
/// static addresses and aliases on its default `bridge` network; then without them).
pub(crate) async fn reconnect_once(
    api: &DockerApi,
    id: &str,
    a: &Attachment,
) -> Result<((), String), GuardError> {
    let current = api.inspect(id).await?;
    if current.attachments.iter().any(|c| c.network == a.network) {
        return Ok(((), format!("already on {}", a.network)));
    }
    match api.connect_network(id, a, true).await {
        Ok(()) => Ok((
            (),
            format!(
                "reconnected to {} ({})",
                a.network,
                a.ipv4.as_deref().unwrap_or("dynamic address")
            ),
        )),
        Err(e) if matches!(e.status(), Some(400 | 403)) => {
            api.connect_network(id, a, false).await?;
            Ok((
                (),
                format!(
                    "reconnected to {} with a new address (Docker refused the old one: {})",
                    a.network,
                    error_chain(&e)
                ),
            ))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpost_core::Severity;

    #[test]
    fn actions_parse_and_map_to_low_cardinality_types() {
        for a in [
            IsolationAction::Pause,
            IsolationAction::Stop,
            IsolationAction::NetworkDisconnect,
        ] {
            assert_eq!(a.as_str().parse::<IsolationAction>().unwrap(), a);
            assert!(a.action_type().as_str().starts_with("container_"));
        }
        let err = "kill".parse::<IsolationAction>().unwrap_err();
        assert!(
            matches!(err, GuardError::UnknownAction { ref input } if input == "kill"),
            "{err:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn every_attempt_ends_in_an_event_and_retries_stop_at_success() {
        let template = ActionEvent::manual(
            ActionType::ContainerPause,
            ActionOutcome::Failure,
            Severity::High,
        );
        let limits = Limits { retries: 3 };
        let mut calls = 0;
        let (v, events) = with_retries(limits, &template, || {
            calls += 1;
            let n = calls;
            async move {
                if n < 3 {
                    Err(GuardError::DockerTimeout {
                        call: "pause",
                        target: "c".into(),
                        timeout: Duration::from_secs(1),
                    })
                } else {
                    Ok((n, "ok".into()))
                }
            }
        })
        .await;
        assert_eq!(v.ok(), Some(3));
        let got: Vec<(u32, ActionOutcome)> =
            events.iter().map(|e| (e.attempt, e.outcome)).collect();
        assert_eq!(
            got,
            [
                (1, ActionOutcome::Failure),
                (2, ActionOutcome::Failure),
                (3, ActionOutcome::Success)
            ]
        );
        assert!(
            events[0]
                .error
                .as_deref()
                .unwrap()
                .contains("did not answer")
        );
        assert!(events.iter().all(|e| e.trace_id == template.trace_id));

        let (v, events) = with_retries(Limits { retries: 0 }, &template, || async {
            Err::<((), String), _>(GuardError::DockerTimeout {
                call: "pause",
                target: "c".into(),
                timeout: Duration::from_secs(1),
            })
        })
        .await;
        assert!(matches!(v, Err(GuardError::DockerTimeout { .. })), "{v:?}");
        assert_eq!(events.len(), 1);
    }
}

#[cfg(test)]
mod error_tests {
    use std::path::Path;

    use ironpost_core::error::repeated_cause;

    use super::*;
    use crate::isolations::Isolations;
    use crate::policy::PolicySet;

    /// Real failures (a broken policy file, a corrupt or unwritable state file, a Docker 404): no
    /// message of the chain repeats its source, and the joined chain still names the file and the
    /// cause.
    #[test]
    fn guard_errors_print_their_cause_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), "[[policy]]\nname = \n").unwrap();
        let errors = PolicySet::load_dir(dir.path()).unwrap_err();
        let policies = GuardError::Policies {
            dir: dir.path().to_owned(),
            errors,
        };
        let state_file = dir.path().join("isolations.json");
        std::fs::write(&state_file, "{not json").unwrap();
        let state = Isolations::load(&state_file).unwrap_err();
        let unwritable = dir.path().join("file").join("isolations.json");
        std::fs::write(dir.path().join("file"), "").unwrap();
        let write = GuardError::StateWrite(
            ironpost_core::fs::write_durable(&unwritable, b"[]").unwrap_err(),
        );
        let docker = GuardError::DockerCall {
            call: "pause",
            target: "web".into(),
            source: bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                message: "No such container: web".into(),
            },
        };
        let failed = GuardError::Failed {
            action: "pause",
            container: "web".into(),
            attempts: 4,
            source: Some(Box::new(docker)),
        };
        for e in [&policies, &state, &write, &failed] {
            assert_eq!(repeated_cause(e), None, "{}", error_chain(e));
        }
        let text = error_chain(&failed);
        assert!(text.starts_with("pause on container `web` failed after 4 attempt(s): Docker call `pause` on web failed: "), "{text}");
        assert!(text.contains("No such container: web"), "{text}");
        let text = error_chain(&policies);
        assert!(
            text.contains(&*dir.path().join("a.toml").to_string_lossy()),
            "{text}"
        );
        assert!(error_chain(&state).contains(Path::new("isolations.json").to_str().unwrap()));
        let text = error_chain(&write);
        assert!(
            text.starts_with("isolation state not saved: cannot create ")
                && text.contains(".isolations.json.tmp"),
            "{text}"
        );
    }
}
