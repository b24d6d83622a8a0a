-- Ironpost event store, PostgreSQL flavour of the seed 000 schema (packet_events, log_entries,
-- alerts, actions), extended so that every event reads back exactly as it was written.
-- Native types: UUID, TIMESTAMPTZ (microsecond precision), INET, JSONB.
-- Free-text columns the seed declared VARCHAR(255) / VARCHAR(64) are TEXT: a long title from an
-- external submitter or an unusual container id must not make the database refuse the record.
-- Columns holding our own enum names keep their VARCHAR bounds.
-- Unsigned event fields get the next wider signed type (u8 -> SMALLINT, u16 -> INTEGER,
-- u32 -> BIGINT). Entities are flattened into columns; in `actions` they carry a `target_` prefix.

CREATE TABLE packet_events (
    id UUID PRIMARY KEY,
    timestamp TIMESTAMPTZ NOT NULL,
    trace_id VARCHAR(32) NOT NULL,
    severity VARCHAR(16) NOT NULL,
    src_ip INET NOT NULL,
    dst_ip INET NOT NULL,
    src_port INTEGER,
    dst_port INTEGER,
    protocol SMALLINT NOT NULL,
    tcp_flags SMALLINT,
    length BIGINT NOT NULL,
    action VARCHAR(16) NOT NULL,
    rule_id TEXT
);
CREATE INDEX packet_events_timestamp ON packet_events (timestamp);

CREATE TABLE log_entries (
    id UUID PRIMARY KEY,
    timestamp TIMESTAMPTZ NOT NULL,
    trace_id VARCHAR(32) NOT NULL,
    severity VARCHAR(16),
    source TEXT NOT NULL,
    process TEXT,
    pid BIGINT,
    message TEXT NOT NULL,
    fields JSONB,
    src_ip INET,
    src_port INTEGER,
    dst_ip INET,
    dst_port INTEGER,
    protocol SMALLINT,
    user_name TEXT,
    hostname TEXT,
    container_id TEXT,
    container_name TEXT,
    package_ecosystem TEXT,
    package_name TEXT,
    package_version TEXT,
    package_advisory_id TEXT
);
CREATE INDEX log_entries_timestamp ON log_entries (timestamp);

CREATE TABLE alerts (
    id UUID PRIMARY KEY,
    title TEXT NOT NULL,
    severity VARCHAR(16) NOT NULL,
    -- The rule or detector id (AlertEvent::rule_id).
    rule_name TEXT NOT NULL,
    -- AlertEvent::timestamp.
    created_at TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    trace_id VARCHAR(32) NOT NULL,
    source VARCHAR(32) NOT NULL,
    description TEXT NOT NULL,
    tags JSONB NOT NULL,
    severity_note TEXT,
    src_ip INET,
    src_port INTEGER,
    dst_ip INET,
    dst_port INTEGER,
    protocol SMALLINT,
    user_name TEXT,
    hostname TEXT,
    container_id TEXT,
    container_name TEXT,
    package_ecosystem TEXT,
    package_name TEXT,
    package_version TEXT,
    package_advisory_id TEXT
);
CREATE INDEX alerts_created_at ON alerts (created_at);
CREATE INDEX alerts_severity ON alerts (severity);

CREATE TABLE actions (
    id UUID PRIMARY KEY,
    alert_id UUID REFERENCES alerts (id) ON DELETE SET NULL,
    action_type VARCHAR(32) NOT NULL,
    target_container_id TEXT,
    -- ActionEvent::timestamp.
    executed_at TIMESTAMPTZ NOT NULL,
    trace_id VARCHAR(32) NOT NULL,
    severity VARCHAR(16) NOT NULL,
    outcome VARCHAR(16) NOT NULL,
    attempt BIGINT NOT NULL,
    error TEXT,
    detail TEXT NOT NULL,
    target_src_ip INET,
    target_src_port INTEGER,
    target_dst_ip INET,
    target_dst_port INTEGER,
    target_protocol SMALLINT,
    target_user_name TEXT,
    target_hostname TEXT,
    target_container_name TEXT,
    target_package_ecosystem TEXT,
    target_package_name TEXT,
    target_package_version TEXT,
    target_package_advisory_id TEXT
);
CREATE INDEX actions_executed_at ON actions (executed_at);
CREATE INDEX actions_alert_id ON actions (alert_id);
