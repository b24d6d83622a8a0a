-- Fleet mode, central role: each node's last heartbeat (its report as JSON), one row per node,
-- replaced by a newer one only (a redelivered older heartbeat changes nothing).
CREATE TABLE fleet_nodes (
    node TEXT PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    report JSONB NOT NULL
);
