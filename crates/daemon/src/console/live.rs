//! The live alert stream: `GET /live` answers `text/event-stream` (server-sent events), one
//! `alert` event per alert the daemon routes, as a small JSON object. Each client has its own
//! bounded queue (`console.live_queue` events); the alert router hands an alert to every queue
//! without waiting, and a client whose queue is full is disconnected and counted
//! (`ironpost_console_live_clients_dropped_total`), so a slow browser never grows the daemon's
//! memory. At most `console.live_clients` clients at once; more get 503.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use ironpost_core::AlertEvent;
use serde::Serialize;
use tokio::sync::mpsc;

use super::request::{AlertFilter, AlertsQuery};
use super::{ConsoleMetrics, lock};
use crate::shared::Shared;

/// Longest title, description or rule id sent in a live event (characters).
const FIELD_MAX: usize = 300;

/// What the page needs to draw one row.
#[derive(Debug, Serialize)]
struct LiveAlert<'a> {
    id: String,
    time: String,
    severity: &'static str,
    rule: String,
    title: String,
    src: Option<String>,
    container: Option<&'a str>,
    evidence: &'static str,
    source: &'static str,
    node: &'a str,
}

fn cut(s: &str) -> String {
    s.chars().take(FIELD_MAX).collect()
}

fn encode(a: &AlertEvent, node: &str) -> Arc<str> {
    let v = LiveAlert {
        id: a.id.to_string(),
        time: a
            .timestamp
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        severity: a.severity.as_str(),
        rule: cut(&a.rule_id),
        title: cut(&a.title),
        src: a.entities.src_ip.map(|ip| ip.to_string()),
        container: a
            .entities
            .container
            .as_ref()
            .and_then(|c| c.name.as_deref().or(c.id.as_deref())),
        evidence: a.evidence.as_str(),
        source: a.source.as_str(),
        node,
    };
    serde_json::to_string(&v)
        .unwrap_or_else(|_| "{}".to_owned())
        .into()
}

struct Client {
    tx: mpsc::Sender<Arc<str>>,
    filter: AlertFilter,
}

/// The live clients.
pub(crate) struct Hub {
    max: usize,
    queue: usize,
    clients: Mutex<Vec<Client>>,
}

impl Hub {
    pub(crate) fn new(max: usize, queue: usize) -> Self {
        Hub {
            max: max.max(1),
            queue: queue.max(1),
            clients: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn subscribe(
        &self,
        filter: AlertFilter,
        m: &ConsoleMetrics,
    ) -> Option<mpsc::Receiver<Arc<str>>> {
        let mut clients = lock(&self.clients);
        clients.retain(|c| !c.tx.is_closed());
        if clients.len() >= self.max {
            m.live_clients.set(clients.len() as i64);
            return None;
        }
        let (tx, rx) = mpsc::channel(self.queue);
        clients.push(Client { tx, filter });
        m.live_clients.set(clients.len() as i64);
        Some(rx)
    }

    /// Queues `alert` (of fleet node `node`) for every client whose filter it matches, never
    /// waiting: a client whose queue is full is disconnected and counted.
    pub(crate) fn publish(&self, alert: &AlertEvent, node: &str, m: &ConsoleMetrics) {
        let mut clients = lock(&self.clients);
        if clients.is_empty() {
            return;
        }
        let mut json: Option<Arc<str>> = None;
        let before = clients.len();
        clients.retain(|c| {
            if !c.filter.matches(alert, node) {
                return !c.tx.is_closed();
            }
            let msg = json.get_or_insert_with(|| encode(alert, node)).clone();
            match c.tx.try_send(msg) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    m.live_dropped.inc();
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        if clients.len() != before {
            m.live_clients.set(clients.len() as i64);
        }
    }

    /// Ends every stream (shutdown).
    pub(crate) fn close_all(&self, m: &ConsoleMetrics) {
        lock(&self.clients).clear();
        m.live_clients.set(0);
    }
}

pub(crate) async fn stream(
    State(app): State<Arc<Shared>>,
    Query(q): Query<AlertsQuery>,
) -> Response {
    let Some(c) = app.console.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let filter = match q.parse() {
        Ok(f) => f,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let Some(rx) = c.hub.subscribe(filter, &c.metrics) else {
        c.metrics.live_refused.inc();
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many live clients (console.live_clients)\n",
        )
            .into_response();
    };
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        let msg = rx.recv().await?;
        let ev: Result<Event, Infallible> = Ok(Event::default().event("alert").data(&*msg));
        Some((ev, rx))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpost_core::metrics::new_registry;
    use ironpost_core::{AlertSource, ContainerRef, Severity};

    fn alert(sev: Severity) -> AlertEvent {
        let mut a = AlertEvent::new(AlertSource::Ebpf, "port_scan", "scan <b>", sev);
        a.entities.src_ip = Some("198.18.0.2".parse().unwrap());
        a
    }

    #[test]
    fn a_full_client_is_dropped_and_counted_never_queued_beyond_its_bound() {
        let m = ConsoleMetrics::new(&new_registry());
        let hub = Hub::new(4, 16);
        let mut fast = hub.subscribe(AlertFilter::default(), &m).unwrap();
        let slow = hub.subscribe(AlertFilter::default(), &m).unwrap();
        assert_eq!(m.live_clients.get(), 2);
        for _ in 0..16 {
            hub.publish(&alert(Severity::High), "n1", &m);
            assert!(fast.try_recv().is_ok());
        }
        assert_eq!(m.live_dropped.get(), 0);
        hub.publish(&alert(Severity::High), "n1", &m);
        assert_eq!(m.live_dropped.get(), 1, "the slow client fell 16 behind");
        assert_eq!(m.live_clients.get(), 1);
        assert_eq!(slow.len(), 16, "its queue never grew beyond the bound");
        assert!(fast.try_recv().is_ok());
    }

    #[test]
    fn filters_select_and_clients_are_bounded() {
        let m = ConsoleMetrics::new(&new_registry());
        let hub = Hub::new(1, 16);
        let f = AlertsQuery {
            severity: Some("high".into()),
            container: Some("web-1".into()),
            ..Default::default()
        }
        .parse()
        .unwrap();
        let mut rx = hub.subscribe(f, &m).unwrap();
        assert!(
            hub.subscribe(AlertFilter::default(), &m).is_none(),
            "one client at most"
        );
        let mut a = alert(Severity::High);
        hub.publish(&a, "n1", &m);
        assert!(rx.try_recv().is_err(), "no container");
        a.entities.container = Some(ContainerRef {
            id: Some("0123456789abcdef".into()),
            name: Some("web-1".into()),
        });
        hub.publish(&a, "n1", &m);
        let got = rx.try_recv().unwrap();
        assert!(got.contains(r#""title":"scan <b>""#), "{got}");
        assert!(got.contains(r#""node":"n1""#), "{got}");
        assert!(got.contains(r#""container":"web-1""#), "{got}");
        a.severity = Severity::Low;
        hub.publish(&a, "n1", &m);
        assert!(rx.try_recv().is_err(), "below the minimum severity");
        drop(rx);
        let by_node = AlertsQuery {
            node: Some(" agent-2 ".into()),
            ..Default::default()
        }
        .parse()
        .unwrap();
        let mut rx = hub.subscribe(by_node, &m).unwrap();
        hub.publish(&a, "agent-1", &m);
        assert!(rx.try_recv().is_err(), "another node");
        hub.publish(&a, "agent-2", &m);
        assert!(rx.try_recv().unwrap().contains(r#""node":"agent-2""#));
        assert!(
            AlertsQuery {
                src: Some("nope".into()),
                ..Default::default()
            }
            .parse()
            .is_err()
        );
    }
}
