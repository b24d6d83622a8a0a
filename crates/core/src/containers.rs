//! What the rest of Ironpost may ask of whoever knows the host's containers (the container guard),
//! without depending on it: the container an alert concerns, and the running containers' root
//! filesystems. The SBOM scanner's container enrichment (`ironpost_sbom_scanner::containers`) is
//! written against this trait; the daemon hands it the guard.

use std::path::PathBuf;

use crate::event::AlertEvent;
use crate::module::BoxFuture;

/// A container the directory knows, by its full Docker id and its name (unlike an alert's
/// `ContainerRef`, both are always known).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KnownContainer {
    pub id: String,
    pub name: String,
}

/// Why the running containers could not be listed (Docker unreachable, say).
#[derive(Debug, thiserror::Error)]
#[error("cannot list the running containers")]
pub struct DirectoryError {
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync + 'static>,
}

/// The host's containers, as one component sees them.
pub trait ContainerDirectory: Send + Sync + 'static {
    /// The container `alert` concerns: the one acting (named by the alert, or holding its source
    /// address), else the one attacked (its destination). None: no container is involved.
    fn container_of(&self, alert: &AlertEvent) -> Option<KnownContainer>;

    /// Running containers with their root filesystem as the host sees it
    /// (`/proc/<init pid>/root`).
    fn running_roots(
        &self,
    ) -> BoxFuture<'_, Result<Vec<(KnownContainer, PathBuf)>, DirectoryError>>;
}
