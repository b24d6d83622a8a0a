//! Errors of the anomaly IDS crate: the model file, and the JetStream stream and consumer that
//! carry flow telemetry. Each variant names what it is about (path, stream, durable consumer).

use std::path::PathBuf;

use async_nats::jetstream::{consumer, context, stream};

/// What can go wrong loading or running a model, or setting up the telemetry transport.
#[derive(Debug, thiserror::Error)]
pub enum IdsError {
    /// The file could not be read, parsed, typed or run by tract. tract reports its errors as one
    /// chain of context (an `anyhow`-style error), so the source is kept type-erased; its links
    /// are still walked by `source()`.
    #[error("anomaly model {}", path.display())]
    Model {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The model's attack probability for a probe row was outside [0, 1].
    #[error("anomaly model {}: score {value} for a probe row is not a probability", path.display())]
    NotAProbability { path: PathBuf, value: f32 },

    #[error("JetStream stream `{stream}` (subject `{subject}`) cannot be opened or created")]
    Stream {
        stream: String,
        subject: String,
        #[source]
        source: context::CreateStreamError,
    },

    #[error("JetStream stream `{stream}` cannot be deleted")]
    DeleteStream {
        stream: String,
        #[source]
        source: context::DeleteStreamError,
    },

    #[error("JetStream consumer `{durable}` cannot be opened or created")]
    Consumer {
        durable: String,
        #[source]
        source: stream::ConsumerError,
    },

    #[error("JetStream consumer `{durable}`: cannot subscribe to its messages")]
    Subscribe {
        durable: String,
        #[source]
        source: consumer::StreamError,
    },

    #[error("JetStream consumer `{durable}`: the subscription failed")]
    Messages {
        durable: String,
        #[source]
        source: consumer::pull::MessagesError,
    },

    /// A file named in `[ids.nats]` (or another section of the same type, `[fleet.nats]`) could
    /// not be read.
    #[error("{section}.{field}: cannot read {}", path.display())]
    NatsFile {
        section: &'static str,
        field: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file named in `[ids.nats]` does not hold what the key says.
    #[error("{section}.{field}: {} {reason}", path.display())]
    NatsFileContent {
        section: &'static str,
        field: &'static str,
        path: PathBuf,
        reason: &'static str,
    },

    /// The server refused the connection for a reason retrying will not fix: authentication,
    /// authorization or TLS. The URL is shown without its password.
    #[error("NATS at `{url}` refused the connection")]
    NatsConnect {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
}

#[cfg(test)]
mod tests {
    use ironpost_core::error::{error_chain, repeated_cause};

    use super::*;
    use crate::nats;

    /// Real failures: tract refusing a missing model file, async-nats refusing an empty stream
    /// name (checked before any request, so no server is needed). No message repeats its source.
    #[tokio::test]
    async fn errors_print_their_cause_once() {
        let path = PathBuf::from("/nonexistent-ironpost-test/model.onnx");
        let model = crate::OnnxScorer::load(&path).unwrap_err();
        assert!(matches!(model, IdsError::Model { .. }), "{model:?}");
        let client = nats::connect("nats://127.0.0.1:1", "ironpost-error-test")
            .await
            .expect("connect retries in the background");
        let js = async_nats::jetstream::new(client.clone());
        let stream = nats::ensure_stream(&js, "", "ironpost.test.errors")
            .await
            .unwrap_err();
        assert!(matches!(stream, IdsError::Stream { .. }), "{stream:?}");
        let delete = nats::delete_stream(client, "").await.unwrap_err();
        assert!(
            matches!(delete, IdsError::DeleteStream { .. }),
            "{delete:?}"
        );
        for e in [&model, &stream, &delete] {
            assert_eq!(repeated_cause(e), None, "{}", error_chain(e));
        }
        let text = error_chain(&model);
        assert!(
            text.starts_with("anomaly model /nonexistent-ironpost-test/model.onnx: "),
            "{text}"
        );
    }
}
