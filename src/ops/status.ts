/** What `status` reports (and, later, /readyz and /metrics): slot lag, retained WAL, outbox backlog. */
import type pg from 'pg';
import type { RelayConfig } from '../config/schema.js';
import { DeliveryStore } from '../delivery/store.js';
import { SubscriptionRegistry } from '../subscriptions/registry.js';
import { loadSources } from '../subscriptions/sources.js';
import type { SubscriptionProblem } from '../subscriptions/types.js';
import { UndbMetadata } from '../undb/metadata.js';
import { silentLogger } from './log.js';

export interface StatusReport {
  subscriptions: { active: number; problems: SubscriptionProblem[] };
  slot: { active: boolean; wal_status: string | null; lag_bytes: number; retained_bytes: number } | null;
  pending: number;
  inFlight: number;
  dead: number;
  bySubscription: Array<{ subscription_id: string; status: string; count: number }>;
}

export async function statusReport(
  source: pg.Pool,
  state: pg.Pool,
  config: RelayConfig,
  options: { subscriptions: boolean } = { subscriptions: true },
): Promise<StatusReport> {
  const { rows } = await source.query(
    `select active, wal_status,
            coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), 0)::bigint as lag_bytes,
            coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint as retained_bytes
       from pg_replication_slots where slot_name = $1`,
    [config.database.slot],
  );
  const slot = rows[0]
    ? { active: rows[0].active, wal_status: rows[0].wal_status, lag_bytes: Number(rows[0].lag_bytes), retained_bytes: Number(rows[0].retained_bytes) }
    : null;
  const bySubscription = await new DeliveryStore(state, config.state.schema).counts().catch(() => []);
  const total = (status: string) => bySubscription.filter((row) => row.status === status).reduce((sum, row) => sum + row.count, 0);
  return {
    subscriptions: options.subscriptions ? await checkSubscriptions(source, state, config) : { active: 0, problems: [] },
    slot,
    pending: total('pending'),
    inFlight: total('in_flight'),
    dead: total('dead'),
    bySubscription,
  };
}

/** The same checks the daemon makes, run here against the current schema and rows. */
async function checkSubscriptions(source: pg.Pool, state: pg.Pool, config: RelayConfig): Promise<StatusReport['subscriptions']> {
  const metadata = await UndbMetadata.load(source, config.database.undbSchema);
  const registry = new SubscriptionRegistry(metadata, { secrets: config.signing.secrets }, silentLogger());
  await loadSources(registry, config, { source, state }, silentLogger(), { tolerateUnreadableTable: true });
  return { active: registry.active.length, problems: [...registry.problems] };
}
