//! Finds lockfiles in a [`Tree`] by file name.
//!
//! Skips `node_modules`, `target` and `.git` (installed or built copies, not the project's own
//! lockfiles) and never descends through a directory symlink, so a symlink loop cannot trap the
//! walk. A symlink named like a lockfile is kept (the tree resolves it inside its root when it is
//! read); a FIFO, socket or device named like one is counted as skipped and never opened.
//! Output order is deterministic: directories are read sorted by name. `go.sum` is left out where a
//! `go.mod` sits beside it: the `go.mod` require list is the authoritative one.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::lockfile::Format;
use crate::tree::{Kind, SkipCounts, SkipReason, Tree};

const SKIP_DIRS: [&str; 3] = ["node_modules", "target", ".git"];

/// Lockfiles under `start` in `tree` (paths relative to the tree's root), with the directories
/// that could not be read. Top-level directories named in `skip_top` are not walked.
pub(crate) fn discover(
    tree: &dyn Tree,
    start: &Path,
    skip_top: &[&str],
    skips: &mut SkipCounts,
) -> (Vec<PathBuf>, Vec<Error>) {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    let mut stack = vec![start.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries = match tree.read_dir(&dir) {
            Ok(e) => e,
            Err(source) => {
                errors.push(Error::Io {
                    path: tree.display(&dir),
                    source,
                });
                continue;
            }
        };
        let top = dir.as_os_str().is_empty();
        let mut files = Vec::new();
        let mut subdirs = Vec::new();
        for entry in entries {
            let path = dir.join(&entry.name);
            match entry.kind {
                Kind::Dir => {
                    let skip = SKIP_DIRS.contains(&entry.name.as_str())
                        || (top && skip_top.contains(&entry.name.as_str()));
                    if !skip {
                        subdirs.push(path);
                    }
                }
                Kind::File | Kind::Symlink if Format::from_path(&path).is_some() => {
                    files.push(path);
                }
                Kind::Other if Format::from_path(&path).is_some() => {
                    skips.add(SkipReason::NotRegular);
                }
                _ => {}
            }
        }
        files.sort();
        let has_go_mod = files
            .iter()
            .any(|f| Format::from_path(f) == Some(Format::GoMod));
        found.extend(
            files
                .into_iter()
                .filter(|f| !(has_go_mod && Format::from_path(f) == Some(Format::GoSum))),
        );
        subdirs.sort();
        // Reverse so that the stack pops them in name order.
        stack.extend(subdirs.into_iter().rev());
    }
    (found, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_sorted_skipping_vendored_dirs_and_symlink_loops() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for d in ["b", "a/node_modules/x", "a/target", "a/.git", "c", "g"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in [
            "b/Cargo.lock",
            "a/package-lock.json",
            "a/yarn.lock",
            "a/node_modules/x/package-lock.json",
            "a/target/Cargo.lock",
            "a/.git/Cargo.lock",
            "c/notes.txt",
            "g/go.mod",
            "g/go.sum",
        ] {
            std::fs::write(root.join(f), "").unwrap();
        }
        std::os::unix::fs::symlink(root, root.join("c/loop")).unwrap();
        let tree = crate::tree::HostTree::open(root).unwrap();
        let mut skips = SkipCounts::default();
        let (found, errors) = discover(&tree, Path::new(""), &[], &mut skips);
        assert!(errors.is_empty(), "{errors:?}");
        let rel: Vec<_> = found
            .iter()
            .map(|p| p.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            rel,
            [
                "a/package-lock.json",
                "a/yarn.lock",
                "b/Cargo.lock",
                "g/go.mod"
            ]
        );
        let (found, _) = discover(&tree, Path::new(""), &["a", "g"], &mut skips);
        assert_eq!(found, [PathBuf::from("b/Cargo.lock")]);
        let (_, errors) = discover(&tree, Path::new("missing"), &[], &mut skips);
        assert_eq!(errors.len(), 1);
        assert_eq!(skips.total(), 0);
    }
}
