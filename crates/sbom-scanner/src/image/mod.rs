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
pub use layers::{ImageTree, Keep, LayerError, Limits, PathFilter};
pub use tar::TarError;

use crate::Inventory;
use crate::tree::Tree as _;

/// The inventory of a loaded image; `label` names it (its reference or archive path). What
/// applying the layers dropped is counted with the walk's skips.
///
/// Executables kept because they are ELF ([`Keep::elf`]) are inventoried from the records built
/// into them (Go build info, `cargo auditable`'s section: `crate::binary`), each reported like a
/// lockfile under its path in the image.
pub fn inventory(loaded: &Loaded, label: &Path) -> Inventory {
    let mut inv = crate::inventory_tree(&loaded.tree, label, &["proc", "sys", "dev"]);
    inv.skipped_entries.merge(&loaded.tree.dropped);
    let mut binaries: Vec<(&str, &std::sync::Arc<[u8]>)> = loaded.tree.elf_files().collect();
    binaries.sort_by_key(|(path, _)| *path);
    let mut added = false;
    for (rel, bytes) in binaries {
        let shown = loaded.tree.display(Path::new(rel));
        match crate::binary::packages_from_elf(&shown, bytes) {
            Ok(None) => {}
            Ok(Some(b)) => {
                added = true;
                crate::add_report(
                    &mut inv,
                    shown,
                    Ok(crate::lockfile::Parsed {
                        packages: b.packages,
                        skipped: b.skipped,
                    }),
                );
            }
            Err(e) => crate::add_report(&mut inv, shown, Err(e)),
        }
    }
    if added {
        crate::sort_packages(&mut inv);
    }
    inv
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
