//! Container images as scan input: a `docker save` tar, an OCI image layout directory, or an
//! image of the local Docker engine (exported through its API, `engine.rs`). The layers are
//! applied in memory into an [`ImageTree`] (`layers.rs`, tar reading in `tar.rs`), which the
//! scanners walk like any other [`crate::tree::Tree`].

mod archive;
mod engine;
mod layers;
pub(crate) mod tar;

use std::path::Path;

pub use archive::{Loaded, load, load_saved};
pub use engine::{Engine, EngineImage, MAX_EXPORT, default_socket};
pub use layers::{BinaryRecord, ImageTree, Keep, LayerError, Limits, PathFilter};
pub use tar::TarError;

use crate::Inventory;
use crate::tree::Tree as _;

/// The inventory of a loaded image; `label` names it (its reference or archive path). What
/// applying the layers dropped is counted with the walk's skips.
///
/// The records of ELF executables ([`Keep::elf`]: Go build info, `cargo auditable`'s section,
/// `crate::binary`), read while the layers were applied, are each reported like a lockfile under
/// the executable's path in the image.
pub fn inventory(loaded: &Loaded, label: &Path) -> Inventory {
    let mut inv = crate::inventory_tree(&loaded.tree, label, &["proc", "sys", "dev"]);
    inv.skipped_entries.merge(&loaded.tree.dropped);
    let mut added = false;
    for (rel, record) in loaded.tree.binaries() {
        let shown = loaded.tree.display(Path::new(rel));
        let parsed = match record {
            Ok(b) => {
                added = true;
                Ok(crate::lockfile::Parsed {
                    packages: b.packages.clone(),
                    skipped: b.skipped.clone(),
                })
            }
            Err(e) => Err(copy_error(e)),
        };
        crate::add_report(&mut inv, shown, parsed);
    }
    if added {
        crate::sort_packages(&mut inv);
    }
    inv
}

/// How the daemon loads an image it scans (running containers' images, `scan_images`): the
/// records of ELF executables too, each read whole up to 128 MiB (a larger one is skipped and
/// counted), so a scan's transient memory is bounded by one such executable.
pub(crate) fn daemon_load_options() -> (Limits, Keep) {
    let limits = Limits {
        binary_bytes: 128 << 20,
        ..Limits::default()
    };
    let keep = Keep {
        elf: true,
        paths: None,
    };
    (limits, keep)
}

/// An owned copy of a binary record's error for the report (the tree keeps its own): the
/// variants `crate::binary` returns are copied field by field; a JSON error keeps its message.
fn copy_error(e: &crate::Error) -> crate::Error {
    use crate::Error;
    match e {
        Error::Invalid { path, line, reason } => Error::Invalid {
            path: path.clone(),
            line: *line,
            reason: reason.clone(),
        },
        Error::TooLarge { path, size, limit } => Error::TooLarge {
            path: path.clone(),
            size: *size,
            limit: *limit,
        },
        Error::Json { path, line, source } => Error::Invalid {
            path: path.clone(),
            line: *line,
            reason: format!("invalid JSON: {source}"),
        },
        other => Error::Invalid {
            path: other.path().to_owned(),
            line: None,
            reason: other.to_string(),
        },
    }
}

/// For the fuzz target: applies `data` as a sequence of layers (split at `\0LAYER\0`
/// markers) and walks the result the way a scan does.
#[doc(hidden)]
pub fn fuzz_layers(data: &[u8]) -> usize {
    let limits = Limits {
        file_bytes: 1 << 16,
        total_kept_bytes: 1 << 20,
        layer_bytes: 1 << 24,
        entries: 10_000,
        layers: 8,
        binary_bytes: 1 << 16,
    };
    let keep = Keep {
        elf: true,
        paths: None,
    };
    let mut tree = ImageTree::new(limits, keep);
    let marker: &[u8] = b"\0LAYER\0";
    let mut rest = data;
    loop {
        let (layer, next) = match memchr::memmem::find(rest, marker) {
            Some(i) => (&rest[..i], Some(&rest[i + marker.len()..])),
            None => (rest, None),
        };
        if tree.apply_layer(layer).is_err() {
            break;
        }
        match next {
            Some(n) => rest = n,
            None => break,
        }
    }
    let loaded = Loaded {
        tree,
        tag: None,
        layers: 0,
    };
    inventory(&loaded, Path::new("fuzz")).packages.len()
}
