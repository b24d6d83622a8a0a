//! `[ids.nats]` against a test-owned `nats-server` with TLS (its own CA, client certificates
//! required) and users authenticated by NKey or password; one with a token; one in operator
//! mode (JWTs made here) for a `.creds` file. Without
//! credentials the connection is refused with an error that says so; with them it succeeds and
//! flow telemetry goes through JetStream to the consumer. Bad files are errors naming their key.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{NatsServer, flow, pki};
use ironpost_anomaly_ids::nats::{self, ConsumeMetrics, PublishMetrics};
use ironpost_anomaly_ids::{IdsError, NatsConfig};
use ironpost_core::error_chain;
use ironpost_core::metrics::prometheus::IntCounter;
use tokio::sync::{mpsc, watch};

fn counter(name: &str) -> IntCounter {
    IntCounter::new(name, name).unwrap()
}

/// A TLS server requiring client certificates, with an NKey user and a password user; its PKI
/// in `{dir}/pki`.
fn tls_server(seed_public: &str) -> NatsServer {
    NatsServer::start_with(
        &format!(
            r#"
tls {{
  cert_file: "{{dir}}/pki/server.pem"
  key_file: "{{dir}}/pki/server.key"
  ca_file: "{{dir}}/pki/ca.pem"
  verify: true
  timeout: 5
}}
authorization {{
  users = [
    {{ nkey: "{seed_public}" }}
    {{ user: "ids", password: "pw-for-test" }}
  ]
}}
"#
        ),
        |dir| {
            let p = dir.join("pki");
            std::fs::create_dir(&p).unwrap();
            pki(&p);
        },
    )
}

fn tls(pki: &Path) -> NatsConfig {
    NatsConfig {
        ca_file: Some(pki.join("ca.pem")),
        client_cert: Some(pki.join("client.pem")),
        client_key: Some(pki.join("client.key")),
        tls_required: true,
        ..Default::default()
    }
}

/// Publishes `n` flows and reads them back through a durable consumer of a fresh stream.
async fn flows_go_through(client: async_nats::Client, tag: &str, n: u32) {
    let (stream, subject, durable) = (
        format!("IRONPOST_TEST_{tag}"),
        format!("ironpost.test.{}", tag.to_lowercase()),
        format!("ironpost-test-{}", tag.to_lowercase()),
    );
    let (stop_tx, stop) = watch::channel(false);
    let (out_tx, mut out) = mpsc::channel(1024);
    let status = std::sync::Arc::new(std::sync::Mutex::new(Some("starting".to_owned())));
    let consumer = tokio::spawn(nats::consume_loop(
        client.clone(),
        stream.clone(),
        subject.clone(),
        durable,
        out_tx,
        ConsumeMetrics {
            received: counter("received"),
            invalid: counter("invalid"),
            acked: counter("acked"),
            nacked: counter("nacked"),
            redelivered: counter("redelivered"),
        },
        status.clone(),
        stop.clone(),
    ));
    // The consumer delivers new messages only: wait until it is subscribed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while status.lock().unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "consumer never subscribed: {:?}",
            status.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (tx, rx) = mpsc::channel(n as usize);
    let published = counter("published");
    let publisher = tokio::spawn(nats::publish_loop(
        client.clone(),
        stream.clone(),
        subject,
        rx,
        PublishMetrics {
            published: published.clone(),
            retried: counter("retried"),
        },
        stop.clone(),
    ));
    for i in 0..n {
        tx.send(flow(i)).await.unwrap();
    }
    drop(tx);
    let mut seen = Vec::new();
    while seen.len() < n as usize {
        let ev = tokio::time::timeout(Duration::from_secs(30), out.recv())
            .await
            .expect("flows keep arriving")
            .unwrap()
            .0;
        seen.push(ev.ts as u32);
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..n).collect::<Vec<_>>());
    publisher.await.unwrap();
    assert_eq!(published.get(), u64::from(n));
    stop_tx.send(true).unwrap();
    consumer.await.unwrap();
    nats::delete_stream(client, &stream).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_nkey_or_password_is_required_and_then_flows_are_consumed() {
    let key = nkeys::KeyPair::new_user();
    let server = tls_server(&key.public_key());
    let pki = server.dir.path().join("pki");
    let url = server.url("tls");

    // No credentials: refused, and the error says why.
    let err = nats::connect_with(&url, "ironpost-test", &tls(&pki))
        .await
        .unwrap_err();
    let text = error_chain(&err);
    assert!(matches!(err, IdsError::NatsConnect { .. }), "{text}");
    assert!(
        text.contains("refused the connection") && text.contains("authorization violation"),
        "{text}"
    );

    // A wrong password: refused the same way.
    let wrong = NatsConfig {
        user: Some("ids".into()),
        password: Some("not-it".into()),
        ..tls(&pki)
    };
    let err = nats::connect_with(&url, "ironpost-test", &wrong)
        .await
        .unwrap_err();
    assert!(
        error_chain(&err).contains("authorization violation"),
        "{}",
        error_chain(&err)
    );

    // The server's certificate is not trusted without the CA file: a TLS error, reported.
    let untrusted = NatsConfig {
        ca_file: None,
        ..wrong.clone()
    };
    let err = nats::connect_with(&url, "ironpost-test", &untrusted)
        .await
        .unwrap_err();
    assert!(matches!(err, IdsError::NatsConnect { .. }), "{err:?}");

    // The NKey seed file: connected, and telemetry goes through.
    let seed_file = server.dir.path().join("ids.nk");
    std::fs::write(&seed_file, format!("{}\n", key.seed().unwrap())).unwrap();
    let nkey = NatsConfig {
        nkey_seed_file: Some(seed_file),
        ..tls(&pki)
    };
    let client = nats::connect_with(&url, "ironpost-test", &nkey)
        .await
        .unwrap();
    flows_go_through(client, "NKEY", 200).await;

    // User and password.
    let password = NatsConfig {
        user: Some("ids".into()),
        password: Some("pw-for-test".into()),
        ..tls(&pki)
    };
    let client = nats::connect_with(&url, "ironpost-test", &password)
        .await
        .unwrap();
    flows_go_through(client, "PASSWORD", 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth_without_tls() {
    let server = NatsServer::start("authorization { token: \"t0ken-for-test\" }");
    let url = server.url("nats");
    let err = nats::connect_with(&url, "ironpost-test", &NatsConfig::default())
        .await
        .unwrap_err();
    assert!(
        error_chain(&err).contains("authorization violation"),
        "{}",
        error_chain(&err)
    );
    let token = NatsConfig {
        token: Some("t0ken-for-test".into()),
        ..Default::default()
    };
    let client = nats::connect_with(&url, "ironpost-test", &token)
        .await
        .unwrap();
    flows_go_through(client, "TOKEN", 20).await;
    // A server that offers no TLS is refused when TLS is required.
    let err = nats::connect_with(
        &url,
        "ironpost-test",
        &NatsConfig {
            tls_required: true,
            ..token
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, IdsError::NatsConnect { .. }), "{err:?}");
}

#[tokio::test]
async fn bad_files_name_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = "nats://127.0.0.1:1";
    let missing = NatsConfig {
        nkey_seed_file: Some(dir.path().join("missing.nk")),
        ..Default::default()
    };
    let err = nats::connect_with(url, "t", &missing).await.unwrap_err();
    assert!(
        matches!(
            err,
            IdsError::NatsFile {
                field: "nkey_seed_file",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("ids.nats.nkey_seed_file: cannot read "),
        "{err}"
    );
    let bad_seed = dir.path().join("bad.nk");
    std::fs::write(&bad_seed, "not a seed\n").unwrap();
    let err = nats::connect_with(
        url,
        "t",
        &NatsConfig {
            nkey_seed_file: Some(bad_seed.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "ids.nats.nkey_seed_file: {} does not hold one user NKey seed (SU…)",
            bad_seed.display()
        )
    );
    let creds = dir.path().join("ids.creds");
    std::fs::write(&creds, "just text\n").unwrap();
    let err = nats::connect_with(
        url,
        "t",
        &NatsConfig {
            creds_file: Some(creds),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().starts_with("ids.nats.creds_file: ")
            && err.to_string().contains("is not a NATS credentials file"),
        "{err}"
    );
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "no pem here").unwrap();
    let err = nats::connect_with(
        url,
        "t",
        &NatsConfig {
            ca_file: Some(ca),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("holds no PEM block"), "{err}");
}

/// Base64url without padding, as JWTs use it.
fn b64url(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A NATS v2 JWT for `subject`, signed by `issuer`.
fn jwt(issuer: &nkeys::KeyPair, subject: &str, nats: serde_json::Value) -> String {
    let header = b64url(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let iat = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "jti": format!("ironpost-test-{subject}"),
        "iat": iat,
        "iss": issuer.public_key(),
        "name": "ironpost-test",
        "sub": subject,
        "nats": nats,
    });
    let body = format!("{header}.{}", b64url(claims.to_string().as_bytes()));
    let sig = issuer.sign(body.as_bytes()).unwrap();
    format!("{body}.{}", b64url(&sig))
}

/// Decentralised auth: an operator, an account and a user made here, the server in operator
/// mode with the account preloaded, the user's `.creds` file in `creds_file`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creds_file_authenticates_in_operator_mode() {
    let operator = nkeys::KeyPair::new_operator();
    let account = nkeys::KeyPair::new_account();
    // JetStream (on in every test server) needs a system account in operator mode.
    let system = nkeys::KeyPair::new_account();
    let user = nkeys::KeyPair::new_user();
    let limits = serde_json::json!({"subs": -1, "data": -1, "payload": -1, "imports": -1,
        "exports": -1, "wildcards": true, "conn": -1, "leaf": -1});
    let operator_jwt = jwt(
        &operator,
        &operator.public_key(),
        serde_json::json!({"type": "operator", "version": 2}),
    );
    let account_jwt = jwt(
        &operator,
        &account.public_key(),
        serde_json::json!({"type": "account", "version": 2, "limits": limits}),
    );
    let system_jwt = jwt(
        &operator,
        &system.public_key(),
        serde_json::json!({"type": "account", "version": 2, "limits": limits}),
    );
    let user_jwt = jwt(
        &account,
        &user.public_key(),
        serde_json::json!({"type": "user", "version": 2, "pub": {}, "sub": {},
            "subs": -1, "data": -1, "payload": -1}),
    );
    let server = NatsServer::start(&format!(
        "operator: \"{operator_jwt}\"\nsystem_account: {sys}\nresolver: MEMORY\n\
         resolver_preload: {{\n  {acc}: \"{account_jwt}\"\n  {sys}: \"{system_jwt}\"\n}}\n",
        acc = account.public_key(),
        sys = system.public_key(),
    ));
    let url = server.url("nats");
    let creds = server.dir.path().join("ids.creds");
    std::fs::write(
        &creds,
        format!(
            "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
             -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
            user.seed().unwrap()
        ),
    )
    .unwrap();
    // No credentials: refused.
    let err = nats::connect_with(&url, "ironpost-test", &NatsConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, IdsError::NatsConnect { .. }), "{err:?}");
    // A seed alone (not the user's JWT) is refused too.
    let seed_file = server.dir.path().join("user.nk");
    std::fs::write(&seed_file, user.seed().unwrap()).unwrap();
    let err = nats::connect_with(
        &url,
        "ironpost-test",
        &NatsConfig {
            nkey_seed_file: Some(seed_file),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, IdsError::NatsConnect { .. }), "{err:?}");
    // The creds file: connected; a message goes round through the server.
    let client = nats::connect_with(
        &url,
        "ironpost-test",
        &NatsConfig {
            creds_file: Some(creds),
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{}\n{}", error_chain(&e), server.log()));
    let mut sub = client.subscribe("ironpost.test.creds").await.unwrap();
    client
        .publish("ironpost.test.creds", "hello".into())
        .await
        .unwrap();
    let msg = tokio::time::timeout(
        Duration::from_secs(10),
        futures_util::StreamExt::next(&mut sub),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(&msg.payload[..], b"hello");
}
