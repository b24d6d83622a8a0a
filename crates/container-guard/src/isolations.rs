//! What the guard has done to which container, remembered (in `data_dir`) until `restore` undoes
//! it — including the networks a disconnected container was attached to, with their aliases and
//! addresses, because Docker forgets them on disconnect.
//!
//! The file is replaced with `ironpost_core::fs::write_durable` (write, fsync, rename, fsync the
//! directory) after every change, so a power loss leaves the old list or the new one. A file that
//! is nevertheless damaged (zeroed, truncated, edited) is [`Corrupt`]: the guard moves it aside,
//! reports it and rebuilds what Docker's state allows (`reconcile.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::docker::Attachment;
use crate::error::GuardError;
use crate::policy::IsolationAction;

/// Largest state file read back (a corrupt or hostile file is refused, not parsed).
pub(crate) const MAX_STATE_BYTES: u64 = 16 << 20;

/// The `cause` of an isolation adopted from Docker's state after the state file was lost: the
/// guard does not know that it paused the container, only that it is paused.
pub(crate) const RECOVERED: &str = "recovered";

/// One isolated container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Isolation {
    pub container_id: String,
    pub container_name: String,
    /// Every action taken on it since the last restore, in order.
    pub actions: Vec<IsolationAction>,
    pub since: DateTime<Utc>,
    /// The policy, `manual`, or `recovered` (a paused container adopted after the state file was
    /// found damaged: policy, alert and networks are unknown).
    pub cause: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<String>,
    /// Networks it was disconnected from.
    #[serde(default)]
    pub networks: Vec<Attachment>,
}

/// The registry and the file it is persisted in.
#[derive(Debug)]
pub(crate) struct Isolations {
    path: Option<PathBuf>,
    by_id: BTreeMap<String, Isolation>,
}

/// A state file found damaged at start.
#[derive(Debug)]
pub(crate) struct Corrupt {
    /// What is wrong with it (names the file).
    pub(crate) error: GuardError,
    /// Where the damaged file was moved, when the rename worked.
    pub(crate) kept_as: Option<PathBuf>,
}

impl Isolations {
    /// An empty registry that is not persisted (tests, benchmarks).
    pub(crate) fn in_memory() -> Self {
        Isolations {
            path: None,
            by_id: BTreeMap::new(),
        }
    }

    /// Reads `path` when it exists.
    pub(crate) fn load(path: &Path) -> Result<Self, GuardError> {
        let mut by_id = BTreeMap::new();
        match std::fs::metadata(path) {
            Ok(m) if m.len() > MAX_STATE_BYTES => {
                return Err(GuardError::StateTooLarge {
                    path: path.to_owned(),
                });
            }
            Ok(_) => {
                let text = std::fs::read(path).map_err(|source| GuardError::StateRead {
                    path: path.to_owned(),
                    source,
                })?;
                let list: Vec<Isolation> =
                    serde_json::from_slice(&text).map_err(|source| GuardError::StateParse {
                        path: path.to_owned(),
                        source,
                    })?;
                for i in list {
                    by_id.insert(i.container_id.clone(), i);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(GuardError::StateRead {
                    path: path.to_owned(),
                    source,
                });
            }
        }
        Ok(Isolations {
            path: Some(path.to_owned()),
            by_id,
        })
    }

    /// Reads `path` like [`Isolations::load`], but a damaged file (not JSON, truncated, zeroed,
    /// too large) is not fatal: it is renamed to `isolations.json.corrupt` (kept for whoever
    /// investigates; a previous one is replaced) and an empty registry is returned with the
    /// [`Corrupt`] report, so that the guard can warn, count and rebuild. A file it cannot read at
    /// all (permissions, I/O) is still an error: that is not damage the guard may paper over.
    pub(crate) fn open(path: &Path) -> Result<(Self, Option<Corrupt>), GuardError> {
        match Self::load(path) {
            Ok(reg) => Ok((reg, None)),
            Err(error @ (GuardError::StateParse { .. } | GuardError::StateTooLarge { .. })) => {
                let aside = path.with_extension("json.corrupt");
                let kept_as = std::fs::rename(path, &aside).ok().map(|()| aside);
                let reg = Isolations {
                    path: Some(path.to_owned()),
                    by_id: BTreeMap::new(),
                };
                Ok((reg, Some(Corrupt { error, kept_as })))
            }
            Err(e) => Err(e),
        }
    }

    /// Writes the registry durably (`write_durable`: a crash leaves the old file or the new one).
    fn save(&self) -> Result<(), GuardError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| {
                GuardError::StateWrite(ironpost_core::fs::DurableWriteError {
                    step: "create directory",
                    path: dir.to_owned(),
                    source,
                })
            })?;
        }
        let list: Vec<&Isolation> = self.by_id.values().collect();
        // Serializing plain strings, dates and enums cannot fail.
        let json = serde_json::to_vec_pretty(&list).unwrap_or_default();
        ironpost_core::fs::write_durable(path, &json).map_err(GuardError::StateWrite)
    }

    pub(crate) fn list(&self) -> Vec<Isolation> {
        self.by_id.values().cloned().collect()
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Isolation> {
        self.by_id.get(id)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Records a successful action; networks already remembered are kept (a second disconnect
    /// finds none left and must not forget them).
    pub(crate) fn record(&mut self, new: Isolation) -> Result<(), GuardError> {
        match self.by_id.get_mut(&new.container_id) {
            Some(old) => {
                for a in new.actions {
                    if !old.actions.contains(&a) {
                        old.actions.push(a);
                    }
                }
                for n in new.networks {
                    if !old.networks.iter().any(|o| o.network == n.network) {
                        old.networks.push(n);
                    }
                }
                old.container_name = new.container_name;
            }
            None => {
                self.by_id.insert(new.container_id.clone(), new);
            }
        }
        self.save()
    }

    /// Replaces or forgets (when `None`) what is left to restore.
    pub(crate) fn set(&mut self, id: &str, left: Option<Isolation>) -> Result<(), GuardError> {
        match left {
            Some(i) => self.by_id.insert(id.to_owned(), i),
            None => self.by_id.remove(id),
        };
        self.save()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(id: &str, action: IsolationAction, nets: &[&str]) -> Isolation {
        Isolation {
            container_id: id.into(),
            container_name: format!("n-{id}"),
            actions: vec![action],
            since: Utc::now(),
            cause: "p".into(),
            alert_id: None,
            networks: nets
                .iter()
                .map(|n| Attachment {
                    network: (*n).into(),
                    network_id: String::new(),
                    aliases: vec!["web".into()],
                    ipv4: Some("198.18.40.5".into()),
                    ipv6: None,
                })
                .collect(),
        }
    }

    #[test]
    fn second_disconnect_keeps_remembered_networks_and_state_survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("isolations.json");
        let mut reg = Isolations::load(&path).unwrap();
        reg.record(iso(
            "a",
            IsolationAction::NetworkDisconnect,
            &["front", "back"],
        ))
        .unwrap();
        reg.record(iso("a", IsolationAction::NetworkDisconnect, &[]))
            .unwrap();
        reg.record(iso("a", IsolationAction::Pause, &[])).unwrap();
        let back = Isolations::load(&path).unwrap();
        let a = back.get("a").unwrap();
        assert_eq!(
            a.actions,
            [IsolationAction::NetworkDisconnect, IsolationAction::Pause]
        );
        let nets: Vec<&str> = a.networks.iter().map(|n| n.network.as_str()).collect();
        assert_eq!(nets, ["front", "back"]);
        assert_eq!(a.networks[0].aliases, ["web"]);
        let mut back = back;
        back.set("a", None).unwrap();
        assert_eq!(Isolations::load(&path).unwrap().len(), 0);
    }

    #[test]
    fn corrupt_state_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("isolations.json");
        std::fs::write(&path, "{not json").unwrap();
        let e = Isolations::load(&path).unwrap_err();
        assert!(e.to_string().contains("isolations.json"), "{e}");
    }

    /// Power loss on a filesystem without ordered data: the file is there, full of zeros, or cut
    /// short. Opened, it is reported (naming the file), moved aside, and the registry starts
    /// empty and still persists to the same path.
    #[test]
    fn zeroed_or_truncated_state_is_reported_moved_aside_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("isolations.json");
        let mut good = Isolations::load(&path).unwrap();
        good.record(iso("a", IsolationAction::Pause, &[])).unwrap();
        let full = std::fs::read(&path).unwrap();
        for damaged in [
            vec![0u8; full.len()],
            full[..full.len() / 2].to_vec(),
            vec![],
        ] {
            std::fs::write(&path, &damaged).unwrap();
            let (mut reg, corrupt) = Isolations::open(&path).unwrap();
            let corrupt = corrupt.expect("damage is reported");
            assert!(
                matches!(corrupt.error, GuardError::StateParse { ref path, .. } if path.ends_with("isolations.json")),
                "{:?}",
                corrupt.error
            );
            let aside = corrupt.kept_as.unwrap();
            assert_eq!(std::fs::read(&aside).unwrap(), damaged);
            assert_eq!(reg.len(), 0);
            assert!(!path.exists());
            reg.record(iso("b", IsolationAction::Stop, &[])).unwrap();
            assert_eq!(Isolations::load(&path).unwrap().list()[0].container_id, "b");
        }
        // An intact file is no damage; a missing one neither.
        let (reg, corrupt) = Isolations::open(&path).unwrap();
        assert!(corrupt.is_none() && reg.len() == 1);
        std::fs::remove_file(&path).unwrap();
        let (reg, corrupt) = Isolations::open(&path).unwrap();
        assert!(corrupt.is_none() && reg.len() == 0);
        // No temporary file is left beside it.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }
}
