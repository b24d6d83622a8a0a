//! `ironpost-cli console url|login` against a real daemon: `url` prints the running listener;
//! `login` prints a one-time link that opens a console session (cookie, CSRF field) without the
//! token — the second use is refused — and that session may change state (no token_file is
//! configured here: without the link the console is read-only). With `[http] tls_cert`, `url`
//! prints `https://` and `metrics` fetches over https.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{Daemon, run, text};

/// GET or POST over HTTP/1.0: (status, lower-cased head, body).
fn exchange(
    host: &str,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: &str,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(host).unwrap();
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {host}\r\n");
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: {c}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, head.to_ascii_lowercase(), body.to_owned())
}

#[test]
fn console_login_link_opens_one_session_that_may_act() {
    let d = Daemon::start(&["--defaults"], &[]);
    let o = run(d.cli().args(["console", "url"]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).trim(), format!("http://{}/", d.http));

    // Read-only without a session: no token_file, so mutations are refused outright.
    let (code, _, body) = exchange(&d.http, "POST", "/blocks/unblock", None, "cidr=198.18.9.9");
    assert_eq!(code, 403);
    assert!(body.contains("console login"), "{body}");

    let o = run(d.cli().args(["console", "login", "--output", "json"]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let url = v["url"].as_str().unwrap();
    let path = url
        .strip_prefix(&format!("http://{}", d.http))
        .unwrap()
        .to_owned();
    assert!(
        path.starts_with("/login/") && path.len() == "/login/".len() + 64,
        "{path}"
    );
    let ticket = d
        .dir
        .path()
        .join("data/console-login")
        .join(&path["/login/".len()..]);
    assert!(ticket.exists(), "{}", ticket.display());

    let (code, head, _) = exchange(&d.http, "GET", &path, None, "");
    assert_eq!(code, 303, "{head}");
    assert!(!ticket.exists(), "the ticket is spent");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (again, _, _) = exchange(&d.http, "GET", &path, None, "");
    assert_eq!(again, 403, "a link opens one session");

    let (code, _, page) = exchange(&d.http, "GET", "/blocks", Some(&cookie), "");
    assert_eq!(code, 200);
    assert!(page.contains("Log out"), "{page}");
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    // The session may act (the XDP engine is off here: the attempt is answered and audited).
    let (code, head, _) = exchange(
        &d.http,
        "POST",
        "/blocks/unblock",
        Some(&cookie),
        &format!("cidr=198.18.9.9&csrf={csrf}"),
    );
    assert_eq!(code, 303, "{head}");
    assert!(head.contains("location: /blocks?failed="), "{head}");
    let actions = common::wait_for(10, "the audited attempt", || {
        let o = run(d.cli().args(["actions", "list", "--output", "json"]));
        let v: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).ok()?;
        (!v.is_empty()).then_some(v)
    });
    assert_eq!(actions[0]["action_type"], "ip_unblock");
    let by = actions[0]["target"]["user"].as_str().unwrap();
    assert!(by.starts_with("console:session:"), "{by}");
}

/// With `[http] tls_cert` (here from the environment, as the daemon's): `console url` prints
/// `https://`, and `metrics` fetches over https with the test CA in `SSL_CERT_FILE`.
#[test]
fn console_url_and_metrics_use_https_with_tls() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let certs = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "ironpost console test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let (ca_pem, cert, key_pem) = (
        certs.path().join("ca.pem"),
        certs.path().join("server.pem"),
        certs.path().join("server.key"),
    );
    std::fs::write(&ca_pem, ca_cert.pem()).unwrap();
    std::fs::write(&cert, server.pem()).unwrap();
    std::fs::write(&key_pem, key.serialize_pem()).unwrap();
    let (cert, key_pem) = (cert.display().to_string(), key_pem.display().to_string());
    let d = Daemon::start(
        &["--defaults"],
        &[
            ("IRONPOST_HTTP_TLS_CERT", &cert),
            ("IRONPOST_HTTP_TLS_KEY", &key_pem),
        ],
    );
    let o = run(d.cli().args(["console", "url"]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).trim(), format!("https://{}/", d.http));
    let o = run(d.cli().env("SSL_CERT_FILE", &ca_pem).arg("metrics"));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("ironpost_http_tls_handshakes_refused_total"),
        "{}",
        text(&o.stdout)
    );
}
