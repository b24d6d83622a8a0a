//! Image archives: `docker save` tars (`manifest.json` naming each layer tar, or the OCI layout
//! that Docker 25+ writes inside the tar) and OCI image layout directories (`oci-layout`,
//! `index.json`, `blobs/sha256/…`). Layers may be plain or gzip tars; zstd layers are refused.
//!
//! A saved tar is read twice: once to index where each member's bytes are, then each layer is
//! read in place from that offset. Nothing is extracted. Digests are checked to be 64 hex
//! digits before they name a blob file, so a hostile index cannot name a path.

use std::collections::HashMap;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::layers::{ImageTree, Keep, LayerError, Limits, normalize};
use super::tar::TarReader;
use crate::error::Error;

/// Largest JSON document (manifest, index, config) read.
const MAX_JSON: u64 = 4 << 20;
/// Nested OCI indexes followed at most.
const MAX_INDEX_DEPTH: usize = 4;

/// Where an image's blobs are.
enum Blobs {
    /// A saved tar: member path → (offset of its content, size).
    Tar {
        file: std::fs::File,
        members: HashMap<String, (u64, u64)>,
    },
    Dir(PathBuf),
}

/// An image read from an archive.
#[derive(Debug)]
pub struct Loaded {
    pub tree: ImageTree,
    /// The first repo tag the archive names, when it names one.
    pub tag: Option<String>,
    pub layers: usize,
}

fn invalid(path: &Path, reason: impl Into<String>) -> Error {
    Error::Image {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

impl Blobs {
    fn open(&self, src: &Path, name: &str) -> Result<Option<Box<dyn Read + '_>>, Error> {
        match self {
            Blobs::Tar { file, members } => {
                let Some(&(offset, size)) = normalize(name).and_then(|n| members.get(&n)) else {
                    return Ok(None);
                };
                let mut f = file;
                f.seek(SeekFrom::Start(offset))
                    .map_err(|source| Error::Io {
                        path: src.to_owned(),
                        source,
                    })?;
                Ok(Some(Box::new(BufReader::with_capacity(
                    1 << 16,
                    f.take(size),
                ))))
            }
            Blobs::Dir(dir) => {
                let path = dir.join(name);
                match std::fs::File::open(&path) {
                    Ok(f) if f.metadata().is_ok_and(|m| m.is_file()) => {
                        Ok(Some(Box::new(BufReader::with_capacity(1 << 16, f))))
                    }
                    Ok(_) => Err(invalid(src, format!("{name} is not a regular file"))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(source) => Err(Error::Io { path, source }),
                }
            }
        }
    }

    fn json<T: serde::de::DeserializeOwned>(
        &self,
        src: &Path,
        name: &str,
    ) -> Result<Option<T>, Error> {
        let Some(r) = self.open(src, name)? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        r.take(MAX_JSON + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| Error::Io {
                path: src.join(name),
                source,
            })?;
        if bytes.len() as u64 > MAX_JSON {
            return Err(invalid(src, format!("{name} is over {MAX_JSON} bytes")));
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| invalid(src, format!("{name}: invalid JSON: {e}")))
    }
}

/// The blob path of an OCI digest (`sha256:<64 hex>` only).
fn blob_path(src: &Path, digest: &str) -> Result<String, Error> {
    match digest.split_once(':') {
        Some(("sha256", hex)) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(format!("blobs/sha256/{hex}"))
        }
        _ => Err(invalid(src, format!("unsupported digest {digest:?}"))),
    }
}

#[derive(Deserialize)]
struct DockerManifest {
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    platform: Option<Platform>,
    #[serde(default)]
    annotations: HashMap<String, String>,
}

#[derive(Deserialize)]
struct Platform {
    #[serde(default)]
    os: String,
}

#[derive(Deserialize)]
struct OciIndexOrManifest {
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

/// Loads the image in `src`: a `docker save` tar or an OCI layout directory.
pub fn load(src: &Path, limits: Limits, keep: Keep) -> Result<Loaded, Error> {
    let meta = std::fs::metadata(src).map_err(|source| Error::Io {
        path: src.to_owned(),
        source,
    })?;
    let blobs = if meta.is_dir() {
        Blobs::Dir(src.to_owned())
    } else {
        let file = std::fs::File::open(src).map_err(|source| Error::Io {
            path: src.to_owned(),
            source,
        })?;
        index_tar(src, file)?
    };
    load_blobs(src, &blobs, limits, keep)
}

/// Loads a `docker save` tar already open (e.g. an engine export); `src` names it in errors.
pub fn load_saved(
    src: &Path,
    file: std::fs::File,
    limits: Limits,
    keep: Keep,
) -> Result<Loaded, Error> {
    let blobs = index_tar(src, file)?;
    load_blobs(src, &blobs, limits, keep)
}

fn load_blobs(src: &Path, blobs: &Blobs, limits: Limits, keep: Keep) -> Result<Loaded, Error> {
    let mut tree = ImageTree::new(limits, keep);
    // docker save (before Docker 25): manifest.json lists layer tars in order.
    if let Some(manifests) = blobs.json::<Vec<DockerManifest>>(src, "manifest.json")? {
        let m = manifests
            .into_iter()
            .next()
            .ok_or_else(|| invalid(src, "manifest.json lists no image"))?;
        for l in &m.layers {
            apply(blobs, src, &mut tree, l, "")?;
        }
        return Ok(Loaded {
            tree,
            tag: m.repo_tags.and_then(|t| t.into_iter().next()),
            layers: m.layers.len(),
        });
    }
    let index: OciIndexOrManifest = blobs.json(src, "index.json")?.ok_or_else(|| {
        invalid(
            src,
            "neither manifest.json nor index.json: not an image archive",
        )
    })?;
    let mut tag = None;
    let mut current = index;
    for _ in 0..MAX_INDEX_DEPTH {
        if let Some(layers) = current.layers {
            for l in &layers {
                apply(
                    blobs,
                    src,
                    &mut tree,
                    &blob_path(src, &l.digest)?,
                    &l.media_type,
                )?;
            }
            return Ok(Loaded {
                tree,
                tag,
                layers: layers.len(),
            });
        }
        let manifests = current.manifests.unwrap_or_default();
        // The linux image of a multi-platform index (or the only one).
        let d = manifests
            .iter()
            .find(|d| d.platform.as_ref().is_none_or(|p| p.os == "linux"))
            .ok_or_else(|| invalid(src, "the index names no linux image manifest"))?;
        if tag.is_none() {
            tag = d
                .annotations
                .get("io.containerd.image.name")
                .or_else(|| d.annotations.get("org.opencontainers.image.ref.name"))
                .cloned();
        }
        let path = blob_path(src, &d.digest)?;
        current = blobs
            .json(src, &path)?
            .ok_or_else(|| invalid(src, format!("{path} is missing")))?;
    }
    Err(invalid(src, "OCI indexes nested too deep"))
}

/// Indexes the members of a saved tar.
fn index_tar(src: &Path, file: std::fs::File) -> Result<Blobs, Error> {
    let mut members = HashMap::new();
    let mut tar = TarReader::new(BufReader::with_capacity(1 << 16, &file));
    while let Some(h) = tar
        .next_header()
        .map_err(|e| invalid(src, format!("not a tar archive: {e}")))?
    {
        if members.len() >= 100_000 {
            return Err(invalid(src, "more than 100000 members"));
        }
        if let Some(name) = normalize(&h.path) {
            members.insert(name, (tar.offset(), h.size));
        }
    }
    Ok(Blobs::Tar { file, members })
}

/// Applies the layer blob `name` (plain or gzip tar) to the tree.
fn apply(
    blobs: &Blobs,
    src: &Path,
    tree: &mut ImageTree,
    name: &str,
    media_type: &str,
) -> Result<(), Error> {
    let layer_err = |source: LayerError| Error::ImageLayer {
        path: src.to_owned(),
        layer: name.to_owned(),
        source,
    };
    if media_type.contains("zstd") {
        return Err(invalid(
            src,
            format!("layer {name}: zstd layers are not supported"),
        ));
    }
    let mut r = blobs
        .open(src, name)?
        .ok_or_else(|| invalid(src, format!("layer {name} is missing")))?;
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < magic.len() {
        match r.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(Error::Io {
                    path: src.join(name),
                    source,
                });
            }
        }
    }
    let head = &magic[..n];
    let whole = head.chain(r);
    if head.starts_with(&[0x1f, 0x8b]) {
        tree.apply_layer(flate2::read::MultiGzDecoder::new(whole))
            .map_err(layer_err)
    } else if head == [0x28, 0xb5, 0x2f, 0xfd] {
        Err(invalid(
            src,
            format!("layer {name}: zstd layers are not supported"),
        ))
    } else {
        tree.apply_layer(whole).map_err(layer_err)
    }
}
