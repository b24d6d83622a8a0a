//! [`RedisAlertState`]: [`AlertState`] shared through Redis, so several pipelines (threads, nodes)
//! count one threshold and raise one alert. A tiny blocking RESP2 client over `TcpStream` lives
//! here (no Redis crate): arrays of bulk strings out; simple, error, integer, bulk and array
//! replies in, with bounded sizes and 2 s connect / read / write timeouts.
//!
//! Every method is one round trip: a Lua script run with `EVAL`, atomic on the server.
//!
//! | method          | keys (after the prefix)        | commands                                     |
//! |-----------------|--------------------------------|----------------------------------------------|
//! | `record_hit`    | `hits:<key>`, `newest:<key>`   | `GET`/`SET PX`, `ZADD`, `ZREMRANGEBYSCORE`, `ZCARD`, `ZREMRANGEBYRANK`, `PEXPIRE` |
//! | `clear_hits`    | `hits:<key>`                   | `DEL`                                        |
//! | `claim_alert`   | `last:<key>`                   | `GET`, compare on record time, `SET PX`      |
//! | `release_alert` | `last:<key>`                   | `GET`, `DEL` if still ours                   |
//! | `take_rate`     | `rate:<rule>:<minute>`         | `INCR`, `EXPIRE 120`                         |
//!
//! **Differences from [`MemoryAlertState`].** Verdicts compare record times exactly as in memory
//! (late hits, windows, dedup). But keys also carry a wall-clock TTL (window + tolerance + 60 s
//! for hits, dedup window + 60 s for claims) so Redis forgets idle groups: replaying logs *slower*
//! than real time may forget a group early. `take_rate` charges a record to its own minute (memory
//! charges an out-of-order record to the current minute). There is no `max_groups` bound: Redis's
//! `maxmemory` and the TTLs bound it, and `stats().groups` is 0 unless a fallback is in use.
//!
//! **Failure.** Constructing ([`RedisAlertState::connect`]) fails with an error naming the URL
//! (password redacted) when Redis cannot be reached. Later, a failing operation falls back to an
//! in-process [`MemoryAlertState`] (fail open: matches keep being counted and can still alert,
//! per node), is counted in [`StateStats::backend_errors`], is logged once per outage, and the
//! connection is retried after one second. Nothing panics.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::pipeline::PipelineError;

use super::state::{AlertState, HitVerdict, MemoryAlertState, StateStats};

const TIMEOUT: Duration = Duration::from_secs(2);
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Keys kept in the fallback state during an outage.
const FALLBACK_GROUPS: usize = 100_000;
const MAX_LINE: usize = 64 * 1024;
const MAX_BULK: usize = 1 << 20;
const MAX_ARRAY: usize = 1024;
const MAX_DEPTH: u8 = 4;
/// Longest TTL put on a key: 30 days, in milliseconds.
const MAX_TTL_MS: i64 = 30 * 24 * 3600 * 1000;

/// KEYS: hits zset, newest time. ARGV: at, window, keep, tolerance, ttl ms, member.
/// Returns the count inside the window, or -1 for a late hit.
const RECORD_HIT: &str = r"
local at = tonumber(ARGV[1])
local newest = at
local n = redis.call('GET', KEYS[2])
if n then
  n = tonumber(n)
  if at < n - tonumber(ARGV[4]) then return -1 end
  if n > at then newest = n end
end
if newest == at then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[5])
else
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.0f', newest - tonumber(ARGV[2])))
local c = redis.call('ZCARD', KEYS[1])
local keep = tonumber(ARGV[3])
if c > keep then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, c - keep - 1)
  c = keep
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return c
";

/// KEYS: last alert. ARGV: at, dedup window, ttl ms. Returns 1 when claimed.
const CLAIM_ALERT: &str = r"
local last = redis.call('GET', KEYS[1])
local at = tonumber(ARGV[1])
if last then
  local l = tonumber(last)
  if math.abs(at - l) < tonumber(ARGV[2]) then return 0 end
  if l > at then return 1 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
";

/// KEYS: last alert. ARGV: at.
const RELEASE_ALERT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
";

/// KEYS: rate counter. Returns the alerts taken in the minute, this one included.
const TAKE_RATE: &str = r"
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('EXPIRE', KEYS[1], 120) end
return c
";

/// `redis://[[user]:password@]host[:port][/db]`.
#[derive(Clone, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
    user: Option<String>,
    password: Option<String>,
    db: u32,
}

impl Target {
    fn parse(url: &str) -> Result<Target, &'static str> {
        let rest = url
            .strip_prefix("redis://")
            .ok_or("expected `redis://host:port[/db]`")?;
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((a, r)) => (Some(a), r),
            None => (None, rest),
        };
        let (hostport, db) = match rest.split_once('/') {
            Some((h, "")) => (h, 0),
            Some((h, d)) => (h, d.parse().map_err(|_| "database must be a number")?),
            None => (rest, 0),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, p) = v6.split_once(']').ok_or("unclosed `[` in host")?;
            (h, p.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err("missing host");
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| "port must be a number 0-65535")?,
            None => 6379,
        };
        let (user, password) = match auth {
            None => (None, None),
            Some(a) => match a.split_once(':') {
                Some((u, p)) => ((!u.is_empty()).then(|| u.to_owned()), Some(p.to_owned())),
                None => (None, Some(a.to_owned())),
            },
        };
        Ok(Target {
            host: host.to_owned(),
            port,
            user,
            password,
            db,
        })
    }
}

impl fmt::Display for Target {
    /// The URL with the password redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("redis://")?;
        if self.password.is_some() {
            write!(f, "{}:***@", self.user.as_deref().unwrap_or(""))?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}/{}", self.host, self.port, self.db)
        } else {
            write!(f, "{}:{}/{}", self.host, self.port, self.db)
        }
    }
}

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

/// One blocking connection.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(t: &Target) -> io::Result<Conn> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "host resolved to no address");
        for addr in (t.host.as_str(), t.port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, TIMEOUT) {
                Ok(s) => {
                    s.set_read_timeout(Some(TIMEOUT))?;
                    s.set_write_timeout(Some(TIMEOUT))?;
                    s.set_nodelay(true)?;
                    return Ok(Conn {
                        reader: BufReader::new(s.try_clone()?),
                        writer: s,
                        buf: Vec::new(),
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn call(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        self.buf.clear();
        self.buf
            .extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            self.buf
                .extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            self.buf.extend_from_slice(a);
            self.buf.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&self.buf)?;
        read_reply(&mut self.reader, 0)
    }
}

fn bad(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn read_line(r: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    Read::take(&mut *r, MAX_LINE as u64).read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "Redis closed the connection",
        ));
    }
    if !line.ends_with(b"\r\n") {
        return Err(bad("reply line too long or not CRLF-terminated"));
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).map_err(|_| bad("reply line is not UTF-8"))
}

fn read_len(text: &str, max: usize) -> io::Result<Option<usize>> {
    let n: i64 = text.parse().map_err(|_| bad("bad length in reply"))?;
    if n < 0 {
        return Ok(None);
    }
    let n = usize::try_from(n).map_err(|_| bad("bad length in reply"))?;
    if n > max {
        return Err(bad("reply larger than allowed"));
    }
    Ok(Some(n))
}

fn read_reply(r: &mut impl BufRead, depth: u8) -> io::Result<Reply> {
    let line = read_line(r)?;
    let (kind, rest) = line.split_at_checked(1).ok_or(bad("empty reply line"))?;
    Ok(match kind {
        "+" => Reply::Simple(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Int(rest.parse().map_err(|_| bad("bad integer reply"))?),
        "$" => match read_len(rest, MAX_BULK)? {
            None => Reply::Bulk(None),
            Some(n) => {
                let mut data = vec![0; n + 2];
                r.read_exact(&mut data)?;
                if !data.ends_with(b"\r\n") {
                    return Err(bad("bulk reply not CRLF-terminated"));
                }
                data.truncate(n);
                Reply::Bulk(Some(data))
            }
        },
        "*" => match read_len(rest, MAX_ARRAY)? {
            None => Reply::Array(None),
            Some(_) if depth >= MAX_DEPTH => return Err(bad("reply nested too deeply")),
            Some(n) => Reply::Array(Some(
                (0..n)
                    .map(|_| read_reply(r, depth + 1))
                    .collect::<io::Result<_>>()?,
            )),
        },
        _ => return Err(bad("unknown reply type")),
    })
}

/// A failed operation: the connection is broken (`Io`) or the server said no (`Server`).
enum OpError {
    Io(io::Error),
    Server(String),
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::Io(e) => write!(f, "{e}"),
            OpError::Server(m) => write!(f, "server error: {m}"),
        }
    }
}

/// [`AlertState`] in Redis, shared by every pipeline that uses the same URL and key prefix.
pub struct RedisAlertState {
    target: Target,
    prefix: String,
    conn: Option<Conn>,
    /// No reconnect attempt before this instant (after a failure).
    retry_at: Option<Instant>,
    /// Serves operations while Redis fails.
    fallback: MemoryAlertState,
    errors: u64,
    /// Logged the current outage already.
    warned: bool,
    /// Makes hit members unique across instances: two hits at the same time both count.
    member_id: String,
    seq: u64,
    key_buf: String,
}

impl fmt::Debug for RedisAlertState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAlertState")
            .field("url", &self.target.to_string())
            .field("prefix", &self.prefix)
            .field("connected", &self.conn.is_some())
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

impl RedisAlertState {
    /// Connects to `url` (`redis://[[user]:password@]host[:port][/db]`), authenticating and
    /// selecting the database when given, and checks the server with `PING`. Keys are named
    /// `<prefix>hits:…`, `<prefix>last:…`, `<prefix>rate:…`; the daemon uses
    /// [`RedisAlertState::DEFAULT_PREFIX`], tests a unique one.
    pub fn connect(url: &str, prefix: &str) -> Result<RedisAlertState, PipelineError> {
        let target = Target::parse(url).map_err(|reason| PipelineError::RedisUrl {
            url: redact(url),
            reason,
        })?;
        let conn = session(&target).map_err(|e| match e {
            OpError::Io(source) => PipelineError::RedisConnect {
                url: target.to_string(),
                source,
            },
            OpError::Server(message) => PipelineError::RedisServer {
                url: target.to_string(),
                message,
            },
        })?;
        static INSTANCES: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Ok(RedisAlertState {
            target,
            prefix: prefix.to_owned(),
            conn: Some(conn),
            retry_at: None,
            fallback: MemoryAlertState::new(FALLBACK_GROUPS),
            errors: 0,
            warned: false,
            member_id: format!(
                "{}.{nanos}.{}",
                std::process::id(),
                INSTANCES.fetch_add(1, Ordering::Relaxed)
            ),
            seq: 0,
            key_buf: String::new(),
        })
    }

    /// The key prefix for production use.
    pub const DEFAULT_PREFIX: &'static str = "ironpost:alert:";

    /// Runs `script` with `keys` (names after the prefix) and `args`; its integer reply.
    fn eval(&mut self, script: &str, keys: &[&str], args: &[&str]) -> Result<i64, OpError> {
        if self.conn.is_none() {
            if self.retry_at.is_some_and(|t| Instant::now() < t) {
                return Err(OpError::Io(io::Error::other("waiting to reconnect")));
            }
            match session(&self.target) {
                Ok(c) => self.conn = Some(c),
                Err(e) => {
                    self.retry_at = Some(Instant::now() + RETRY_AFTER);
                    return Err(e);
                }
            }
        }
        let full: Vec<String> = keys.iter().map(|k| format!("{}{k}", self.prefix)).collect();
        let nkeys = keys.len().to_string();
        let mut argv: Vec<&[u8]> = vec![b"EVAL", script.as_bytes(), nkeys.as_bytes()];
        argv.extend(full.iter().map(|k| k.as_bytes()));
        argv.extend(args.iter().map(|a| a.as_bytes()));
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| OpError::Io(io::Error::other("no connection")))?;
        match conn.call(&argv) {
            Ok(Reply::Int(n)) => Ok(n),
            Ok(Reply::Error(m)) => Err(OpError::Server(m)),
            Ok(other) => Err(OpError::Server(format!("unexpected reply {other:?}"))),
            Err(e) => {
                self.conn = None;
                self.retry_at = Some(Instant::now() + RETRY_AFTER);
                Err(OpError::Io(e))
            }
        }
    }

    /// Runs a script; `None` (counted, logged once per outage) when Redis failed.
    fn run(&mut self, op: &str, script: &str, keys: &[&str], args: &[&str]) -> Option<i64> {
        match self.eval(script, keys, args) {
            Ok(n) => {
                if self.warned {
                    tracing::info!(url = %self.target, "Redis alert state reachable again");
                    self.warned = false;
                }
                Some(n)
            }
            Err(e) => {
                self.errors += 1;
                if !self.warned {
                    tracing::warn!(
                        url = %self.target, op, error = %e,
                        "Redis alert state failed; using in-process state until it recovers"
                    );
                    self.warned = true;
                }
                None
            }
        }
    }

    fn key(&mut self, kind: &str, key: &str) -> String {
        self.key_buf.clear();
        self.key_buf.push_str(kind);
        self.key_buf.push_str(key);
        self.key_buf.clone()
    }
}

/// Opens a connection, `AUTH`, `SELECT`, `PING`.
fn session(t: &Target) -> Result<Conn, OpError> {
    let mut c = Conn::open(t).map_err(OpError::Io)?;
    let mut check = |args: &[&[u8]]| match c.call(args) {
        Ok(Reply::Error(m)) => Err(OpError::Server(m)),
        Ok(_) => Ok(()),
        Err(e) => Err(OpError::Io(e)),
    };
    if let Some(p) = &t.password {
        match &t.user {
            Some(u) => check(&[b"AUTH", u.as_bytes(), p.as_bytes()])?,
            None => check(&[b"AUTH", p.as_bytes()])?,
        }
    }
    if t.db != 0 {
        check(&[b"SELECT", t.db.to_string().as_bytes()])?;
    }
    check(&[b"PING"])?;
    Ok(c)
}

/// `url` with anything between `//` and `@` replaced, for errors about unparsable URLs.
fn redact(url: &str) -> String {
    match (url.find("//"), url.rfind('@')) {
        (Some(s), Some(a)) if a > s => format!("{}***{}", &url[..s + 2], &url[a..]),
        _ => url.to_owned(),
    }
}

/// Microseconds to a TTL in milliseconds, plus a minute of slack, within `1..=MAX_TTL_MS`.
fn ttl_ms(micros: i64) -> String {
    (micros / 1000)
        .saturating_add(60_000)
        .clamp(1, MAX_TTL_MS)
        .to_string()
}

impl AlertState for RedisAlertState {
    fn record_hit(
        &mut self,
        key: &str,
        at: i64,
        window: i64,
        keep: u32,
        tolerance: i64,
    ) -> HitVerdict {
        self.seq += 1;
        let member = format!("{at}:{}:{}", self.member_id, self.seq);
        let (hits, newest) = (self.key("hits:", key), self.key("newest:", key));
        let args = [
            at.to_string(),
            window.to_string(),
            keep.max(1).to_string(),
            tolerance.to_string(),
            ttl_ms(window.saturating_add(tolerance)),
            member,
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match self.run("record_hit", RECORD_HIT, &[&hits, &newest], &args) {
            Some(n) if n < 0 => HitVerdict::Late,
            Some(n) => HitVerdict::Counted(u32::try_from(n).unwrap_or(u32::MAX)),
            None => self.fallback.record_hit(key, at, window, keep, tolerance),
        }
    }

    fn clear_hits(&mut self, key: &str) {
        let hits = self.key("hits:", key);
        self.fallback.clear_hits(key);
        self.run(
            "clear_hits",
            "redis.call('DEL', KEYS[1]) return 0",
            &[&hits],
            &[],
        );
    }

    fn claim_alert(&mut self, key: &str, at: i64, dedup_window: i64) -> bool {
        let last = self.key("last:", key);
        let args = [
            at.to_string(),
            dedup_window.to_string(),
            ttl_ms(dedup_window),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match self.run("claim_alert", CLAIM_ALERT, &[&last], &args) {
            Some(n) => n == 1,
            None => self.fallback.claim_alert(key, at, dedup_window),
        }
    }

    fn release_alert(&mut self, key: &str, at: i64) {
        let last = self.key("last:", key);
        self.fallback.release_alert(key, at);
        self.run("release_alert", RELEASE_ALERT, &[&last], &[&at.to_string()]);
    }

    fn take_rate(&mut self, rule_id: &str, at: i64, per_minute: u32) -> bool {
        let minute = at.div_euclid(60_000_000);
        let rate = self.key("rate:", &format!("{rule_id}:{minute}"));
        match self.run("take_rate", TAKE_RATE, &[&rate], &[]) {
            Some(n) => n <= i64::from(per_minute),
            None => self.fallback.take_rate(rule_id, at, per_minute),
        }
    }

    fn stats(&self) -> StateStats {
        StateStats {
            backend_errors: self.errors,
            ..self.fallback.stats()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("redis://127.0.0.1:6379").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.db), ("127.0.0.1", 6379, 0));
        let t = Target::parse("redis://:s3cret@cache:7000/3").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.db, t.password.as_deref()),
            ("cache", 7000, 3, Some("s3cret"))
        );
        assert_eq!(t.to_string(), "redis://:***@cache:7000/3");
        let t = Target::parse("redis://u:p@[::1]/").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.user.as_deref()),
            ("::1", 6379, Some("u"))
        );
        assert!(Target::parse("http://x").is_err());
        assert!(Target::parse("redis://x:port").is_err());
        assert!(Target::parse("redis://x/db").is_err());
        assert_eq!(redact("redis://:pw@h:1/x"), "redis://***@h:1/x");
    }

    #[test]
    fn replies() {
        let parse = |b: &[u8]| read_reply(&mut io::Cursor::new(b.to_vec()), 0).ok();
        assert_eq!(parse(b"+OK\r\n"), Some(Reply::Simple("OK".into())));
        assert_eq!(parse(b"-ERR x\r\n"), Some(Reply::Error("ERR x".into())));
        assert_eq!(parse(b":-3\r\n"), Some(Reply::Int(-3)));
        assert_eq!(parse(b"$-1\r\n"), Some(Reply::Bulk(None)));
        assert_eq!(
            parse(b"$2\r\nhi\r\n"),
            Some(Reply::Bulk(Some(b"hi".to_vec())))
        );
        assert_eq!(
            parse(b"*2\r\n:1\r\n$0\r\n\r\n"),
            Some(Reply::Array(Some(vec![
                Reply::Int(1),
                Reply::Bulk(Some(vec![]))
            ])))
        );
        assert_eq!(parse(b"$99999999\r\n"), None);
        assert_eq!(parse(b"*99999\r\n"), None);
        assert_eq!(parse(b"$2\r\nhi"), None);
        assert_eq!(parse(b"?\r\n"), None);
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n"), None);
    }
}
