//! The one HTTP(S) client of Ironpost (feature `http-client`): the CLI's `metrics` GET and the IDS's
//! Alertmanager POST. hyper-util's pooled client over hyper-rustls (rustls with the `ring`
//! provider, HTTP/1.1), so `https://` works against the system's root certificates
//! (`SSL_CERT_FILE` / `SSL_CERT_DIR` select others) plus any roots the caller adds.
//!
//! Every answer is hostile: one deadline covers connect, request and the whole body, and the body
//! is read up to a limit, so a slow or endless peer is an error, never a hang or an unbounded buffer.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;

/// Longest URL accepted (a config value or a flag, not a crawler's input).
const MAX_URL_LEN: usize = 2048;

/// Why a URL was refused or a request failed. The URL in each variant is the one the caller gave.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("`{url}` is not a usable URL: {reason}")]
    InvalidUrl { url: String, reason: &'static str },
    #[error("cannot set up TLS")]
    Tls(#[source] rustls::Error),
    #[error("cannot connect to {url}")]
    Connect {
        url: String,
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    #[error("request to {url} failed")]
    Request {
        url: String,
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    #[error("cannot read the answer of {url}")]
    Body {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the answer of {url} is larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("{url} did not answer completely within {after:?}")]
    Timeout { url: String, after: Duration },
}

impl HttpError {
    /// Whether nothing answered at all (refused, unreachable, TLS handshake failed): for the CLI
    /// that means "the daemon is not running", not "the daemon misbehaved".
    pub fn is_connect(&self) -> bool {
        matches!(self, HttpError::Connect { .. })
    }
}

/// An `http://` or `https://` URL with a host, checked once so that requests cannot fail on it.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpUrl {
    uri: Uri,
}

impl fmt::Debug for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HttpUrl({})", self.uri)
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.uri.fmt(f)
    }
}

impl HttpUrl {
    /// Parses `http[s]://host[:port][/path[?query]]`; an empty path (or `/`) becomes
    /// `default_path`. Credentials in the URL are refused (they would end up in logs).
    pub fn parse(url: &str, default_path: &str) -> Result<HttpUrl, HttpError> {
        let bad = |reason| HttpError::InvalidUrl {
            url: url.chars().take(MAX_URL_LEN).collect(),
            reason,
        };
        if url.len() > MAX_URL_LEN {
            return Err(bad("longer than 2048 bytes"));
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it contains whitespace or control characters"));
        }
        let uri: Uri = url
            .parse()
            .map_err(|_| bad("expected http[s]://host[:port][/path]"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(bad("only http:// and https:// are supported"));
        }
        let Some(authority) = uri.authority() else {
            return Err(bad("expected http[s]://host[:port][/path]"));
        };
        if authority.as_str().contains('@') {
            return Err(bad("credentials in the URL are not supported"));
        }
        if authority.host().is_empty() {
            return Err(bad("the host is empty"));
        }
        let uri = match uri.path_and_query().map(|p| p.as_str()) {
            None | Some("" | "/") => Uri::builder()
                .scheme(uri.scheme_str().unwrap_or("http"))
                .authority(authority.clone())
                .path_and_query(default_path)
                .build()
                .map_err(|_| bad("the default path is not a valid path"))?,
            Some(_) => uri,
        };
        Ok(HttpUrl { uri })
    }

    /// `host:port` as written (the port only when given), for logs.
    pub fn authority(&self) -> &str {
        self.uri.authority().map_or("", |a| a.as_str())
    }

    /// The path and query sent in the request line.
    pub fn path(&self) -> &str {
        self.uri.path_and_query().map_or("/", |p| p.as_str())
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.uri.scheme_str() == Some("https")
    }
}

/// Limits and trust of a [`HttpClient`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Deadline for connect + request + the whole answer.
    pub timeout: Duration,
    /// Largest body read; a longer answer is [`HttpError::TooLarge`].
    pub max_body: usize,
    /// Roots trusted besides the system's (a private CA, a self-signed Alertmanager).
    pub extra_roots: Vec<CertificateDer<'static>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(10),
            max_body: 1024 * 1024,
            extra_roots: Vec::new(),
        }
    }
}

/// A status code and the body, read completely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Bytes,
}

/// Pooled HTTP/1.1 client for `http://` and `https://`; cheap to clone.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
    max_body: usize,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("timeout", &self.timeout)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// Builds the client. The system roots are read here once; a machine without any still gets
    /// a client (plain `http://` needs none, and `https://` then fails at the handshake).
    pub fn new(opts: ClientOptions) -> Result<HttpClient, HttpError> {
        let mut roots = rustls::RootCertStore::empty();
        // Unreadable or unparsable system certificates are skipped: the ones that load still work.
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        for cert in opts.extra_roots {
            roots.add(cert).map_err(HttpError::Tls)?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(HttpError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        // The https connector below decides the scheme; this one must accept https:// URIs too.
        http.enforce_http(false);
        http.set_connect_timeout(Some(opts.timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(2)
            .build(https);
        Ok(HttpClient {
            inner,
            timeout: opts.timeout,
            max_body: opts.max_body,
        })
    }

    /// `GET url`.
    pub async fn get(&self, url: &HttpUrl) -> Result<HttpResponse, HttpError> {
        self.send(url, Method::GET, None).await
    }

    /// `POST url` with a JSON body.
    pub async fn post_json(&self, url: &HttpUrl, body: Vec<u8>) -> Result<HttpResponse, HttpError> {
        self.send(url, Method::POST, Some(body)).await
    }

    async fn send(
        &self,
        url: &HttpUrl,
        method: Method,
        body: Option<Vec<u8>>,
    ) -> Result<HttpResponse, HttpError> {
        let name = || url.to_string();
        let mut req = Request::builder().method(method).uri(url.uri.clone());
        if body.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|_| HttpError::InvalidUrl {
                url: name(),
                reason: "not a valid request target",
            })?;
        let exchange = async {
            let resp = self.inner.request(req).await.map_err(|source| {
                if source.is_connect() {
                    HttpError::Connect {
                        url: name(),
                        source,
                    }
                } else {
                    HttpError::Request {
                        url: name(),
                        source,
                    }
                }
            })?;
            let status = resp.status().as_u16();
            // A declared length over the limit is refused before reading any of it.
            let declared = resp
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > self.max_body as u64) {
                return Err(HttpError::TooLarge {
                    url: name(),
                    limit: self.max_body,
                });
            }
            let body = Limited::new(resp.into_body(), self.max_body)
                .collect()
                .await
                .map_err(|source| {
                    if source.is::<LengthLimitError>() {
                        HttpError::TooLarge {
                            url: name(),
                            limit: self.max_body,
                        }
                    } else {
                        HttpError::Body {
                            url: name(),
                            source,
                        }
                    }
                })?
                .to_bytes();
            Ok(HttpResponse { status, body })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| HttpError::Timeout {
                url: name(),
                after: self.timeout,
            })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let ok = [
            (
                "http://127.0.0.1:9093",
                "127.0.0.1:9093",
                "/api/v2/alerts",
                false,
            ),
            (
                "http://127.0.0.1:9093/",
                "127.0.0.1:9093",
                "/api/v2/alerts",
                false,
            ),
            (
                "https://am.example:9443/x?y=1",
                "am.example:9443",
                "/x?y=1",
                true,
            ),
            ("http://am/api/v2/alerts", "am", "/api/v2/alerts", false),
            ("http://[::1]:9093", "[::1]:9093", "/api/v2/alerts", false),
        ];
        for (url, authority, path, tls) in ok {
            let u = HttpUrl::parse(url, "/api/v2/alerts").unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(
                (u.authority(), u.path(), u.is_https()),
                (authority, path, tls),
                "{url}"
            );
        }
        for url in [
            "ftp://am:21/",
            "http://",
            "http:///x",
            "http://u:p@am:1/",
            "http://am/a b",
            "am:9093",
            "",
            &format!("http://am/{}", "x".repeat(3000)),
        ] {
            let e = HttpUrl::parse(url, "/").expect_err(url);
            assert!(matches!(e, HttpError::InvalidUrl { .. }), "{url}: {e:?}");
        }
    }
}
