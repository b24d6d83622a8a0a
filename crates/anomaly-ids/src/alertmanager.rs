//! Alertmanager sink: POSTs `AnomalyScoreHigh` alerts to `/api/v2/alerts` from its own task, so scoring never
//! waits on the network. The queue is bounded; a full queue or a failed POST is counted, never retried forever.
//!
//! Posting goes through the shared client (`ironpost_core::http`): `http://` or `https://` (system roots;
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` for a private CA), keep-alive to Alertmanager, a deadline per POST and a
//! bounded answer.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ironpost_core::http::{ClientOptions, HttpClient, HttpError};
use ironpost_core::metrics::prometheus::IntCounterVec;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::warn;

/// Where alerts go: `http[s]://host[:port][/path]`, checked at config load; an empty path means
/// `/api/v2/alerts`.
pub use ironpost_core::http::HttpUrl as HttpTarget;

/// Alerts waiting to be posted.
pub const ALERTMANAGER_QUEUE_CAPACITY: usize = 1024;
/// Alerts per POST at most.
const MAX_BATCH: usize = 64;
/// Connect + request + response, per POST.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes of answer read at most (Alertmanager answers a POST with an empty or tiny body).
const MAX_RESPONSE: usize = 16 * 1024;

/// The client the posting task uses.
pub fn client() -> Result<HttpClient, HttpError> {
    HttpClient::new(ClientOptions {
        timeout: REQUEST_TIMEOUT,
        max_body: MAX_RESPONSE,
        extra_roots: Vec::new(),
    })
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

/// Alertmanager's webhook payload (version 4), the parts the daemon's notifier
/// (`POST /api/v1/notify`) reads. The body comes from the network: [`parse_webhook`] is its only
/// reader, and `fuzz/fuzz_targets/notify_body.rs` fuzzes it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct Webhook {
    #[serde(default)]
    pub alerts: Vec<WebhookAlert>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct WebhookAlert {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// A webhook body as Alertmanager POSTs it; fields the notifier does not read are ignored.
pub fn parse_webhook(body: &[u8]) -> Result<Webhook, serde_json::Error> {
    serde_json::from_slice(body)
}

/// POSTs `body` (JSON) and returns the status code.
pub async fn post_json(
    client: &HttpClient,
    target: &HttpTarget,
    body: Vec<u8>,
) -> Result<u16, HttpError> {
    client.post_json(target, body).await.map(|r| r.status)
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
        // Building fails only on a broken TLS setup; then every alert counts as failed (and the
        // queue still drains, so the scorer never waits).
        let client = client()
            .inspect_err(|e| {
                warn!(error = %ironpost_core::error_chain(e), "cannot build the Alertmanager client")
            })
            .ok();
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let n = batch.len() as u64;
            let body = serde_json::to_vec(&batch).unwrap_or_default();
            batch.clear();
            let Some(client) = &client else {
                posts.with_label_values(&["failed"]).inc_by(n);
                continue;
            };
            let outcome = match post_json(client, &target, body).await {
                Ok(200..=299) => "sent",
                Ok(code) => {
                    warn!(status = code, url = %target, "Alertmanager refused alerts");
                    "rejected"
                }
                Err(e) => {
                    warn!(error = %ironpost_core::error_chain(&e), "cannot post alerts to Alertmanager");
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
            ("http://am/x", Ok(("am", "/x"))),
            ("http://[::1]:9093", Ok(("[::1]:9093", "/api/v2/alerts"))),
            ("https://am:9093", Ok(("am:9093", "/api/v2/alerts"))),
            ("ftp://am:21", Err(())),
            ("http://", Err(())),
            ("http://u:p@am:1/", Err(())),
        ];
        for (url, want) in cases {
            let got = HttpTarget::parse(url, "/api/v2/alerts");
            match want {
                Ok((a, p)) => {
                    let t = got.unwrap_or_else(|e| panic!("{url}: {e}"));
                    assert_eq!((t.authority(), t.path()), (a, p), "{url}");
                }
                Err(()) => assert!(
                    matches!(got, Err(HttpError::InvalidUrl { .. })),
                    "{url}: {got:?}"
                ),
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
        let c = client().unwrap();
        assert_eq!(post_json(&c, &t, b"[1]".to_vec()).await.unwrap(), 202);
        let req = server.await.unwrap();
        assert!(req.starts_with("POST /api/v2/alerts HTTP/1.1\r\n"), "{req}");
        assert!(
            req.to_ascii_lowercase().contains("content-length: 3\r\n"),
            "{req}"
        );
    }

    #[tokio::test]
    async fn unreachable_alertmanager_is_an_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let t = HttpTarget::parse(&format!("http://{addr}"), "/").unwrap();
        let e = post_json(&client().unwrap(), &t, b"[]".to_vec())
            .await
            .expect_err("nothing listens");
        assert!(e.is_connect(), "{e:?}");
    }
}
