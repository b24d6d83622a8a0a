//! Logging setup: JSON (one object per line, with span fields such as `trace_id`) or pretty, and a
//! level that SIGHUP can change without a restart.

use ironpost_core::config::{LogFormat, LogLevel};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

/// Changes the active log level.
#[derive(Clone)]
pub(crate) struct LogHandle {
    handle: Option<reload::Handle<EnvFilter, Registry>>,
}

impl std::fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogHandle").finish_non_exhaustive()
    }
}

fn filter(level: LogLevel) -> EnvFilter {
    // Our crates at the configured level; dependencies one notch quieter unless debugging them.
    // Directive targets match by prefix: `ironpost` covers every ironpost_* crate.
    EnvFilter::new(format!("warn,ironpost={level}"))
}

impl LogHandle {
    pub(crate) fn set_level(&self, level: LogLevel) -> Result<(), reload::Error> {
        match &self.handle {
            Some(h) => h.reload(filter(level)),
            None => Ok(()),
        }
    }
}

/// The handle of the subscriber this process installed, for the log-level reloader.
static INSTALLED: std::sync::OnceLock<LogHandle> = std::sync::OnceLock::new();

/// The installed subscriber's handle; one that does nothing when none was installed (in-process
/// tests).
pub(crate) fn handle() -> LogHandle {
    INSTALLED
        .get()
        .cloned()
        .unwrap_or(LogHandle { handle: None })
}

/// Installs the global subscriber (once per process; later calls only return a handle that does
/// nothing, which is what in-process tests need).
pub(crate) fn init(level: LogLevel, format: LogFormat) -> LogHandle {
    let (filter_layer, handle) = reload::Layer::new(filter(level));
    let fmt_layer = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
    };
    match tracing_subscriber::registry()
        .with(filter_layer)
        .with(fmt_layer)
        .try_init()
    {
        Ok(()) => {
            let h = LogHandle {
                handle: Some(handle),
            };
            let _ = INSTALLED.set(h.clone());
            h
        }
        Err(_) => LogHandle { handle: None },
    }
}
