-- Subscriptions managed in the database: the same fields as the YAML list. The relay re-reads this table
-- within a second of a change; no restart needed.
CREATE TABLE :SCHEMA.subscriptions (
  id          text PRIMARY KEY,
  "table"     text NOT NULL,
  events      text[] NOT NULL,
  url         text NOT NULL,
  method      text NOT NULL DEFAULT 'POST',
  headers     jsonb NOT NULL DEFAULT '{}',
  secrets     text[] NOT NULL DEFAULT '{}',
  unsigned    boolean NOT NULL DEFAULT false,
  enabled     boolean NOT NULL DEFAULT true,
  format      text NOT NULL DEFAULT 'undb',
  condition   jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The outbox and delivery log: one row per (event, subscription) with the exact body, written in the same
-- state transaction as the event log, before the slot is acknowledged.
--   pending → (in_flight) → delivered | dead;  a failed attempt goes back to pending with next_attempt_at.
CREATE TABLE :SCHEMA.deliveries (
  id               uuid PRIMARY KEY,
  event_id         uuid NOT NULL,
  subscription_id  text NOT NULL,
  -- Commit order across the whole log: per-record ordering compares it.
  seq              bigserial NOT NULL,
  event_name       text NOT NULL,
  table_id         text NOT NULL,
  record_ids       text[] NOT NULL,
  body             text NOT NULL,
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'in_flight', 'delivered', 'dead')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  last_status      integer,
  last_error       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz,
  UNIQUE (event_id, subscription_id)
);
-- Claiming walks pending rows in log order; the per-record check looks up open rows by record id. No
-- index leads with subscription_id: the planner would AND it into that lookup and read every row of the
-- subscription per candidate.
CREATE INDEX deliveries_pending_seq_idx ON :SCHEMA.deliveries (seq) WHERE status = 'pending';
-- fastupdate off: otherwise every lookup scans GIN's unmerged pending list, which a busy outbox keeps long.
CREATE INDEX deliveries_open_records_idx ON :SCHEMA.deliveries USING gin (record_ids) WITH (fastupdate = off)
  WHERE status IN ('pending', 'in_flight');
CREATE INDEX deliveries_dead_idx ON :SCHEMA.deliveries (subscription_id) WHERE status = 'dead';
