//! The local Docker engine's image API over its unix socket: `GET /version` (the API version to
//! speak), `GET /images/json` (the images) and `GET /images/{name}/get` (an image exported as a
//! `docker save` tar, streamed into an unnamed temporary file).
//!
//! A small blocking HTTP/1.1 client of its own: the CLI links this crate and must not link a
//! module runtime (bollard, tokio's network stack); the daemon calls it from a blocking task.
//! Responses are bounded: headers 64 KiB, JSON bodies 16 MiB, an export [`MAX_EXPORT`] bytes.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::Error;

/// Largest image export accepted.
pub const MAX_EXPORT: u64 = 32 << 30;
const MAX_HEADERS: usize = 64 << 10;
const MAX_JSON: u64 = 16 << 20;
/// No answer for this long (between two reads) fails the request.
const TIMEOUT: Duration = Duration::from_secs(300);

/// The Docker socket: `DOCKER_HOST` when it is `unix://…`, else `/var/run/docker.sock`.
pub fn default_socket() -> PathBuf {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
}

/// An image the engine holds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EngineImage {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
}

/// A connection-per-request client of the engine at `socket`.
#[derive(Debug, Clone)]
pub struct Engine {
    socket: PathBuf,
    /// `/v1.NN` once negotiated.
    prefix: String,
}

fn engine_err(socket: &Path, reason: impl Into<String>) -> Error {
    Error::Engine {
        socket: socket.to_owned(),
        reason: reason.into(),
    }
}

/// Percent-encodes an image reference for a URL path (`/`, `:` and `@` kept: the engine routes
/// `/images/{name:.*}/get`).
fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A response whose headers are read; the body follows in `reader`.
struct Response {
    status: u16,
    chunked: bool,
    length: Option<u64>,
    reader: BufReader<UnixStream>,
}

impl Engine {
    /// Connects once to learn the engine's API version (the highest it speaks).
    pub fn connect(socket: &Path) -> Result<Engine, Error> {
        let mut e = Engine {
            socket: socket.to_owned(),
            prefix: String::new(),
        };
        #[derive(Deserialize)]
        struct Version {
            #[serde(rename = "ApiVersion")]
            api_version: String,
        }
        let v: Version = e.get_json("/version")?;
        if !v
            .api_version
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.')
        {
            return Err(engine_err(
                socket,
                format!("odd API version {:?}", v.api_version),
            ));
        }
        e.prefix = format!("/v{}", v.api_version);
        Ok(e)
    }

    fn request(&self, path: &str) -> Result<Response, Error> {
        let io = |e: std::io::Error| engine_err(&self.socket, e.to_string());
        let mut s = UnixStream::connect(&self.socket).map_err(io)?;
        s.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
        s.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
        write!(
            s,
            "GET {}{path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: ironpost\r\nConnection: close\r\n\r\n",
            self.prefix
        )
        .map_err(io)?;
        let mut reader = BufReader::with_capacity(1 << 16, s);
        let mut head = Vec::new();
        loop {
            let before = head.len();
            let n = (&mut reader)
                .take((MAX_HEADERS - head.len()) as u64 + 1)
                .read_until(b'\n', &mut head)
                .map_err(io)?;
            if n == 0 {
                return Err(engine_err(
                    &self.socket,
                    "connection closed before the headers ended",
                ));
            }
            if head.len() > MAX_HEADERS {
                return Err(engine_err(&self.socket, "response headers too large"));
            }
            if &head[before..] == b"\r\n" || &head[before..] == b"\n" {
                break;
            }
        }
        let head = String::from_utf8_lossy(&head);
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| engine_err(&self.socket, "not an HTTP response"))?;
        let (mut chunked, mut length) = (false, None);
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                    chunked = true;
                } else if k == "content-length" {
                    length = v.parse().ok();
                }
            }
        }
        Ok(Response {
            status,
            chunked,
            length,
            reader,
        })
    }

    /// Copies a response body (at most `limit` bytes) into `out`.
    fn body(&self, r: Response, limit: u64, out: &mut impl Write) -> Result<u64, Error> {
        let io = |e: std::io::Error| engine_err(&self.socket, e.to_string());
        let mut reader = r.reader;
        let mut total: u64 = 0;
        let over = || engine_err(&self.socket, format!("response over {limit} bytes"));
        if !r.chunked {
            let n = std::io::copy(
                &mut (&mut reader).take(r.length.unwrap_or(limit + 1).min(limit + 1)),
                out,
            )
            .map_err(io)?;
            if n > limit {
                return Err(over());
            }
            return Ok(n);
        }
        loop {
            let mut line = Vec::new();
            (&mut reader)
                .take(64)
                .read_until(b'\n', &mut line)
                .map_err(io)?;
            let text = String::from_utf8_lossy(&line);
            let size = text.trim().split(';').next().unwrap_or("");
            let size = u64::from_str_radix(size, 16)
                .map_err(|_| engine_err(&self.socket, "bad chunk size"))?;
            if size == 0 {
                return Ok(total);
            }
            total = total.saturating_add(size);
            if total > limit {
                return Err(over());
            }
            let n = std::io::copy(&mut (&mut reader).take(size), out).map_err(io)?;
            if n < size {
                return Err(engine_err(&self.socket, "connection closed mid-chunk"));
            }
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf).map_err(io)?;
        }
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let r = self.request(path)?;
        let status = r.status;
        let mut body = Vec::new();
        self.body(r, MAX_JSON, &mut body)?;
        if status != 200 {
            return Err(self.status_error(path, status, &body));
        }
        serde_json::from_slice(&body)
            .map_err(|e| engine_err(&self.socket, format!("GET {path}: invalid JSON: {e}")))
    }

    fn status_error(&self, path: &str, status: u16, body: &[u8]) -> Error {
        #[derive(Deserialize)]
        struct Msg {
            message: String,
        }
        let msg = serde_json::from_slice::<Msg>(body)
            .map(|m| m.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
        engine_err(&self.socket, format!("GET {path}: HTTP {status}: {msg}"))
    }

    /// The image id (`sha256:…`) a container was created from.
    pub fn container_image(&self, container: &str) -> Result<String, Error> {
        #[derive(Deserialize)]
        struct Inspect {
            #[serde(rename = "Image")]
            image: String,
        }
        let i: Inspect = self.get_json(&format!("/containers/{}/json", encode(container)))?;
        Ok(i.image)
    }

    /// The engine's images (tagged or not).
    pub fn images(&self) -> Result<Vec<EngineImage>, Error> {
        self.get_json("/images/json")
    }

    /// Exports `image` (name[:tag] or id) as a `docker save` tar into an unnamed temporary file
    /// under `tmp_dir` (removed when the file is closed), rewound to its start.
    pub fn export(&self, image: &str, tmp_dir: &Path) -> Result<std::fs::File, Error> {
        let path = format!("/images/{}/get", encode(image));
        let r = self.request(&path)?;
        if r.status != 200 {
            let status = r.status;
            let mut body = Vec::new();
            self.body(r, 64 << 10, &mut body)?;
            return Err(self.status_error(&path, status, &body));
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
            .open(tmp_dir)
            .map_err(|source| Error::Io {
                path: tmp_dir.to_owned(),
                source,
            })?;
        {
            let mut w = std::io::BufWriter::with_capacity(1 << 16, &mut file);
            self.body(r, MAX_EXPORT, &mut w)?;
            w.flush().map_err(|source| Error::Io {
                path: tmp_dir.to_owned(),
                source,
            })?;
        }
        std::io::Seek::rewind(&mut file).map_err(|source| Error::Io {
            path: tmp_dir.to_owned(),
            source,
        })?;
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_encoded_for_the_path() {
        assert_eq!(encode("library/alpine:3.19"), "library/alpine:3.19");
        assert_eq!(encode("sha256:ab"), "sha256:ab");
        assert_eq!(encode("a b?#"), "a%20b%3F%23");
    }
}
