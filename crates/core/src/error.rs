//! Core's text-form error ([`ParseError`]), and walking an error's `source()` chain: one line for
//! logs and health reasons, and the check every crate's tests run on its error type — a message
//! must not repeat its source's text, or the cause is printed twice once the chain is joined
//! (`{source}` interpolated *and* returned by `source()`).
//!
//! Why core has more than one error type (STYLE rule 8 says one enum per crate): core is not one
//! component but the vocabulary every crate shares, and each of its error types belongs to one
//! independent API that a different crate calls — [`ParseError`] (every `FromStr`),
//! [`ConfigError`](crate::config::ConfigError) (the config loader),
//! [`ModuleError`](crate::ModuleError) (the lifecycle trait; it wraps the module crate's own enum),
//! [`DirectoryError`](crate::containers::DirectoryError) (the container-directory trait),
//! [`DurableWriteError`](crate::fs::DurableWriteError) (state files) and, with `http-client`,
//! [`HttpError`](crate::http::HttpError). One enum for all of them would make `Severity::from_str`
//! claim it can fail with a TLS handshake; callers could no longer match what their call can
//! actually return.

use std::error::Error;

use ipnet::IpNet;

/// Why a text is not one of core's values (`FromStr` of [`TraceId`](crate::TraceId),
/// [`Severity`](crate::Severity), [`Evidence`](crate::Evidence), [`Protocol`](crate::Protocol),
/// [`Cidr`](crate::net::Cidr) and the closed name sets). The parser's reason is part of the message
/// (these errors reach users through serde and clap, which print only the message), so it is not
/// also a `source`: the cause is printed once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("invalid trace id `{input}`: expected 32 hex digits")]
    TraceId { input: String },
    #[error("unknown severity `{input}`, expected one of info, low, medium, high, critical")]
    Severity { input: String },
    #[error("unknown evidence `{input}`, expected verified, spoofable or forgeable")]
    Evidence { input: String },
    #[error("unknown protocol `{input}`, expected tcp, udp, icmp, icmpv6 or a number 0-255")]
    Protocol { input: String },
    /// A name that is none of a closed set's (`PacketAction`, `AlertSource`, `ActionType`,
    /// `ActionOutcome`): which set, and the text.
    #[error("unknown {kind} `{input}`")]
    Name { kind: &'static str, input: String },
    #[error("invalid CIDR `{input}`: {reason}")]
    Cidr {
        input: String,
        reason: ipnet::AddrParseError,
    },
    #[error("CIDR `{input}` has host bits set; did you mean `{network}`?")]
    HostBits { input: String, network: IpNet },
    #[error("invalid IP address `{input}`: {reason}")]
    Addr {
        input: String,
        reason: std::net::AddrParseError,
    },
}

impl ParseError {
    pub(crate) fn name(kind: &'static str, input: &str) -> Self {
        ParseError::Name {
            kind,
            input: input.to_owned(),
        }
    }
}

/// The error and its sources, outermost first.
pub fn chain<'a>(e: &'a (dyn Error + 'static)) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(e), |c: &&'a (dyn Error + 'static)| (*c).source())
}

/// An error and its sources on one line (`a: b: c`), for logs, health reasons and stored events.
///
/// A link whose text its parent's message already contains is left out: our own errors never do
/// that (see [`repeated_cause`]), but some libraries' errors print their cause and return it
/// as `source()` too (async-nats' do), and the cause would otherwise appear twice.
pub fn error_chain(e: &dyn Error) -> String {
    let mut s = e.to_string();
    let mut parent = s.clone();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if text.is_empty() || !parent.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        parent = text;
        cur = c.source();
    }
    s
}

/// A message of the chain that already contains the text of its own source: the cause would be
/// printed twice by [`error_chain`] (or `anyhow`'s `{:#}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatedCause {
    /// The outer message.
    pub message: String,
    /// Its source's message, found inside `message`.
    pub source: String,
}

/// The first link of `e`'s chain whose message contains its source's message, if any. Sources
/// with an empty message are skipped (an empty string is inside every message).
pub fn repeated_cause(e: &(dyn Error + 'static)) -> Option<RepeatedCause> {
    chain(e).find_map(|outer| {
        let inner = outer.source()?;
        let (message, source) = (outer.to_string(), inner.to_string());
        (!source.is_empty() && message.contains(&source))
            .then_some(RepeatedCause { message, source })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read x: {source}")]
    struct Twice {
        source: std::io::Error,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read x")]
    struct Once {
        #[source]
        source: std::io::Error,
    }

    fn io() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")
    }

    #[test]
    fn a_cause_interpolated_and_returned_as_source_is_reported() {
        let e = Twice { source: io() };
        assert_eq!(
            repeated_cause(&e),
            Some(RepeatedCause {
                message: "cannot read x: no such file".into(),
                source: "no such file".into(),
            })
        );
    }

    #[test]
    fn a_cause_printed_once_passes_and_the_chain_joins_every_link() {
        let e = Once { source: io() };
        assert_eq!(repeated_cause(&e), None);
        assert_eq!(chain(&e).count(), 2);
        assert_eq!(error_chain(&e), "cannot read x: no such file");
    }

    #[test]
    fn the_joined_chain_leaves_out_a_cause_its_parent_already_printed() {
        let e = Twice { source: io() };
        assert_eq!(error_chain(&e), "cannot read x: no such file");
        let outer = crate::ModuleError::start("ids", e);
        assert_eq!(
            error_chain(&outer),
            "module `ids` failed to start: cannot read x: no such file"
        );
    }

    #[test]
    fn core_errors_print_their_cause_once() {
        let config = crate::config::ConfigError::Read {
            path: "/etc/ironpost/ironpost.toml".into(),
            source: io(),
        };
        let module = crate::ModuleError::start("store", Once { source: io() });
        for e in [&config as &(dyn Error + 'static), &module] {
            assert_eq!(repeated_cause(e), None, "{}", error_chain(e));
        }
        assert_eq!(
            error_chain(&module),
            "module `store` failed to start: cannot read x: no such file"
        );
    }
}
