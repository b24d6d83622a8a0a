//! One kernel process record (`source/process.rs`) through the rules: like a packet record, but
//! an alert names the record's container as its actor (`entities.container`, which the container
//! guard's policies act on), carries the connection's destination, and says what its evidence
//! rests on: the kernel's own report of the process, not a line anyone could write.

use ironpost_core::Evidence;

use super::{Worker, to_log_event};
use crate::fields::FieldSource;
use crate::source::process::ProcessRecord;

/// The evidence note of a process alert (replaces the log-line wording).
const KERNEL_EVIDENCE: &str = "first-hand host evidence: the kernel's process probes reported it; the process chose its own command line and file names";

impl Worker {
    pub(super) async fn process_process(&mut self, mut rec: ProcessRecord) {
        rec.describe();
        let rules = self
            .shared
            .rules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let metrics = &self.shared.metrics;
        metrics
            .parsed
            .with_label_values(&[rec.category.as_str()])
            .inc();
        metrics
            .evidence
            .with_label_values(&[rec.evidence().as_str()])
            .inc();
        let mut matched = Vec::new();
        rules.matches(&rec, &mut matched);
        metrics.matches.inc_by(matched.len() as u64);
        for rule in &matched {
            let Some(mut alert) = self.alerter.observe(rule, &rec).await else {
                continue;
            };
            debug_assert_eq!(alert.evidence, Evidence::Verified);
            if let Some(at) = alert.description.rfind("; evidence: ") {
                alert.description.truncate(at);
                alert
                    .description
                    .push_str(&format!("; evidence: verified ({KERNEL_EVIDENCE})"));
            }
            alert.entities.container = rec.container.clone();
            alert.entities.dst_ip = rec.destination_ip;
            alert.entities.dst_port = rec.destination_port;
            let mut ev = to_log_event("process_monitor".into(), &rec, rule.severity);
            ev.trace_id = alert.trace_id;
            ev.entities.container = rec.container.clone();
            for (k, v) in [
                ("format", Some(rec.category.as_str())),
                ("CommandLine", Some(rec.command_line.as_str())),
                ("ParentImage", rec.parent_image.as_deref()),
                ("TargetFilename", rec.target_filename.as_deref()),
                ("container_image", rec.container_image.as_deref()),
            ] {
                if let Some(v) = v {
                    ev.fields.insert(k.into(), v.into());
                }
            }
            if self.outputs.logs.try_send(ev).is_err() {
                self.shared.metrics.evidence_dropped.inc();
            }
            let _ = self.outputs.alerts.send(alert).await;
        }
        self.report_evictions();
    }
}
