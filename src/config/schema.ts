/**
 * The configuration keys of interface.md with their defaults. This object is the one source of the keys,
 * their types and defaults: validation walks it, and the documented example is written from it.
 */
export const DEFAULTS = {
  database: { url: '', slot: 'undb_relay', publication: 'undb_relay', undbSchema: 'public' },
  state: { url: '', schema: 'undb_relay', retentionHours: 168 },
  http: { port: 9464 },
  events: { maxBulkSize: 1000, schemaMigrations: 'skip' as 'skip' | 'emit' },
  delivery: {
    concurrency: 64,
    perEndpoint: 8,
    timeoutMs: 10_000,
    ordering: 'record' as 'record' | 'none',
    retry: { maxAttempts: 12, initialDelayMs: 1000, maxDelayMs: 3_600_000 },
    circuitBreaker: { failureThreshold: 10, cooldownMs: 30_000 },
    allowPrivateNetworks: false,
    allowHosts: [] as string[],
  },
  signing: { secrets: [] as string[] },
  slot: { maxRetainedWalBytes: 1_073_741_824 },
  subscriptionSources: { yaml: true, table: true, undbWebhooks: false },
  subscriptions: [] as Array<Record<string, unknown>>,
};

/** The configuration's type is the defaults' type: one source for both. */
export type RelayConfig = typeof DEFAULTS;

/** What each key means: the example file and the README reference are generated from this. */
export const DOCS: Record<string, string> = {
  database: 'The Undb database the relay reads from.',
  'database.url': 'Connection string of the Undb database (wal_level=logical; a role with REPLICATION). Required.',
  'database.slot': 'Logical replication slot name (cluster-wide: one per relay).',
  'database.publication': 'Publication name; `<name>_changes` is the update/delete publication.',
  'database.undbSchema': "Schema of Undb's tables.",
  state: "Where the relay keeps its own tables (outbox, delivery log, subscriptions, position).",
  'state.url': 'Connection string of the state database; empty: the Undb database.',
  'state.schema': "Schema of the relay's tables.",
  'state.retentionHours': 'Delivered deliveries and built events older than this are deleted (checked every 10 minutes); dead deliveries are kept until redelivered. 0 keeps everything.',
  http: 'Operations endpoints.',
  'http.port': 'Port for /metrics (Prometheus), /healthz and /readyz on all interfaces; 0 turns them off.',
  events: 'Turning transactions into events.',
  'events.maxBulkSize': 'Most records in one bulk event; larger groups are split.',
  'events.schemaMigrations': 'skip | emit: record rows Undb rewrites during schema changes (option deletion, type conversion).',
  delivery: 'Sending events to receivers.',
  'delivery.concurrency': 'Requests in flight, all endpoints together.',
  'delivery.perEndpoint': 'Requests in flight to one origin (scheme, host, port).',
  'delivery.timeoutMs': 'Time allowed for a response, in milliseconds.',
  'delivery.ordering': 'record: events of one record reach a subscription in commit order (a failing event holds back only its record); none: no ordering.',
  'delivery.retry': 'Exponential backoff with full jitter; Retry-After is honoured on 429 and 503.',
  'delivery.retry.maxAttempts': 'Attempts before a delivery is dead (kept, visible, redeliverable).',
  'delivery.retry.initialDelayMs': 'Shortest wait before a retry, in milliseconds.',
  'delivery.retry.maxDelayMs': 'Longest wait before a retry, in milliseconds.',
  'delivery.circuitBreaker': 'Per origin: stop sending after consecutive failures, then probe.',
  'delivery.circuitBreaker.failureThreshold': 'Consecutive failed attempts that open the circuit.',
  'delivery.circuitBreaker.cooldownMs': 'How long an open circuit waits before one probe, in milliseconds.',
  'delivery.allowPrivateNetworks': 'Let subscriptions read from the database target loopback, private and link-local addresses (YAML subscriptions always may).',
  'delivery.allowHosts': 'Hosts that database subscriptions may target even when they resolve to private addresses.',
  signing: 'Default signing for subscriptions that name no secrets.',
  'signing.secrets': 'The first signs x-undb-signature; all sign webhook-signature (rotation). `whsec_` secrets are base64 keys.',
  slot: 'Replication slot health.',
  'slot.maxRetainedWalBytes': 'Past this much retained WAL the relay warns and /readyz fails.',
  subscriptionSources: 'Where subscriptions come from.',
  'subscriptionSources.yaml': 'The `subscriptions` list below.',
  'subscriptionSources.table': 'Rows of <state.schema>.subscriptions, picked up within a second, no restart.',
  'subscriptionSources.undbWebhooks': "Undb's own undb_webhook rows, sent in Undb 1.x's body (turn Undb's sender off, or receivers get both).",
  subscriptions: 'Webhook subscriptions: id, table (id or name), events, url, method, headers, secrets, unsigned, enabled, format (undb | undb-v1), condition (Undb\'s format; fields and options by id or name).',
};

/** Written into the example as the value of these keys (environment references, not defaults). */
export const EXAMPLE_VALUES: Record<string, string> = {
  'database.url': '${DATABASE_URL}',
  'state.url': '${STATE_DATABASE_URL:-}',
  'signing.secrets': '[${UNDB_WEBHOOK_SECRET:-}]',
};

/** Keys whose value must be one of a fixed set. */
export const CHOICES: Record<string, readonly string[]> = {
  'events.schemaMigrations': ['skip', 'emit'],
  'delivery.ordering': ['record', 'none'],
};

/** Keys that must be whole numbers of at least this much. */
export const MINIMUMS: Record<string, number> = {
  'http.port': 0,
  'events.maxBulkSize': 1,
  'delivery.concurrency': 1,
  'delivery.perEndpoint': 1,
  'delivery.timeoutMs': 1,
  'delivery.retry.maxAttempts': 1,
  'delivery.retry.initialDelayMs': 0,
  'delivery.retry.maxDelayMs': 0,
  'delivery.circuitBreaker.failureThreshold': 1,
  'delivery.circuitBreaker.cooldownMs': 0,
  'slot.maxRetainedWalBytes': 0,
};

/** Identifiers the relay puts into SQL: Postgres' unquoted identifier shape keeps operators out of trouble. */
export const IDENTIFIERS = ['database.slot', 'database.publication', 'database.undbSchema', 'state.schema'];
