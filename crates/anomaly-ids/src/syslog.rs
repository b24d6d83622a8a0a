//! Syslog sink: each IDS alert as one RFC 5424 message over TCP to a collector (rsyslog `imtcp`, a SIEM),
//! framed by octet counting (RFC 6587) or LF. Its own task keeps the connection and reconnects with a backoff;
//! the queue is bounded and what cannot be sent is counted.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::SecondsFormat;
use ironpost_core::metrics::prometheus::IntCounterVec;
use ironpost_core::{AlertEvent, Severity};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::warn;

use crate::config::SyslogFraming;

/// Alerts waiting to be forwarded.
pub const SYSLOG_QUEUE_CAPACITY: usize = 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RECONNECT_BACKOFF: Duration = Duration::from_millis(500);
/// Private enterprise number reserved for documentation (RFC 5612), for our structured data id.
const SD_ID: &str = "ironpost@32473";

/// Facility 4 (security/authorization) and the alert's severity.
fn pri(severity: Severity) -> u8 {
    let sev = match severity {
        Severity::Critical => 2,
        Severity::High => 3,
        Severity::Medium => 4,
        Severity::Low => 5,
        Severity::Info => 6,
    };
    4 * 8 + sev
}

/// RFC 5424 PARAM-VALUE escaping: `"`, `\` and `]`.
fn sd_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A header field: printable US-ASCII without spaces, at most `max` characters, `-` when empty.
fn header_field(v: &str, max: usize) -> String {
    let s: String = v
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if s.is_empty() { "-".into() } else { s }
}

/// One alert as an RFC 5424 message (without framing).
pub fn format_rfc5424(alert: &AlertEvent, hostname: &str, procid: u32) -> String {
    let ts = alert.timestamp.to_rfc3339_opts(SecondsFormat::Micros, true);
    let mut sd = format!(
        "[{SD_ID} alert_id=\"{}\" rule_id=\"{}\" source=\"{}\" severity=\"{}\"",
        alert.id,
        sd_escape(&alert.rule_id),
        alert.source.as_str(),
        alert.severity
    );
    if let Some(ip) = alert.entities.src_ip {
        sd.push_str(&format!(" src=\"{ip}\""));
    }
    sd.push(']');
    let msg: String = format!("{} {}", alert.title, alert.description)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!(
        "<{}>1 {ts} {} ironpost {procid} {} {sd} {}",
        pri(alert.severity),
        header_field(hostname, 255),
        header_field(&alert.rule_id, 32),
        msg.trim_end()
    )
}

fn frame(msg: &str, framing: SyslogFraming) -> Vec<u8> {
    match framing {
        SyslogFraming::OctetCounting => format!("{} {msg}", msg.len()).into_bytes(),
        SyslogFraming::Lf => format!("{msg}\n").into_bytes(),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The sending half: never blocks.
#[derive(Debug, Clone)]
pub struct SyslogSink {
    tx: mpsc::Sender<AlertEvent>,
    sent: IntCounterVec,
}

impl SyslogSink {
    /// Queues an alert; a full queue counts `outcome="dropped"`.
    pub fn send(&self, alert: AlertEvent) {
        if self.tx.try_send(alert).is_err() {
            self.sent.with_label_values(&["dropped"]).inc();
        }
    }
}

/// Starts the forwarding task; `sent` counts by outcome (`sent`, `failed`, `dropped`). The task ends when
/// every sink is dropped.
pub fn spawn(
    addr: SocketAddr,
    framing: SyslogFraming,
    sent: IntCounterVec,
) -> (SyslogSink, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<AlertEvent>(SYSLOG_QUEUE_CAPACITY);
    let sink = SyslogSink {
        tx,
        sent: sent.clone(),
    };
    let task = tokio::spawn(async move {
        let host = hostname();
        let pid = std::process::id();
        let mut conn: Option<TcpStream> = None;
        while let Some(alert) = rx.recv().await {
            let bytes = frame(&format_rfc5424(&alert, &host, pid), framing);
            // One reconnect per message: a collector that stays down costs one connect timeout per alert.
            let mut ok = false;
            for _ in 0..2 {
                if conn.is_none() {
                    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
                        Ok(Ok(s)) => conn = Some(s),
                        Ok(Err(e)) => {
                            warn!(error = %e, %addr, "cannot connect to the syslog collector")
                        }
                        Err(_) => warn!(%addr, "syslog collector connect timed out"),
                    }
                }
                let Some(s) = conn.as_mut() else {
                    tokio::time::sleep(RECONNECT_BACKOFF).await;
                    continue;
                };
                match s.write_all(&bytes).await {
                    Ok(()) => {
                        ok = true;
                        break;
                    }
                    Err(e) => {
                        warn!(error = %e, %addr, "syslog connection lost; reconnecting");
                        conn = None;
                    }
                }
            }
            sent.with_label_values(&[if ok { "sent" } else { "failed" }])
                .inc();
        }
        if let Some(mut s) = conn {
            let _ = s.shutdown().await;
        }
    });
    (sink, task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpost_core::AlertSource;

    fn alert() -> AlertEvent {
        let mut a = AlertEvent::new(
            AlertSource::Anomaly,
            "anomaly_score_high",
            "AnomalyScoreHigh: 198.18.0.5 score=0.91",
            Severity::High,
        );
        a.description = "rate=12.5, uniq_dports=8\n\"x]\"".into();
        a.entities.src_ip = Some("198.18.0.5".parse().unwrap());
        a
    }

    #[test]
    fn message_has_rfc5424_shape() {
        let a = alert();
        let m = format_rfc5424(&a, "host one", 42);
        let ts = a.timestamp.to_rfc3339_opts(SecondsFormat::Micros, true);
        let want_head = format!(
            "<35>1 {ts} hostone ironpost 42 anomaly_score_high [ironpost@32473 alert_id=\"{}\" rule_id=\"anomaly_score_high\" source=\"anomaly\" severity=\"high\" src=\"198.18.0.5\"] AnomalyScoreHigh: 198.18.0.5 score=0.91 rate=12.5, uniq_dports=8 \"x]\"",
            a.id
        );
        assert_eq!(m, want_head);
        assert!(!m.contains('\n'));
    }

    #[test]
    fn framing_and_escaping() {
        assert_eq!(frame("<35>1 x", SyslogFraming::OctetCounting), b"7 <35>1 x");
        assert_eq!(frame("<35>1 x", SyslogFraming::Lf), b"<35>1 x\n");
        assert_eq!(sd_escape(r#"a"b\c]d"#), r#"a\"b\\c\]d"#);
        assert_eq!(header_field("", 5), "-");
        assert_eq!(header_field("abcdefg", 3), "abc");
    }
}
