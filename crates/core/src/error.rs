//! Walking an error's `source()` chain: one line for logs and health reasons, and the check every
//! crate's tests run on its error type — a message must not repeat its source's text, or the cause
//! is printed twice once the chain is joined (`{source}` interpolated *and* returned by `source()`).

use std::error::Error;

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
