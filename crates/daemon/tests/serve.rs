//! The daemon served in-process on listeners the test binds (HTTP on port 0, a control socket in a
//! temporary directory): the status names the protocol version and the bus's channels, an alert
//! submitted on the control socket is stored before `serve` returns, and the control socket is gone
//! after shutdown.

use std::io::{Read, Write};
use std::time::Duration;

use ironpost_config::{ConfigSource, IronpostConfig};
use ironpost_core::{AlertEvent, AlertSource, Severity};
use ironpost_daemon::{ALERT_CHANNEL_CAPACITY, Listeners, serve};
use ironpost_proto::exit::Exit;
use ironpost_proto::{PROTOCOL_VERSION, Request, Response, request};
use ironpost_store::{AlertQuery, StoreReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_on_given_listeners_and_drains_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = IronpostConfig::default();
    cfg.ebpf.enabled = false;
    cfg.general.data_dir = dir.path().join("data");
    cfg.general.control_socket = dir.path().join("control.sock");
    cfg.general.http_listen = "127.0.0.1:0".parse().unwrap();
    let socket = cfg.general.control_socket.clone();
    let listeners = Listeners::bind(&cfg.general).await.unwrap();
    let http = listeners.http.local_addr().unwrap();
    assert_ne!(http.port(), 0);

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(serve(
        cfg.clone(),
        ConfigSource::Defaults,
        listeners,
        async {
            let _ = stop_rx.await;
        },
    ));

    let status = match request(&socket, &Request::Status).await.unwrap() {
        Response::Status(s) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!(status.protocol, PROTOCOL_VERSION);
    assert_eq!(status.http_listen, http.to_string());
    let channels: Vec<(&str, usize)> = status
        .channels
        .iter()
        .map(|c| (c.name.as_str(), c.capacity))
        .collect();
    assert_eq!(channels[0], ("alerts", ALERT_CHANNEL_CAPACITY));
    assert_eq!(
        channels.iter().map(|c| c.0).collect::<Vec<_>>(),
        ["alerts", "actions", "packets", "logs"]
    );

    // The read-only HTTP listener answers on the port the test's listener got.
    let body = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(http).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET /health HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap();
    assert!(
        body.starts_with("HTTP/1.0 200") || body.starts_with("HTTP/1.1 200"),
        "{body}"
    );
    assert!(body.contains(r#""status":"healthy""#), "{body}");

    let alert = AlertEvent::new(
        AlertSource::External,
        "serve_test",
        "in-process",
        Severity::High,
    );
    let id = alert.id;
    match request(
        &socket,
        &Request::SubmitAlert {
            alert: Box::new(alert),
        },
    )
    .await
    .unwrap()
    {
        Response::Accepted { id: got } => assert_eq!(got, id),
        other => panic!("{other:?}"),
    }

    stop_tx.send(()).unwrap();
    assert_eq!(daemon.await.unwrap().unwrap(), Exit::Ok);
    assert!(!socket.exists(), "control socket removed on shutdown");

    let reader = StoreReader::open(cfg.storage(), &cfg.general.data_dir)
        .await
        .unwrap();
    let stored = reader
        .alerts(&AlertQuery {
            rule_id: Some("serve_test".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(stored.iter().map(|a| a.id).collect::<Vec<_>>(), [id]);
}
