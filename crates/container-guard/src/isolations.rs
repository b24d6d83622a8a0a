//! What the guard has done to which container, remembered (in `data_dir`) until `restore` undoes
//! it — including the networks a disconnected container was attached to, with their aliases and
//! addresses, because Docker forgets them on disconnect.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::docker::Attachment;
use crate::policy::IsolationAction;

/// Largest state file read back (a corrupt or hostile file is refused, not parsed).
const MAX_STATE_BYTES: u64 = 16 << 20;

/// One isolated container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Isolation {
    pub container_id: String,
    pub container_name: String,
    /// Every action taken on it since the last restore, in order.
    pub actions: Vec<IsolationAction>,
    pub since: DateTime<Utc>,
    /// The policy, or `manual`.
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

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read isolation state {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("isolation state {} is larger than {MAX_STATE_BYTES} bytes", path.display())]
    TooLarge { path: PathBuf },
    #[error("isolation state {} is not valid JSON", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write isolation state {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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
    pub(crate) fn load(path: &Path) -> Result<Self, StateError> {
        let mut by_id = BTreeMap::new();
        match std::fs::metadata(path) {
            Ok(m) if m.len() > MAX_STATE_BYTES => {
                return Err(StateError::TooLarge {
                    path: path.to_owned(),
                });
            }
            Ok(_) => {
                let text = std::fs::read(path).map_err(|source| StateError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                let list: Vec<Isolation> =
                    serde_json::from_slice(&text).map_err(|source| StateError::Parse {
                        path: path.to_owned(),
                        source,
                    })?;
                for i in list {
                    by_id.insert(i.container_id.clone(), i);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(StateError::Read {
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

    /// Writes the registry atomically (temp file + rename).
    fn save(&self) -> Result<(), StateError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let err = |source| StateError::Write {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let list: Vec<&Isolation> = self.by_id.values().collect();
        let json = serde_json::to_vec_pretty(&list).map_err(|e| err(std::io::Error::other(e)))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
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
    pub(crate) fn record(&mut self, new: Isolation) -> Result<(), StateError> {
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
    pub(crate) fn set(&mut self, id: &str, left: Option<Isolation>) -> Result<(), StateError> {
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
}
