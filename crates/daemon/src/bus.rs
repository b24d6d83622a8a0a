//! The daemon's event bus: four named, bounded channels every module sends into (`alerts`,
//! `actions`, `packets`, `logs`), the consumers subscribed to alerts and packets besides the store
//! (the responder, the container guard, the log pipeline's packet rules, the IDS), and the
//! enrichers that amend an alert before anyone sees it (CVE-aware severity).
//!
//! A channel's capacity is fixed here; its fill level is in `ironpost-cli status` and in
//! `ironpost_channel_queued{channel}`. Producers wait when a channel is full (nothing is lost
//! between a module and the store). Subscribers are never waited for: an event a subscriber's
//! queue cannot take is counted in `ironpost_events_dropped_total{kind="<subscriber>"}`, so a slow
//! consumer cannot stall detection or storage.

use ironpost_core::{ActionEvent, AlertEvent, LogEvent, PacketEvent};
use ironpost_proto::ChannelStatus;
use tokio::sync::mpsc;

/// Capacity of the channel every alert producer sends into.
pub const ALERT_CHANNEL_CAPACITY: usize = 4096;
/// Capacity of the channel every responder sends its `ActionEvent`s into.
pub const ACTION_CHANNEL_CAPACITY: usize = 1024;
/// Capacity of the channel of `PacketEvent`s from the XDP engine (when full, events are counted as
/// lost in `ironpost_ebpf_events_lost_total{reason="channel_full"}`).
pub const PACKET_CHANNEL_CAPACITY: usize = 8192;
/// Capacity of the channel of `LogEvent`s (lines that matched a rule, stored as evidence; when
/// full, evidence of acknowledged sources (file, journal) waits, other evidence is counted in
/// `ironpost_log_evidence_dropped_total`).
pub const LOG_CHANNEL_CAPACITY: usize = 8192;

/// A consumer of one kind of event besides the store. `deliver` must not wait; it returns false
/// when the consumer could not take the event (counted as dropped under `name`).
pub(crate) struct Subscriber<T> {
    pub(crate) name: &'static str,
    deliver: Box<dyn Fn(&T) -> bool + Send + Sync>,
}

impl<T: Clone + Send + 'static> Subscriber<T> {
    /// A subscriber with its own bounded queue.
    pub(crate) fn queue(name: &'static str, tx: mpsc::Sender<T>) -> Self {
        Subscriber::new(name, move |e: &T| tx.try_send(e.clone()).is_ok())
    }

    pub(crate) fn new(
        name: &'static str,
        deliver: impl Fn(&T) -> bool + Send + Sync + 'static,
    ) -> Self {
        Subscriber {
            name,
            deliver: Box::new(deliver),
        }
    }
}

impl<T> Subscriber<T> {
    /// Hands `event` over; false: dropped.
    pub(crate) fn deliver(&self, event: &T) -> bool {
        (self.deliver)(event)
    }
}

/// Amends an alert before it is stored and delivered.
pub(crate) type Enricher = Box<dyn Fn(&mut AlertEvent) + Send + Sync>;

/// One bounded channel with its name.
struct Channel<T> {
    name: &'static str,
    capacity: usize,
    tx: mpsc::Sender<T>,
    rx: mpsc::Receiver<T>,
}

impl<T> Channel<T> {
    fn new(name: &'static str, capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity);
        Channel {
            name,
            capacity,
            tx,
            rx,
        }
    }
}

/// The bus while the daemon is being assembled: modules take senders and subscribe.
pub(crate) struct Bus {
    alerts: Channel<AlertEvent>,
    actions: Channel<ActionEvent>,
    packets: Channel<PacketEvent>,
    logs: Channel<LogEvent>,
    alert_subscribers: Vec<Subscriber<AlertEvent>>,
    action_subscribers: Vec<Subscriber<ActionEvent>>,
    packet_subscribers: Vec<Subscriber<PacketEvent>>,
    enrichers: Vec<Enricher>,
}

impl Bus {
    pub(crate) fn new() -> Self {
        Bus {
            alerts: Channel::new("alerts", ALERT_CHANNEL_CAPACITY),
            actions: Channel::new("actions", ACTION_CHANNEL_CAPACITY),
            packets: Channel::new("packets", PACKET_CHANNEL_CAPACITY),
            logs: Channel::new("logs", LOG_CHANNEL_CAPACITY),
            alert_subscribers: Vec::new(),
            action_subscribers: Vec::new(),
            packet_subscribers: Vec::new(),
            enrichers: Vec::new(),
        }
    }

    pub(crate) fn alerts(&self) -> mpsc::Sender<AlertEvent> {
        self.alerts.tx.clone()
    }
    pub(crate) fn actions(&self) -> mpsc::Sender<ActionEvent> {
        self.actions.tx.clone()
    }
    pub(crate) fn packets(&self) -> mpsc::Sender<PacketEvent> {
        self.packets.tx.clone()
    }
    pub(crate) fn logs(&self) -> mpsc::Sender<LogEvent> {
        self.logs.tx.clone()
    }

    pub(crate) fn subscribe_alerts(&mut self, s: Subscriber<AlertEvent>) {
        self.alert_subscribers.push(s);
    }
    /// After the store has the action queued (the fleet's publisher of block decisions).
    pub(crate) fn subscribe_actions(&mut self, s: Subscriber<ActionEvent>) {
        self.action_subscribers.push(s);
    }
    pub(crate) fn subscribe_packets(&mut self, s: Subscriber<PacketEvent>) {
        self.packet_subscribers.push(s);
    }
    pub(crate) fn enrich_alerts(&mut self, e: Enricher) {
        self.enrichers.push(e);
    }

    /// Names of the subscribers, in delivery order (for logs and tests).
    pub(crate) fn subscribers(&self) -> Vec<&'static str> {
        self.alert_subscribers
            .iter()
            .map(|s| s.name)
            .chain(self.action_subscribers.iter().map(|s| s.name))
            .chain(self.packet_subscribers.iter().map(|s| s.name))
            .collect()
    }

    /// Ends assembly: the senders for status and control, the receivers for the routers.
    pub(crate) fn split(self) -> (BusHandle, Routes) {
        let handle = BusHandle {
            alerts: (self.alerts.name, self.alerts.capacity, self.alerts.tx),
            actions: (self.actions.name, self.actions.capacity, self.actions.tx),
            packets: (self.packets.name, self.packets.capacity, self.packets.tx),
            logs: (self.logs.name, self.logs.capacity, self.logs.tx),
        };
        let routes = Routes {
            alerts: self.alerts.rx,
            alert_subscribers: self.alert_subscribers,
            enrichers: self.enrichers,
            actions: self.actions.rx,
            action_subscribers: self.action_subscribers,
            packets: self.packets.rx,
            packet_subscribers: self.packet_subscribers,
            logs: self.logs.rx,
        };
        (handle, routes)
    }
}

/// The running bus's senders: fill levels for status, the alert sender for the control socket.
#[derive(Clone)]
pub(crate) struct BusHandle {
    alerts: (&'static str, usize, mpsc::Sender<AlertEvent>),
    actions: (&'static str, usize, mpsc::Sender<ActionEvent>),
    packets: (&'static str, usize, mpsc::Sender<PacketEvent>),
    logs: (&'static str, usize, mpsc::Sender<LogEvent>),
}

impl BusHandle {
    pub(crate) fn alerts(&self) -> &mpsc::Sender<AlertEvent> {
        &self.alerts.2
    }

    /// Capacity and fill level of each channel.
    pub(crate) fn channels(&self) -> Vec<ChannelStatus> {
        let status = |name: &str, cap: usize, free: usize| ChannelStatus {
            name: name.into(),
            capacity: cap,
            queued: cap - free.min(cap),
        };
        vec![
            status(self.alerts.0, self.alerts.1, self.alerts.2.capacity()),
            status(self.actions.0, self.actions.1, self.actions.2.capacity()),
            status(self.packets.0, self.packets.1, self.packets.2.capacity()),
            status(self.logs.0, self.logs.1, self.logs.2.capacity()),
        ]
    }
}

/// What the routers consume.
pub(crate) struct Routes {
    pub(crate) alerts: mpsc::Receiver<AlertEvent>,
    pub(crate) alert_subscribers: Vec<Subscriber<AlertEvent>>,
    pub(crate) enrichers: Vec<Enricher>,
    pub(crate) actions: mpsc::Receiver<ActionEvent>,
    pub(crate) action_subscribers: Vec<Subscriber<ActionEvent>>,
    pub(crate) packets: mpsc::Receiver<PacketEvent>,
    pub(crate) packet_subscribers: Vec<Subscriber<PacketEvent>>,
    pub(crate) logs: mpsc::Receiver<LogEvent>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpost_core::{AlertSource, Severity};

    #[test]
    fn a_full_subscriber_drops_without_blocking_and_channels_report_fill() {
        let mut bus = Bus::new();
        let (tx, mut rx) = mpsc::channel(1);
        bus.subscribe_alerts(Subscriber::queue("alert_to_test", tx));
        let alerts = bus.alerts();
        let (handle, routes) = bus.split();
        let a = AlertEvent::new(AlertSource::External, "r", "t", Severity::Low);
        let sub = &routes.alert_subscribers[0];
        assert_eq!(sub.name, "alert_to_test");
        assert!(sub.deliver(&a));
        assert!(
            !sub.deliver(&a),
            "the second does not fit and is reported dropped"
        );
        assert_eq!(rx.try_recv().unwrap().id, a.id);
        alerts.try_send(a).unwrap();
        let ch = handle.channels();
        assert_eq!(
            ch.iter()
                .map(|c| (c.name.as_str(), c.capacity, c.queued))
                .collect::<Vec<_>>(),
            [
                ("alerts", ALERT_CHANNEL_CAPACITY, 1),
                ("actions", ACTION_CHANNEL_CAPACITY, 0),
                ("packets", PACKET_CHANNEL_CAPACITY, 0),
                ("logs", LOG_CHANNEL_CAPACITY, 0),
            ]
        );
    }
}
