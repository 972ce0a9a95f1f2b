/**
 * Where subscriptions come from besides the YAML list: rows of `<state.schema>.subscriptions` (re-read
 * every half second, so a change is in force within a second), and Undb's own `undb_webhook` rows (loaded
 * at start, then followed in the WAL in commit order).
 */
import type pg from 'pg';
import type { RelayConfig } from '../config/schema.js';
import type { Logger } from '../ops/log.js';
import { quoteIdent } from '../source/setup.js';
import type { CommittedTransaction, RowImage } from '../source/transactions.js';
import type { RawEntry, SubscriptionRegistry } from './registry.js';

export class TableSubscriptions {
  private timer: NodeJS.Timeout | undefined;
  private last = '';

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    private readonly registry: SubscriptionRegistry,
    private readonly log: Logger,
    private readonly intervalMs = 500,
  ) {}

  /** Re-reads the table every intervalMs from now on (refresh() once first). */
  startPolling(): void {
    this.timer = setInterval(() => void this.refresh().catch((error) => this.log.warn({ err: error }, 'cannot read the subscriptions table')), this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    const { rows } = await this.pool.query(
      `select id, "table", events, url, method, headers, secrets, unsigned, enabled, format, condition
         from ${quoteIdent(this.schema)}.subscriptions order by id`,
    );
    const text = JSON.stringify(rows);
    if (text === this.last) return;
    this.last = text;
    this.registry.setSource(
      'table',
      rows.map((row: Record<string, unknown>) => ({
        raw: Object.fromEntries(Object.entries(row).filter(([, value]) => value !== null)),
        where: `row ${String(row.id)} of ${this.schema}.subscriptions`,
      })),
    );
  }
}

/** Undb webhooks as subscriptions: `event` is honoured (Undb 1.x ignores it) and covers the bulk name too. */
export function undbWebhookEntry(row: RowImage | Record<string, unknown>): RawEntry {
  const parse = (value: unknown) => (typeof value === 'string' ? (JSON.parse(value) as unknown) : value);
  const event = String(row.event ?? '');
  const bulk = event.replace('record.', 'record.bulk_');
  return {
    where: `undb_webhook ${String(row.id)}`,
    raw: {
      id: `undb:${String(row.id)}`,
      table: row.table_id,
      events: event ? [event, bulk] : [],
      url: row.url,
      method: row.method,
      headers: parse(row.headers) ?? {},
      enabled: row.enabled === true || row.enabled === 't',
      // What Undb 1.x receivers parse; unsigned unless signing.secrets gives a key.
      format: 'undb-v1',
      ...(row.condition !== null && row.condition !== undefined ? { condition: parse(row.condition) } : {}),
    },
  };
}

export class UndbWebhookSubscriptions {
  private readonly rows = new Map<string, RowImage | Record<string, unknown>>();

  constructor(
    private readonly registry: SubscriptionRegistry,
    private readonly undbSchema: string,
    private readonly unsignedByDefault: boolean,
  ) {}

  async load(pool: pg.Pool): Promise<void> {
    const { rows } = await pool.query(`select * from ${quoteIdent(this.undbSchema)}.undb_webhook`);
    for (const row of rows) this.rows.set(String(row.id), row);
    this.publish();
  }

  /** Applies the transaction's undb_webhook writes (commit order). Returns whether anything changed. */
  apply(tx: CommittedTransaction): boolean {
    let changed = false;
    for (const change of tx.changes) {
      if (change.kind === 'truncate' || change.relation.name !== 'undb_webhook' || change.relation.schema !== this.undbSchema) continue;
      if (change.kind === 'delete') this.rows.delete(String(change.old.id));
      else this.rows.set(String(change.new.id), { ...this.rows.get(String(change.new.id)), ...defined(change.new) });
      changed = true;
    }
    if (changed) this.publish();
    return changed;
  }

  private publish(): void {
    this.registry.setSource(
      'undbWebhook',
      [...this.rows.values()].map((row) => {
        const entry = undbWebhookEntry(row);
        if (this.unsignedByDefault) (entry.raw as Record<string, unknown>).unsigned = true;
        return entry;
      }),
    );
  }
}

function defined(row: RowImage): Record<string, unknown> {
  return Object.fromEntries(Object.entries(row).filter(([, value]) => value !== undefined));
}

export interface LoadedSources {
  table: TableSubscriptions | undefined;
  webhooks: UndbWebhookSubscriptions | undefined;
}

/**
 * Fills the registry from every source the configuration turns on: the daemon and `status` both use
 * this, so they judge subscriptions alike. `tolerateUnreadableTable`: `status` still reports the other
 * sources when the state table cannot be read (setup not run yet).
 */
export async function loadSources(
  registry: SubscriptionRegistry,
  config: RelayConfig,
  pools: { source: pg.Pool; state: pg.Pool },
  log: Logger,
  options: { tolerateUnreadableTable: boolean } = { tolerateUnreadableTable: false },
): Promise<LoadedSources> {
  if (config.subscriptionSources.yaml) {
    registry.setSource('yaml', config.subscriptions.map((raw, index) => ({ raw, where: `subscriptions[${index}]` })));
  }
  const table = config.subscriptionSources.table ? new TableSubscriptions(pools.state, config.state.schema, registry, log) : undefined;
  await table?.refresh().catch((error: unknown) => {
    if (!options.tolerateUnreadableTable) throw error;
  });
  const webhooks = config.subscriptionSources.undbWebhooks
    ? new UndbWebhookSubscriptions(registry, config.database.undbSchema, config.signing.secrets.length === 0)
    : undefined;
  await webhooks?.load(pools.source);
  return { table, webhooks };
}
