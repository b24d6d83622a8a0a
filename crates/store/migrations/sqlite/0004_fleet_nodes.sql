-- Fleet mode, central role: each node's last heartbeat (its report as JSON), one row per node,
-- replaced by a newer one only (a redelivered older heartbeat changes nothing).
CREATE TABLE fleet_nodes (
    node TEXT NOT NULL PRIMARY KEY,
    at INTEGER NOT NULL,
    report TEXT NOT NULL
) STRICT;
