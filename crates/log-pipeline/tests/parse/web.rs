//! Web access logs (nginx and Apache, NCSA common and combined) and the service lines read by
//! `parse/service.rs` (postfix, dovecot, proftpd, vsftpd, MySQL): what each yields, and lines
//! that look close but are not theirs.

use super::check_table;

#[test]
fn access_log_table() {
    check_table(
        "combined",
        &[
            // nginx `combined` (the default log_format).
            (
                br#"203.0.113.5 - - [20/Nov/2026:10:00:00 +0000] "GET /index.html HTTP/1.1" 200 612 "-" "curl/8.5.0""#,
                r#"combined ts=2026-11-20T10:00:00Z msg="203.0.113.5 - - [20/Nov/2026:10:00:00 +0000] \"GET /index.html HTTP/1.1\" 200 612 \"-\" \"curl/8.5.0\"" sd[src_ip="203.0.113.5" method="GET" path="/index.html" protocol="HTTP/1.1" status="200" bytes="612" request="GET /index.html HTTP/1.1" user_agent="curl/8.5.0"]"#,
            ),
            // Apache `combined` with a user, a local offset, an escaped quote in the user agent.
            (
                br#"2001:db8::7 - alice [20/Nov/2026:11:00:00 +0100] "POST /login?next=%2F HTTP/2.0" 302 - "https://example.com/" "Mozilla/5.0 \"x\"""#,
                r#"combined ts=2026-11-20T10:00:00Z msg="2001:db8::7 - alice [20/Nov/2026:11:00:00 +0100] \"POST /login?next=%2F HTTP/2.0\" 302 - \"https://example.com/\" \"Mozilla/5.0 \\\"x\\\"\"" sd[src_ip="2001:db8::7" http_user="alice" method="POST" path="/login?next=%2F" protocol="HTTP/2.0" status="302" request="POST /login?next=%2F HTTP/2.0" referer="https://example.com/" user_agent="Mozilla/5.0 \\\"x\\\""]"#,
            ),
            // Apache `common`, a host name (HostnameLookups On): no src_ip.
            (
                br#"client.example.net - - [20/Nov/2026:10:00:00 +0000] "GET / HTTP/1.0" 404 153"#,
                r#"combined ts=2026-11-20T10:00:00Z msg="client.example.net - - [20/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.0\" 404 153" sd[method="GET" path="/" protocol="HTTP/1.0" status="404" bytes="153" request="GET / HTTP/1.0"]"#,
            ),
            // TLS bytes on the HTTP port: no method or path, the request kept as written.
            (
                br#"203.0.113.6 - - [20/Nov/2026:10:00:00 +0000] "\x16\x03\x01\x00" 400 157 "-" "-""#,
                r#"combined ts=2026-11-20T10:00:00Z msg="203.0.113.6 - - [20/Nov/2026:10:00:00 +0000] \"\\x16\\x03\\x01\\x00\" 400 157 \"-\" \"-\"" sd[src_ip="203.0.113.6" status="400" bytes="157" request="\\x16\\x03\\x01\\x00"]"#,
            ),
            // Not access log lines: a status of four digits, no quotes around the request.
            (
                br#"203.0.113.5 - - [20/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 2000 1"#,
                r#"raw msg="203.0.113.5 - - [20/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 2000 1""#,
            ),
            (
                br#"203.0.113.5 - - [20/Nov/2026:10:00:00 +0000] GET / 200 1"#,
                r#"raw msg="203.0.113.5 - - [20/Nov/2026:10:00:00 +0000] GET / 200 1""#,
            ),
        ],
    );
}

#[test]
fn error_log_table() {
    check_table(
        "web_error",
        &[
            (
                br#"2026/11/20 10:25:00 [error] 1234#1234: *5 user "admin": password mismatch, client: 203.0.113.170, server: example.com, request: "GET /admin/ HTTP/1.1", host: "example.com""#,
                r#"web_error ts=2026-11-20T10:25:00Z sev=err app=nginx pid=1234 msg="*5 user \"admin\": password mismatch, client: 203.0.113.170, server: example.com, request: \"GET /admin/ HTTP/1.1\", host: \"example.com\"" sd[src_ip="203.0.113.170"]"#,
            ),
            (
                br#"[Fri Nov 20 10:25:02.123456 2026] [auth_basic:error] [pid 2345:tid 140211] [client 203.0.113.171:51234] AH01617: user bob: authentication failure for "/private": Password Mismatch"#,
                r#"web_error ts=2026-11-20T10:25:02.123456Z sev=err app=apache pid=2345 msg="AH01617: user bob: authentication failure for \"/private\": Password Mismatch" sd[src_ip="203.0.113.171"]"#,
            ),
            // nginx's warn level; no client.
            (
                b"2026/11/20 10:25:06 [warn] 77#77: conflicting server name \"example.com\" on 0.0.0.0:80, ignored",
                r#"web_error ts=2026-11-20T10:25:06Z sev=warning app=nginx pid=77 msg="conflicting server name \"example.com\" on 0.0.0.0:80, ignored""#,
            ),
        ],
    );
}

#[test]
fn service_lines_table() {
    check_table(
        "services",
        &[
            (
                b"Nov 20 10:11:00 mx postfix/smtpd[4200]: warning: unknown[203.0.113.70]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
                r#"rfc3164 ts=2026-11-20T10:11:00Z host=mx app=postfix/smtpd pid=4200 msg="warning: unknown[203.0.113.70]: SASL LOGIN authentication failed: UGFzc3dvcmQ6" auth{ip=203.0.113.70 out=failure}"#,
            ),
            (
                b"Nov 20 10:12:00 mx dovecot: imap-login: Disconnected (auth failed, 3 attempts in 12 secs): user=<bob>, method=PLAIN, rip=203.0.113.80, lip=192.0.2.25, TLS",
                r#"rfc3164 ts=2026-11-20T10:12:00Z host=mx app=dovecot msg="imap-login: Disconnected (auth failed, 3 attempts in 12 secs): user=<bob>, method=PLAIN, rip=203.0.113.80, lip=192.0.2.25, TLS" auth{ip=203.0.113.80 out=failure}"#,
            ),
            (
                b"Nov 20 10:12:03 mx dovecot[4300]: auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=bob rhost=203.0.113.83",
                r#"rfc3164 ts=2026-11-20T10:12:03Z host=mx app=dovecot pid=4300 msg="auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=bob rhost=203.0.113.83" auth{ip=203.0.113.83 user="bob" out=failure}"#,
            ),
            (
                b"Nov 20 10:13:02 ftp proftpd[4402]: ftp.example.com (client.example.net[203.0.113.92]) - USER bob (Login failed): Incorrect password",
                r#"rfc3164 ts=2026-11-20T10:13:02Z host=ftp app=proftpd pid=4402 msg="ftp.example.com (client.example.net[203.0.113.92]) - USER bob (Login failed): Incorrect password" auth{ip=203.0.113.92 out=failure}"#,
            ),
            (
                b"Fri Nov 20 10:13:00 2026 [pid 4400] [bob] FAIL LOGIN: Client \"::ffff:203.0.113.90\"",
                r#"raw msg="Fri Nov 20 10:13:00 2026 [pid 4400] [bob] FAIL LOGIN: Client \"::ffff:203.0.113.90\"" auth{ip=203.0.113.90 out=failure}"#,
            ),
            (
                b"Nov 20 10:15:01 db mariadbd[4601]: 2026-11-20 10:15:01 31 [Warning] Access denied for user 'admin'@'203.0.113.111' (using password: NO)",
                r#"rfc3164 ts=2026-11-20T10:15:01Z host=db app=mariadbd pid=4601 msg="2026-11-20 10:15:01 31 [Warning] Access denied for user 'admin'@'203.0.113.111' (using password: NO)" auth{ip=203.0.113.111 out=failure}"#,
            ),
            // An ordinary line of another program: nothing extracted.
            (
                b"Nov 20 10:15:02 db app[1]: hello",
                r#"rfc3164 ts=2026-11-20T10:15:02Z host=db app=app pid=1 msg="hello""#,
            ),
        ],
    );
}
