//! The guard as a [`ContainerDirectory`]: other modules (the SBOM scanner's container enrichment)
//! ask it which container an alert concerns and where running containers' files are, without
//! linking the guard.

use std::path::PathBuf;

use ironpost_core::containers::{ContainerDirectory, DirectoryError, KnownContainer};
use ironpost_core::{AlertEvent, BoxFuture};

use crate::GuardHandle;
use crate::target::{NoTarget, actor, destination};

impl ContainerDirectory for GuardHandle {
    fn container_of(&self, alert: &AlertEvent) -> Option<KnownContainer> {
        let (inventory, host) = (self.containers(), self.host_ips());
        // Both sides count for enrichment (raising a severity isolates nothing by itself): a
        // container acting is likely compromised, one attacked likely to be. Which container the
        // guard may then act on is still decided by each policy's `link`.
        let found = match actor(alert, &inventory) {
            Err(NoTarget::Unrelated) => destination(alert, &inventory, &host),
            other => other,
        };
        found.ok().map(|(c, _)| KnownContainer {
            id: c.id.clone(),
            name: c.name.clone(),
        })
    }

    fn running_roots(
        &self,
    ) -> BoxFuture<'_, Result<Vec<(KnownContainer, PathBuf)>, DirectoryError>> {
        Box::pin(async move {
            let roots = GuardHandle::running_roots(self)
                .await
                .map_err(|e| DirectoryError {
                    source: Box::new(e),
                })?;
            Ok(roots
                .into_iter()
                .map(|(c, root)| {
                    (
                        KnownContainer {
                            id: c.id,
                            name: c.name,
                        },
                        root,
                    )
                })
                .collect())
        })
    }
}
