//! The control protocol's messages: one JSON request per line, one JSON answer per line, over the
//! daemon's Unix socket (mode 0600). The CLI sends them with [`crate::client::request`]; the daemon
//! answers through [`crate::server::serve`].
//!
//! Only this socket accepts commands that change state; the HTTP listener is read-only.
//!
//! Versioning: every request line carries `"protocol": N` ([`PROTOCOL_VERSION`]; absent means 1,
//! what clients before the field sent). Adding a command, an optional field or an answer variant
//! keeps the version; renaming or removing anything, or changing a field's meaning, bumps it. A
//! daemon answers a request of a newer protocol than its own with an error that names both
//! versions instead of guessing. `tests/compat.rs` replays the recorded version-1 lines.

use std::time::Duration;

use ironpost_core::net::Cidr;
use ironpost_core::{ActionEvent, AlertEvent, EventId, Health};
use serde::{Deserialize, Serialize};

use crate::wire::{Block, BlockView, EngineStats, Isolation, IsolationAction};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest request or response line accepted.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// How long the CLI waits for an answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);

/// One request line: the protocol version and the command.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// The sender's protocol version (absent: 1).
    #[serde(default = "first_version")]
    pub protocol: u32,
    #[serde(flatten)]
    pub request: Request,
}

fn first_version() -> u32 {
    1
}

impl Envelope {
    /// A request in this build's protocol version.
    pub fn new(request: Request) -> Self {
        Envelope {
            protocol: PROTOCOL_VERSION,
            request,
        }
    }
}

/// A command sent to the daemon.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    Status,
    /// Re-read the config file and apply what can change at run time.
    Reload,
    /// Feed an alert into the daemon's alert channel, as if a module had raised it.
    SubmitAlert {
        alert: Box<AlertEvent>,
    },
    /// Block a source address or network in XDP.
    BlockAdd {
        cidr: Cidr,
        /// None: until removed.
        #[serde(default)]
        ttl_secs: Option<u64>,
        #[serde(default)]
        reason: String,
    },
    BlockRemove {
        cidr: Cidr,
    },
    BlockList,
    /// XDP traffic counters.
    Stats,
    /// Containers the guard has isolated and not yet restored.
    IsolateList,
    /// Isolate a container now (whatever `auto_isolate` says).
    Isolate {
        container: String,
        action: IsolationAction,
    },
    /// Undo what the guard did to a container.
    Restore {
        container: String,
    },
}

/// How long the CLI waits for a container action: Docker calls with retries may take minutes.
pub const CONTAINER_ACTION_TIMEOUT: Duration = Duration::from_secs(300);

impl Request {
    /// How long the CLI waits for the answer to this request.
    pub fn client_timeout(&self) -> Duration {
        match self {
            Request::Isolate { .. } | Request::Restore { .. } => CONTAINER_ACTION_TIMEOUT,
            _ => CLIENT_TIMEOUT,
        }
    }
}

/// Status of one module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleStatus {
    pub name: String,
    pub health: Health,
}

/// Fill level of one bounded channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelStatus {
    pub name: String,
    pub capacity: usize,
    pub queued: usize,
}

/// Live state of the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub version: String,
    /// The daemon's protocol version (0: a daemon from before the field).
    #[serde(default)]
    pub protocol: u32,
    pub pid: u32,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub uptime_secs: u64,
    pub config: String,
    /// The address the HTTP listener actually bound.
    pub http_listen: String,
    pub storage: String,
    pub modules: Vec<ModuleStatus>,
    pub channels: Vec<ChannelStatus>,
}

/// The daemon's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Status(StatusReport),
    Reloaded {
        /// Keys whose new value took effect.
        applied: Vec<String>,
        /// Keys that changed but need a restart.
        restart_required: Vec<String>,
        /// Components that could not apply the new config (they keep the running one), e.g. a
        /// broken rule file.
        #[serde(default)]
        errors: Vec<String>,
    },
    Accepted {
        id: EventId,
    },
    Blocked {
        block: Block,
    },
    Unblocked {
        block: Option<Block>,
    },
    Blocks {
        blocks: Vec<BlockView>,
    },
    Stats {
        stats: EngineStats,
    },
    Isolations {
        isolations: Vec<Isolation>,
    },
    /// The action events of a manual container action (one per attempt).
    Actions {
        actions: Vec<ActionEvent>,
    },
    Error {
        message: String,
    },
}
