//! The web console served in-process (HTTP on port 0, as `serve.rs`): pages are readable without a
//! credential and carry the Content-Security-Policy; the live stream pushes a submitted alert; a
//! mutation without the token, with a wrong one, from another origin or without the session's
//! CSRF field is refused (403) and leaves no trace; with the token (bearer or session + CSRF) it
//! runs and is stored as an `ActionEvent` naming the actor; a non-loopback listener is refused
//! by config validation.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use ironpost_config::ConfigSource;
use ironpost_core::{ActionOutcome, ActionType, AlertEvent, AlertSource, ContainerRef, Severity};
use ironpost_proto::{Request, Response, request};
use ironpost_store::{ActionQuery, StoreReader};

use common::{Reply, header, http};

const TOKEN: &str = "cnsl-test-token-0123456789abcdefghijklmnop";

async fn get(addr: SocketAddr, path: &str) -> Reply {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || http(addr, "GET", &path, &[], ""))
        .await
        .unwrap()
}

async fn post(addr: SocketAddr, path: &str, headers: Vec<(String, String)>, body: &str) -> Reply {
    let (path, body) = (path.to_owned(), body.to_owned());
    tokio::task::spawn_blocking(move || {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        http(addr, "POST", &path, &h, &body)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_stream_and_guarded_mutations() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::console_config(dir.path(), TOKEN);
    let socket = cfg.general.control_socket.clone();
    let daemon = common::InProcess::start(&cfg).await;
    let addr = daemon.addr;

    // A live client, connected before the alert exists.
    let mut line_rx = common::live_stream(addr, "severity=high").await;

    let low = AlertEvent::new(
        AlertSource::External,
        "cnsl_low",
        "below the filter",
        Severity::Low,
    );
    let mut alert = AlertEvent::new(
        AlertSource::External,
        "cnsl_rule",
        "Console <test> alert",
        Severity::High,
    );
    alert.entities.src_ip = Some("198.18.7.7".parse().unwrap());
    alert.entities.container = Some(ContainerRef {
        id: None,
        name: Some("cnsl-web".into()),
    });
    let id = alert.id;
    for a in [low, alert] {
        match request(&socket, &Request::SubmitAlert { alert: Box::new(a) })
            .await
            .unwrap()
        {
            Response::Accepted { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    // The high alert arrives on the stream (the low one is filtered out before it).
    let data = loop {
        let l = line_rx.recv().await.expect("live stream open");
        if let Some(d) = l.strip_prefix("data: ") {
            break d.to_owned();
        }
    };
    assert!(data.contains(&format!(r#""id":"{id}""#)), "{data}");
    assert!(data.contains(r#""title":"Console <test> alert""#), "{data}");
    assert!(data.contains(r#""container":"cnsl-web""#), "{data}");

    // Read-only pages: no credential needed, CSP on every one, values escaped.
    let mut alerts_page = String::new();
    for _ in 0..200 {
        let r = get(addr, "/alerts?rule=cnsl_rule").await;
        assert_eq!(r.status, 200);
        if r.body.contains(&id.to_string()) {
            alerts_page = r.body;
            break;
        }
        // The store writes in batches: the alert is stored shortly after it was routed.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        alerts_page.contains("Console &lt;test&gt; alert"),
        "{alerts_page}"
    );
    assert!(!alerts_page.contains("<test>"));
    assert!(
        !alerts_page.contains(">Node</th>") && !alerts_page.contains("name=\"node\""),
        "no Node column or filter outside the fleet's central role: {alerts_page}"
    );
    assert!(
        alerts_page.contains("data-live=\"/live?rule=cnsl_rule\""),
        "{alerts_page}"
    );
    for path in [
        "/",
        "/alerts",
        "/blocks",
        "/containers",
        "/sbom",
        "/rules",
        "/login",
        "/assets/console.js",
    ] {
        let r = get(addr, path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let csp = header(&r, "content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
            "{path}: {csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(header(&r, "x-frame-options"), Some("deny"), "{path}");
        if path != "/assets/console.js" {
            assert!(!r.body.contains("<script>"), "{path}: no inline script");
            assert!(!r.body.contains(" style="), "{path}: no inline style");
        }
    }
    let overview = get(addr, "/").await.body;
    assert!(overview.contains("198.18.7.7"), "top sources: {overview}");
    assert!(get(addr, "/rules").await.body.contains("cnsl_rule"));
    let detail = get(addr, &format!("/alerts/{id}")).await;
    assert_eq!(detail.status, 200);
    assert!(detail.body.contains("cnsl-web") && detail.body.contains("Actions it caused"));
    assert_eq!(get(addr, "/alerts/not-an-id").await.status, 404);

    // Mutations without a valid credential: 403, nothing recorded.
    let form = "cidr=198.18.7.7";
    let bearer = |t: &str| vec![("Authorization".to_owned(), format!("Bearer {t}"))];
    assert_eq!(
        post(addr, "/blocks/unblock", vec![], form).await.status,
        403
    );
    assert_eq!(
        post(addr, "/blocks/unblock", bearer("wrong-token"), form)
            .await
            .status,
        403
    );
    let mut cross = bearer(TOKEN);
    cross.push(("Origin".into(), "http://evil.example".into()));
    assert_eq!(post(addr, "/blocks/unblock", cross, form).await.status, 403);
    assert_eq!(post(addr, "/blocks/add", vec![], form).await.status, 403);
    assert_eq!(
        post(addr, "/containers/restore", vec![], "container=cnsl-web")
            .await
            .status,
        403
    );
    assert_eq!(
        post(addr, "/login", vec![], "token=wrong").await.status,
        403
    );

    // With the bearer token: it runs (no XDP engine here, so it fails, audited).
    let r = post(addr, "/blocks/unblock", bearer(TOKEN), form).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("XDP engine is not enabled"), "{}", r.body);

    // A session: log in with the token, then the session cookie alone is not enough.
    let login = post(
        addr,
        "/login",
        vec![],
        &format!("token={TOKEN}&next=/blocks"),
    )
    .await;
    assert_eq!(login.status, 303, "{}", login.body);
    assert_eq!(header(&login, "location"), Some("/blocks"));
    let set = header(&login, "set-cookie").unwrap().to_owned();
    assert!(
        set.contains("httponly") && set.contains("samesite=strict"),
        "{set}"
    );
    // The header is lower-cased by `http`; the cookie value is hex, so it is unchanged.
    let cookie = set.split(';').next().unwrap().to_owned();
    let page = tokio::task::spawn_blocking({
        let cookie = cookie.clone();
        move || http(addr, "GET", "/blocks", &[("Cookie", &cookie)], "")
    })
    .await
    .unwrap();
    let csrf = page
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a session's page carries its CSRF field")
        .to_owned();
    let with_cookie = vec![("Cookie".to_owned(), cookie.clone())];
    assert_eq!(
        post(addr, "/blocks/unblock", with_cookie.clone(), form)
            .await
            .status,
        403
    );
    let wrong = format!("{form}&csrf=0000");
    assert_eq!(
        post(addr, "/blocks/unblock", with_cookie.clone(), &wrong)
            .await
            .status,
        403
    );
    let ok = post(
        addr,
        "/blocks/unblock",
        with_cookie,
        &format!("{form}&csrf={csrf}"),
    )
    .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert!(
        header(&ok, "location")
            .unwrap()
            .starts_with("/blocks?failed=")
    );

    let metrics = get(addr, "/metrics").await.body;
    assert!(
        metrics.contains("ironpost_console_requests_refused_total{reason=\"credential\"} 5"),
        "{metrics}"
    );

    daemon.stop().await;
    let reader = StoreReader::open(cfg.storage(), &cfg.general.data_dir)
        .await
        .unwrap();
    let actions = reader.actions(&ActionQuery::default()).await.unwrap();
    let mut actors: Vec<&str> = actions
        .iter()
        .map(|a| {
            assert_eq!(a.action_type, ActionType::IpUnblock);
            assert_eq!(a.outcome, ActionOutcome::Failure);
            assert_eq!(a.target.src_ip, Some("198.18.7.7".parse().unwrap()));
            a.target.user.as_deref().unwrap_or("")
        })
        .collect();
    actors.sort();
    assert_eq!(
        actors.len(),
        2,
        "only the two authorised attempts are recorded: {actions:?}"
    );
    assert_eq!(
        actors[0],
        "console:session:".to_owned() + &cookie["ironpost_session=".len()..][..8]
    );
    assert_eq!(actors[1], "console:token");
}

#[test]
fn a_non_loopback_listener_with_the_console_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ironpost.toml");
    std::fs::write(&file, "[general]\nhttp_listen = \"198.18.0.1:9470\"\n").unwrap();
    let err = ConfigSource::File(file.clone()).load().unwrap_err();
    let text = ironpost_core::error_chain(&err);
    assert!(
        text.contains("general.http_listen") && text.contains("console"),
        "{text}"
    );
    std::fs::write(
        &file,
        "[general]\nhttp_listen = \"198.18.0.1:9470\"\n[console]\nenabled = false\n",
    )
    .unwrap();
    ConfigSource::File(file).load().unwrap();
}
