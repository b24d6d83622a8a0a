//! Finds lockfiles under the scan directories by file name.
//!
//! Skips `node_modules`, `target` and `.git` (installed or built copies, not the project's own
//! lockfiles) and never follows a directory symlink, so a symlink loop cannot trap the walk.
//! Output order is deterministic: directories are read sorted by name. `go.sum` is left out where a
//! `go.mod` sits beside it: the `go.mod` require list is the authoritative one.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::lockfile::Format;

const SKIP_DIRS: [&str; 3] = ["node_modules", "target", ".git"];

/// Lockfiles under `root` (or `root` itself when it is one), with the directories that could not
/// be read.
pub(crate) fn discover(root: &Path) -> Result<(Vec<PathBuf>, Vec<Error>), Error> {
    let meta = std::fs::metadata(root).map_err(|source| Error::Io {
        path: root.to_owned(),
        source,
    })?;
    if meta.is_file() {
        return Ok((
            Format::from_path(root)
                .map(|_| root.to_owned())
                .into_iter()
                .collect(),
            Vec::new(),
        ));
    }
    let mut found = Vec::new();
    let mut errors = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir).and_then(|rd| rd.collect::<Result<Vec<_>, _>>())
        {
            Ok(e) => e,
            Err(source) => {
                errors.push(Error::Io { path: dir, source });
                continue;
            }
        };
        let mut files = Vec::new();
        let mut subdirs = Vec::new();
        for entry in entries {
            let Ok(ft) = entry.file_type() else { continue };
            let path = entry.path();
            if ft.is_dir() {
                let skip = entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| SKIP_DIRS.contains(&n));
                if !skip {
                    subdirs.push(path);
                }
            } else if (ft.is_file() || (ft.is_symlink() && path.is_file()))
                && Format::from_path(&path).is_some()
            {
                files.push(path);
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
    Ok((found, errors))
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
        let (found, errors) = discover(root).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        let rel: Vec<_> = found
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().to_str().unwrap().to_owned())
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
        assert!(discover(&root.join("missing")).is_err());
        let (single, _) = discover(&root.join("b/Cargo.lock")).unwrap();
        assert_eq!(single, [root.join("b/Cargo.lock")]);
    }
}
