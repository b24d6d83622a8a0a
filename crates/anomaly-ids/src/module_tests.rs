//! The `ids` module in-process (no NATS): scan → one alert per cooldown, benign → none, bounded input, health.

use std::time::Duration;

use ironpost_core::metrics::new_registry;

use super::*;

fn cfg() -> IdsConfig {
    IdsConfig {
        enabled: true,
        model_path: PathBuf::new(),
        tick: Duration::from_millis(20),
        publish_buffer: 4096,
        ..Default::default()
    }
}

use std::path::PathBuf;

fn attempt(src: &str, dport: u16) -> FlowEvent {
    FlowEvent {
        ts: now_secs(),
        pid: 0,
        saddr: src.parse().unwrap(),
        daddr: "198.18.0.9".parse().unwrap(),
        dport,
        proto: None,
        flags: None,
    }
}

async fn started(cfg: IdsConfig) -> (IdsModule, mpsc::Receiver<AlertEvent>, Registry) {
    let registry = new_registry();
    let (tx, rx) = mpsc::channel(16);
    let mut m = IdsModule::new(cfg, &registry, tx);
    m.start().await.unwrap();
    (m, rx, registry)
}

#[tokio::test]
async fn scan_raises_one_alert_and_benign_none() {
    let (mut m, mut alerts, registry) = started(cfg()).await;
    let input = m.flow_input();
    for p in 1..=30 {
        assert!(input.submit(attempt("198.18.0.5", p)));
    }
    assert!(input.submit(attempt("198.18.0.6", 443)));
    let alert = tokio::time::timeout(Duration::from_secs(5), alerts.recv())
        .await
        .expect("an alert within 5 s")
        .unwrap();
    assert_eq!(alert.rule_id, RULE_ID);
    assert_eq!(alert.source, AlertSource::Anomaly);
    assert_eq!(alert.evidence, ironpost_core::Evidence::Spoofable);
    assert_eq!(alert.entities.src_ip, Some("198.18.0.5".parse().unwrap()));
    assert!(alert.title.contains("score=1.00"), "{}", alert.title);
    // More of the same scan within the cooldown: no second alert; the benign source never alerts.
    for p in 31..=60 {
        input.submit(attempt("198.18.0.5", p));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    m.stop().await.unwrap();
    assert!(
        alerts.try_recv().is_err(),
        "one alert per source per cooldown"
    );
    let text = metrics::render(&registry);
    assert!(text.contains("ironpost_fe_events_in 61"), "{text}");
    assert!(text.contains("ironpost_ids_alerts_total 1"), "{text}");
    assert!(text.contains("ironpost_infer_latency_ms_count"), "{text}");
}

#[tokio::test]
async fn a_full_input_buffer_drops_and_counts() {
    let registry = new_registry();
    let (tx, _rx) = mpsc::channel(1);
    // Not started: nothing drains the buffer.
    let m = IdsModule::new(
        IdsConfig {
            publish_buffer: 2,
            ..cfg()
        },
        &registry,
        tx,
    );
    let input = m.flow_input();
    let accepted = (0..5)
        .filter(|p| input.submit(attempt("198.18.0.5", *p)))
        .count();
    assert_eq!(accepted, 2);
    let text = metrics::render(&registry);
    assert!(
        text.contains(r#"ironpost_ids_events_dropped_total{reason="buffer_full"} 3"#),
        "{text}"
    );
    assert!(matches!(m.health(), Health::Unhealthy(_)));
}

#[tokio::test]
async fn an_unloadable_model_falls_back_to_the_formula_and_degrades() {
    let (mut m, mut alerts, _r) = started(IdsConfig {
        model_path: PathBuf::from("/nonexistent/model.onnx"),
        ..cfg()
    })
    .await;
    match m.health() {
        Health::Degraded(r) => {
            assert!(
                r.contains("/nonexistent/model.onnx") && r.contains("formula"),
                "{r}"
            )
        }
        h => panic!("{h:?}"),
    }
    let input = m.flow_input();
    for p in 1..=30 {
        input.submit(attempt("198.18.0.7", p));
    }
    let alert = tokio::time::timeout(Duration::from_secs(5), alerts.recv())
        .await
        .expect("the formula still alerts")
        .unwrap();
    assert!(
        alert.description.contains("seed formula"),
        "{}",
        alert.description
    );
    m.stop().await.unwrap();
}

#[tokio::test]
async fn healthy_with_the_shipped_model() {
    let (mut m, _a, _r) = started(IdsConfig {
        model_path: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../models/probe.onnx"
        )),
        ..cfg()
    })
    .await;
    assert_eq!(m.health(), Health::Healthy);
    m.stop().await.unwrap();
}

#[tokio::test]
async fn a_reloaded_threshold_applies_at_the_next_tick() {
    // Threshold 1.0 (the formula caps at 1.0): a slow pair of attempts scores 0.6, below it.
    let (mut m, mut alerts, _r) = started(IdsConfig {
        threshold: 1.0,
        ..cfg()
    })
    .await;
    let input = m.flow_input();
    input.submit(attempt("198.18.0.8", 1));
    input.submit(attempt("198.18.0.8", 2));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(alerts.try_recv().is_err());
    m.handle().set_threshold(0.5);
    let alert = tokio::time::timeout(Duration::from_secs(5), alerts.recv())
        .await
        .expect("an alert once the threshold is lowered")
        .unwrap();
    assert!(
        alert.description.contains("threshold 0.5"),
        "{}",
        alert.description
    );
    m.stop().await.unwrap();
}
