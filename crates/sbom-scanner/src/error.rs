//! The crate's one error type: every variant names the file it is about, and the line where the
//! format tells us one.

use std::fmt;
use std::path::PathBuf;

/// Largest lockfile read, in bytes.
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// Most packages one inventory (and so one lockfile) may hold.
pub const MAX_PACKAGES: usize = 50_000;

/// Why a lockfile (or a scan directory) could not be inventoried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is {size} bytes, over the {limit}-byte lockfile limit", path.display())]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{} takes the inventory over the {limit}-package limit", path.display())]
    TooManyPackages { path: PathBuf, limit: usize },
    #[error("{} is not a lockfile name this scanner knows", path.display())]
    UnknownFormat { path: PathBuf },
    #[error("{} is not UTF-8", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("{}{}: invalid JSON", path.display(), Line(*line))]
    Json {
        path: PathBuf,
        line: Option<usize>,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}{}: invalid TOML", path.display(), Line(*line))]
    Toml {
        path: PathBuf,
        line: Option<usize>,
        /// Boxed: the TOML error is large and errors travel in every `Result`.
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("{}{}: invalid YAML", path.display(), Line(*line))]
    Yaml {
        path: PathBuf,
        line: Option<usize>,
        #[source]
        source: yaml_serde::Error,
    },
    /// An image archive or layout that is not one this scanner reads.
    #[error("image {}: {reason}", path.display())]
    Image { path: PathBuf, reason: String },
    #[error("image {}: layer {layer}", path.display())]
    ImageLayer {
        path: PathBuf,
        layer: String,
        #[source]
        source: crate::image::LayerError,
    },
    /// The Docker engine did not give what was asked.
    #[error("Docker engine at {}: {reason}", socket.display())]
    Engine { socket: PathBuf, reason: String },
    /// The file parses but does not have the shape of its format.
    #[error("{}{}: {reason}", path.display(), Line(*line))]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        reason: String,
    },
}

impl Error {
    /// The file (or directory) the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Error::Io { path, .. }
            | Error::TooLarge { path, .. }
            | Error::TooManyPackages { path, .. }
            | Error::UnknownFormat { path }
            | Error::NotUtf8 { path }
            | Error::Json { path, .. }
            | Error::Toml { path, .. }
            | Error::Yaml { path, .. }
            | Error::Invalid { path, .. }
            | Error::Image { path, .. }
            | Error::ImageLayer { path, .. } => path,
            Error::Engine { socket, .. } => socket,
        }
    }

    /// The 1-based line the error is at, where known.
    pub fn line(&self) -> Option<usize> {
        match self {
            Error::Json { line, .. }
            | Error::Toml { line, .. }
            | Error::Yaml { line, .. }
            | Error::Invalid { line, .. } => *line,
            _ => None,
        }
    }
}

/// Formats `:LINE` when a line is known, nothing otherwise.
struct Line(Option<usize>);

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, ":{n}"),
            None => Ok(()),
        }
    }
}
