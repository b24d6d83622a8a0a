-- What an alert's source address rests on (AlertEvent::evidence: verified, spoofable, forgeable).
-- Alerts stored before evidence existed say nothing about it: they count as the weakest class.
ALTER TABLE alerts ADD COLUMN evidence TEXT NOT NULL DEFAULT 'forgeable';
CREATE INDEX alerts_src_ip ON alerts (src_ip);
