-- The relay's own state. `:SCHEMA` is replaced by the quoted state schema (config state.schema).

-- Every event built from the slot, written in the same state transaction as the position below, before
-- the slot is told the transaction is done. The deterministic event id makes replays insert nothing twice.
CREATE TABLE :SCHEMA.events (
  id            uuid PRIMARY KEY,
  commit_lsn    pg_lsn NOT NULL,
  ordinal       integer NOT NULL,
  name          text NOT NULL,
  table_id      text NOT NULL,
  record_count  integer NOT NULL,
  operator_id   text,
  committed_at  timestamptz NOT NULL,
  -- json, not jsonb: the body stays byte for byte what was built.
  body          json NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_commit_lsn_idx ON :SCHEMA.events (commit_lsn);
CREATE INDEX events_created_at_idx ON :SCHEMA.events (created_at);

-- The highest commit end LSN whose events are durable here, per slot.
CREATE TABLE :SCHEMA.replication_position (
  slot         text PRIMARY KEY,
  durable_lsn  pg_lsn NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now()
);
