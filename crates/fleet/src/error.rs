//! Errors of the fleet crate: connecting to the cluster and opening the decisions bucket.

/// What can stop the fleet module from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The cluster refused the connection (credentials, authorization, TLS) or a file of
    /// `[fleet.nats]` is unreadable; `key` is the setting to look at.
    #[error("{key}: cannot join the fleet's NATS cluster")]
    Connect {
        key: String,
        #[source]
        source: ironpost_anomaly_ids::IdsError,
    },

    #[error("fleet.bucket: JetStream key-value bucket `{bucket}` cannot be opened or created")]
    Bucket {
        bucket: String,
        #[source]
        source: BucketSource,
    },
}

/// Why the bucket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum BucketSource {
    #[error(transparent)]
    Stream(async_nats::jetstream::context::CreateStreamError),
    #[error(transparent)]
    Open(async_nats::jetstream::context::KeyValueError),
    #[error("no answer from JetStream in time")]
    TimedOut,
}

#[cfg(test)]
mod tests {
    use ironpost_core::error::repeated_cause;

    use super::*;

    #[tokio::test]
    async fn errors_name_the_key_and_print_their_cause_once() {
        let cfg = ironpost_anomaly_ids::NatsConfig {
            creds_file: Some("/nonexistent-ironpost-fleet/x.creds".into()),
            ..Default::default()
        };
        let source = ironpost_anomaly_ids::nats::connect_servers(
            &["nats://127.0.0.1:1"],
            "t",
            &cfg,
            "fleet.nats",
        )
        .await
        .unwrap_err();
        let e = FleetError::Connect {
            key: "fleet.nats.creds_file".into(),
            source,
        };
        let text = ironpost_core::error_chain(&e);
        assert!(
            text.starts_with("fleet.nats.creds_file: cannot join")
                && text.contains(
                    "fleet.nats.creds_file: cannot read /nonexistent-ironpost-fleet/x.creds"
                ),
            "{text}"
        );
        assert_eq!(repeated_cause(&e), None, "{text}");
    }
}
