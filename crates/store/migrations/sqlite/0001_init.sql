-- Ironpost event store, SQLite flavour of the seed 000 schema (packet_events, log_entries, alerts,
-- actions), extended so that every event reads back exactly as it was written.
-- Types: UUIDs and IP addresses as TEXT (canonical form), timestamps as INTEGER unix microseconds,
-- JSON as TEXT. STRICT tables make SQLite refuse a value of the wrong type instead of storing it.
-- Entities are flattened into columns (src_ip, dst_port, container_id ...) so they can be queried;
-- in `actions` they carry a `target_` prefix (the seed's `target_container_id`).

CREATE TABLE packet_events (
    id TEXT NOT NULL PRIMARY KEY,
    timestamp INTEGER NOT NULL,
    trace_id TEXT NOT NULL,
    severity TEXT NOT NULL,
    src_ip TEXT NOT NULL,
    dst_ip TEXT NOT NULL,
    src_port INTEGER,
    dst_port INTEGER,
    protocol INTEGER NOT NULL,
    tcp_flags INTEGER,
    length INTEGER NOT NULL,
    action TEXT NOT NULL,
    rule_id TEXT
) STRICT;
CREATE INDEX packet_events_timestamp ON packet_events (timestamp);

CREATE TABLE log_entries (
    id TEXT NOT NULL PRIMARY KEY,
    timestamp INTEGER NOT NULL,
    trace_id TEXT NOT NULL,
    severity TEXT,
    source TEXT NOT NULL,
    process TEXT,
    pid INTEGER,
    message TEXT NOT NULL,
    fields TEXT,
    src_ip TEXT,
    src_port INTEGER,
    dst_ip TEXT,
    dst_port INTEGER,
    protocol INTEGER,
    user_name TEXT,
    hostname TEXT,
    container_id TEXT,
    container_name TEXT,
    package_ecosystem TEXT,
    package_name TEXT,
    package_version TEXT,
    package_advisory_id TEXT
) STRICT;
CREATE INDEX log_entries_timestamp ON log_entries (timestamp);

CREATE TABLE alerts (
    id TEXT NOT NULL PRIMARY KEY,
    title TEXT NOT NULL,
    severity TEXT NOT NULL,
    -- The rule or detector id (AlertEvent::rule_id).
    rule_name TEXT NOT NULL,
    -- AlertEvent::timestamp.
    created_at INTEGER NOT NULL,
    resolved_at INTEGER,
    trace_id TEXT NOT NULL,
    source TEXT NOT NULL,
    description TEXT NOT NULL,
    tags TEXT NOT NULL,
    severity_note TEXT,
    src_ip TEXT,
    src_port INTEGER,
    dst_ip TEXT,
    dst_port INTEGER,
    protocol INTEGER,
    user_name TEXT,
    hostname TEXT,
    container_id TEXT,
    container_name TEXT,
    package_ecosystem TEXT,
    package_name TEXT,
    package_version TEXT,
    package_advisory_id TEXT
) STRICT;
CREATE INDEX alerts_created_at ON alerts (created_at);
CREATE INDEX alerts_severity ON alerts (severity);

CREATE TABLE actions (
    id TEXT NOT NULL PRIMARY KEY,
    alert_id TEXT REFERENCES alerts (id) ON DELETE SET NULL,
    action_type TEXT NOT NULL,
    target_container_id TEXT,
    -- ActionEvent::timestamp.
    executed_at INTEGER NOT NULL,
    trace_id TEXT NOT NULL,
    severity TEXT NOT NULL,
    outcome TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    error TEXT,
    detail TEXT NOT NULL,
    target_src_ip TEXT,
    target_src_port INTEGER,
    target_dst_ip TEXT,
    target_dst_port INTEGER,
    target_protocol INTEGER,
    target_user_name TEXT,
    target_hostname TEXT,
    target_container_name TEXT,
    target_package_ecosystem TEXT,
    target_package_name TEXT,
    target_package_version TEXT,
    target_package_advisory_id TEXT
) STRICT;
CREATE INDEX actions_executed_at ON actions (executed_at);
CREATE INDEX actions_alert_id ON actions (alert_id);
