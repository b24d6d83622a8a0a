-- Fleet mode: the node an alert or action comes from. A node writes its own under its fleet
-- name; the central role writes every agent's under theirs. Rows stored before this migration
-- (and by a daemon that names no node) have the empty name.
-- Ids are unique already (the primary key); (node, id) is the key a redelivered message is
-- checked against and the index `--node` filters use.
ALTER TABLE alerts ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE actions ADD COLUMN node TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX alerts_node_id ON alerts (node, id);
CREATE UNIQUE INDEX actions_node_id ON actions (node, id);
CREATE INDEX alerts_node_created_at ON alerts (node, created_at);
CREATE INDEX actions_node_executed_at ON actions (node, executed_at);
