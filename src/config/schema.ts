/**
 * The configuration keys of interface.md with their defaults. This object is the one source of the keys,
 * their types and defaults: validation walks it, and the documented example is written from it.
 */
export interface RelayConfig {
  database: { url: string; slot: string; publication: string; undbSchema: string };
  state: { url: string; schema: string };
  http: { port: number };
  events: { maxBulkSize: number; schemaMigrations: 'skip' | 'emit' };
  delivery: {
    concurrency: number;
    perEndpoint: number;
    timeoutMs: number;
    ordering: 'record' | 'none';
    retry: { maxAttempts: number; initialDelayMs: number; maxDelayMs: number };
    circuitBreaker: { failureThreshold: number; cooldownMs: number };
    allowPrivateNetworks: boolean;
    allowHosts: string[];
  };
  signing: { secrets: string[] };
  slot: { maxRetainedWalBytes: number };
  subscriptionSources: { yaml: boolean; table: boolean; undbWebhooks: boolean };
  subscriptions: Array<Record<string, unknown>>;
}

export const DEFAULTS: RelayConfig = {
  database: { url: '', slot: 'undb_relay', publication: 'undb_relay', undbSchema: 'public' },
  state: { url: '', schema: 'undb_relay' },
  http: { port: 9464 },
  events: { maxBulkSize: 1000, schemaMigrations: 'skip' },
  delivery: {
    concurrency: 64,
    perEndpoint: 8,
    timeoutMs: 10_000,
    ordering: 'record',
    retry: { maxAttempts: 12, initialDelayMs: 1000, maxDelayMs: 3_600_000 },
    circuitBreaker: { failureThreshold: 10, cooldownMs: 30_000 },
    allowPrivateNetworks: false,
    allowHosts: [],
  },
  signing: { secrets: [] },
  slot: { maxRetainedWalBytes: 1_073_741_824 },
  subscriptionSources: { yaml: true, table: true, undbWebhooks: false },
  subscriptions: [],
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
