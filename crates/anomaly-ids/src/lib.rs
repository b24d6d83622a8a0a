//! Anomaly IDS.
