//! Alertmanager sink: POSTs `AnomalyScoreHigh` alerts to `/api/v2/alerts` from its own task, so scoring never
//! waits on the network. The queue is bounded; a full queue or a failed POST is counted, never retried forever.
//!
//! The HTTP client is a minimal HTTP/1.1 one over a tokio `TcpStream` (one request per connection, plain
//! `http://` only): Alertmanager on loopback or a private network is the only peer.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ironpost_core::metrics::prometheus::IntCounterVec;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::warn;

/// Alerts waiting to be posted.
pub const ALERTMANAGER_QUEUE_CAPACITY: usize = 1024;
/// Alerts per POST at most.
const MAX_BATCH: usize = 64;
/// Connect + request + response, per POST.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes of response read at most (status line and headers are all we need).
const MAX_RESPONSE: usize = 16 * 1024;

/// `http://host:port/path` split for a raw request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    /// `host:port` to connect to and send as `Host`.
    pub authority: String,
    pub path: String,
}

impl HttpTarget {
    /// Parses a plain `http://` URL; an empty path (or `/`) becomes `default_path`.
    pub fn parse(url: &str, default_path: &str) -> Result<HttpTarget, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("`{url}`: only http:// URLs are supported"))?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if host.is_empty() || host.contains('@') || host.chars().any(char::is_whitespace) {
            return Err(format!("`{url}`: expected http://host:port[/path]"));
        }
        let authority = if host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            && !host.ends_with(']')
        {
            host.to_owned()
        } else {
            format!("{host}:80")
        };
        let path = if path.is_empty() || path == "/" {
            default_path.to_owned()
        } else {
            path.to_owned()
        };
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("`{url}`: the path contains whitespace"));
        }
        Ok(HttpTarget { authority, path })
    }
}

/// One alert in Alertmanager's v2 API shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AmAlert {
    pub labels: AmLabels,
    pub annotations: AmAnnotations,
    pub starts_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AmLabels {
    pub alertname: &'static str,
    pub src: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AmAnnotations {
    /// `score=0.91`
    pub summary: String,
    /// `rate=12.5, uniq_dports=8`
    pub detail: String,
}

impl AmAlert {
    /// The seed's payload: labels alertname=AnomalyScoreHigh and src, annotations summary and detail.
    pub fn anomaly(src: IpAddr, score: f32, conn_rate: f32, uniq_dports: u32) -> AmAlert {
        AmAlert {
            labels: AmLabels {
                alertname: "AnomalyScoreHigh",
                src: src.to_string(),
            },
            annotations: AmAnnotations {
                summary: format!("score={score:.2}"),
                detail: format!("rate={conn_rate}, uniq_dports={uniq_dports}"),
            },
            starts_at: Utc::now(),
        }
    }
}

/// POSTs `body` (JSON) and returns the status code.
pub async fn post_json(target: &HttpTarget, body: &[u8]) -> std::io::Result<u16> {
    tokio::time::timeout(REQUEST_TIMEOUT, async {
        let mut s = TcpStream::connect(&target.authority).await?;
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            target.path,
            target.authority,
            body.len()
        );
        s.write_all(head.as_bytes()).await?;
        s.write_all(body).await?;
        let mut buf = Vec::with_capacity(512);
        let mut chunk = [0u8; 1024];
        // The status line is enough; stop once it is complete or the peer closes.
        while !buf.contains(&b'\n') && buf.len() < MAX_RESPONSE {
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let line = String::from_utf8_lossy(&buf);
        line.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {:.80}", line)))
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "HTTP request timed out"))?
}

/// The sending half given to the scorer: never blocks.
#[derive(Debug, Clone)]
pub struct AlertmanagerSink {
    tx: mpsc::Sender<AmAlert>,
    posts: IntCounterVec,
}

impl AlertmanagerSink {
    /// Queues an alert; a full queue counts `outcome="dropped"`.
    pub fn send(&self, alert: AmAlert) {
        if self.tx.try_send(alert).is_err() {
            self.posts.with_label_values(&["dropped"]).inc();
        }
    }
}

/// Starts the posting task. `posts` counts alerts by outcome (`sent`, `rejected`, `failed`, `dropped`).
/// The task ends when every sink is dropped, after posting what is queued.
pub fn spawn(
    target: HttpTarget,
    posts: IntCounterVec,
) -> (AlertmanagerSink, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<AmAlert>(ALERTMANAGER_QUEUE_CAPACITY);
    let sink = AlertmanagerSink {
        tx,
        posts: posts.clone(),
    };
    let task = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let n = batch.len() as u64;
            let body = serde_json::to_vec(&batch).unwrap_or_default();
            batch.clear();
            let outcome = match post_json(&target, &body).await {
                Ok(200..=299) => "sent",
                Ok(code) => {
                    warn!(status = code, url = %target.authority, "Alertmanager refused alerts");
                    "rejected"
                }
                Err(e) => {
                    warn!(error = %e, url = %target.authority, "cannot post alerts to Alertmanager");
                    "failed"
                }
            };
            posts.with_label_values(&[outcome]).inc_by(n);
        }
    });
    (sink, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let cases = [
            (
                "http://127.0.0.1:9093",
                Ok(("127.0.0.1:9093", "/api/v2/alerts")),
            ),
            (
                "http://127.0.0.1:9093/",
                Ok(("127.0.0.1:9093", "/api/v2/alerts")),
            ),
            (
                "http://alertmanager:9093/api/v2/alerts",
                Ok(("alertmanager:9093", "/api/v2/alerts")),
            ),
            ("http://am/x", Ok(("am:80", "/x"))),
            ("http://[::1]:9093", Ok(("[::1]:9093", "/api/v2/alerts"))),
            ("https://am:9093", Err(())),
            ("http://", Err(())),
            ("http://u:p@am:1/", Err(())),
        ];
        for (url, want) in cases {
            let got = HttpTarget::parse(url, "/api/v2/alerts");
            match want {
                Ok((a, p)) => {
                    let t = got.unwrap_or_else(|e| panic!("{url}: {e}"));
                    assert_eq!((t.authority.as_str(), t.path.as_str()), (a, p), "{url}");
                }
                Err(()) => assert!(got.is_err(), "{url}: {got:?}"),
            }
        }
    }

    #[test]
    fn payload_is_the_seeds() {
        let a = AmAlert::anomaly("10.0.0.5".parse().unwrap(), 0.912, 12.5, 8);
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["labels"]["alertname"], "AnomalyScoreHigh");
        assert_eq!(v["labels"]["src"], "10.0.0.5");
        assert_eq!(v["annotations"]["summary"], "score=0.91");
        assert_eq!(v["annotations"]["detail"], "rate=12.5, uniq_dports=8");
        assert!(v["startsAt"].is_string());
    }

    #[tokio::test]
    async fn post_reads_the_status_and_sends_the_body() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                req.extend_from_slice(&buf[..n]);
                if n == 0 || req.ends_with(b"[1]") {
                    break;
                }
            }
            s.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8(req).unwrap()
        });
        let t = HttpTarget::parse(&format!("http://{addr}"), "/api/v2/alerts").unwrap();
        assert_eq!(post_json(&t, b"[1]").await.unwrap(), 202);
        let req = server.await.unwrap();
        assert!(req.starts_with("POST /api/v2/alerts HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("Content-Length: 3\r\n"), "{req}");
    }

    #[tokio::test]
    async fn unreachable_alertmanager_is_an_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let t = HttpTarget::parse(&format!("http://{addr}"), "/").unwrap();
        assert!(post_json(&t, b"[]").await.is_err());
    }
}
