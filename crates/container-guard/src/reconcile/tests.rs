//! The pure parts of reconciliation: what counts as undone, and when passes run (paused clock).

use std::sync::{Arc, Mutex};

use super::*;
use crate::docker::Attachment;

fn found(running: bool, paused: bool, nets: &[&str]) -> Inspected {
    Inspected {
        id: "c1".into(),
        name: "web".into(),
        running,
        paused,
        pid: running.then_some(42),
        attachments: nets
            .iter()
            .map(|n| Attachment {
                network: (*n).into(),
                network_id: String::new(),
                aliases: Vec::new(),
                ipv4: None,
                ipv6: None,
            })
            .collect(),
    }
}

fn record(actions: &[IsolationAction]) -> Isolation {
    Isolation {
        container_id: "c1".into(),
        container_name: "web".into(),
        actions: actions.to_vec(),
        since: chrono::Utc::now(),
        cause: "p".into(),
        alert_id: None,
        networks: Vec::new(),
    }
}

/// Actions held, running, paused, networks → actions undone.
type Case = (
    &'static [IsolationAction],
    bool,
    bool,
    &'static [&'static str],
    &'static [IsolationAction],
);

#[test]
fn what_counts_as_undone() {
    use IsolationAction::{NetworkDisconnect as Net, Pause, Stop};
    let cases: &[Case] = &[
        (&[Pause], true, true, &["bridge"], &[]),
        (&[Pause], true, false, &["bridge"], &[Pause]),
        // Stopped (a dockerd restart without a restart policy): it cannot run, so it holds.
        (&[Pause], false, false, &["bridge"], &[]),
        (&[Stop], false, false, &["bridge"], &[]),
        (&[Stop], true, false, &[], &[Stop]),
        // A stop undone covers the pause with it: one re-application.
        (&[Pause, Stop], true, false, &[], &[Stop]),
        (&[Net], true, false, &[], &[]),
        (&[Net], true, false, &["none"], &[]),
        (&[Net], true, false, &["front"], &[Net]),
        (&[Net], false, false, &["front"], &[Net]),
        (&[Net, Pause], true, false, &["front"], &[Net, Pause]),
        (&[Net, Pause], true, true, &[], &[]),
    ];
    for (held, running, paused, nets, want) in cases {
        let got: Vec<IsolationAction> = undone(&record(held), &found(*running, *paused, nets))
            .into_iter()
            .map(|(a, _)| a)
            .collect();
        assert_eq!(
            got, *want,
            "held {held:?}, running {running}, paused {paused}, networks {nets:?}"
        );
    }
    let why = undone(&record(&[Net]), &found(true, false, &["front", "back"]));
    assert_eq!(why[0].1, "attached to front, back");
}

/// Runs `schedule` with a 30 s interval on the paused clock and records (trigger, seconds since
/// start) of every pass.
async fn scheduled() -> (
    mpsc::Sender<&'static str>,
    watch::Sender<bool>,
    Arc<Mutex<Vec<(&'static str, u64)>>>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::channel(WAKE_CAPACITY);
    let (stop, stop_rx) = watch::channel(false);
    let passes = Arc::new(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    let p = passes.clone();
    let task = tokio::spawn(schedule(rx, Duration::from_secs(30), stop_rx, move |t| {
        p.lock().unwrap().push((t, t0.elapsed().as_secs()));
        async {}
    }));
    (tx, stop, passes, task)
}

#[tokio::test(start_paused = true)]
async fn passes_run_every_interval_and_after_wake_ups_which_restart_the_clock() {
    let (tx, stop, passes, task) = scheduled().await;
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert!(passes.lock().unwrap().is_empty(), "no pass before 30 s");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(*passes.lock().unwrap(), [("interval", 30)]);

    // At 40 s a burst of events: one pass, and the next periodic one 30 s after it.
    tokio::time::sleep(Duration::from_secs(9)).await;
    for _ in 0..5 {
        wake(&tx, "event");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(*passes.lock().unwrap(), [("interval", 30), ("event", 40)]);
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert_eq!(
        passes.lock().unwrap().len(),
        2,
        "the clock restarted at 40 s"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(passes.lock().unwrap()[2], ("interval", 70));

    stop.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn schedule_ends_when_the_wake_senders_are_gone() {
    let (tx, _stop, passes, task) = scheduled().await;
    wake(&tx, "connect");
    drop(tx);
    task.await.unwrap();
    assert_eq!(*passes.lock().unwrap(), [("connect", 0)]);
}
