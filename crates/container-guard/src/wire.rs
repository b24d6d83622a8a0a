//! The guard's types as the control protocol carries them (`ironpost_proto::wire`), both ways for
//! the action an operator asks for. The conversions are the only coupling: the guard may reshape
//! its own types freely, and the wire types change only as a protocol change.

use ironpost_proto::wire;

use crate::{Attachment, Isolation, IsolationAction};

impl From<IsolationAction> for wire::IsolationAction {
    fn from(a: IsolationAction) -> Self {
        match a {
            IsolationAction::Pause => wire::IsolationAction::Pause,
            IsolationAction::Stop => wire::IsolationAction::Stop,
            IsolationAction::NetworkDisconnect => wire::IsolationAction::NetworkDisconnect,
        }
    }
}

impl From<wire::IsolationAction> for IsolationAction {
    fn from(a: wire::IsolationAction) -> Self {
        match a {
            wire::IsolationAction::Pause => IsolationAction::Pause,
            wire::IsolationAction::Stop => IsolationAction::Stop,
            wire::IsolationAction::NetworkDisconnect => IsolationAction::NetworkDisconnect,
        }
    }
}

impl From<Attachment> for wire::Attachment {
    fn from(a: Attachment) -> Self {
        wire::Attachment {
            network: a.network,
            network_id: a.network_id,
            aliases: a.aliases,
            ipv4: a.ipv4,
            ipv6: a.ipv6,
        }
    }
}

impl From<Isolation> for wire::Isolation {
    fn from(i: Isolation) -> Self {
        wire::Isolation {
            container_id: i.container_id,
            container_name: i.container_name,
            actions: i.actions.into_iter().map(Into::into).collect(),
            since: i.since,
            cause: i.cause,
            alert_id: i.alert_id,
            networks: i.networks.into_iter().map(Into::into).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_keep_their_names_on_the_wire() {
        for a in [
            IsolationAction::Pause,
            IsolationAction::Stop,
            IsolationAction::NetworkDisconnect,
        ] {
            let w: wire::IsolationAction = a.into();
            assert_eq!(
                serde_json::to_value(a).unwrap(),
                serde_json::to_value(w).unwrap()
            );
            assert_eq!(IsolationAction::from(w), a);
        }
    }
}
