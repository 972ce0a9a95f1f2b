/**
 * The composition root: source → undb → events → subscriptions → outbox (durable, then acknowledged) and,
 * independently, outbox → dispatcher → receivers. Every resource is closed on stop.
 */
import pg from 'pg';
import type { RelayConfig } from '../config/schema.js';
import { Dispatcher } from '../delivery/dispatcher.js';
import { Outbox } from '../delivery/outbox.js';
import { DeliveryStore } from '../delivery/store.js';
import { buildEvents, type BuildContext, type BuildSettings } from '../events/build.js';
import { envelope } from '../events/payloads.js';
import type { RelayEvent } from '../events/types.js';
import { Capture } from '../source/capture.js';
import { quoteIdent, serverVersion, setUpSource, type SourceNames } from '../source/setup.js';
import type { CommittedTransaction } from '../source/transactions.js';
import { SubscriptionRegistry } from '../subscriptions/registry.js';
import { route, type RoutedEvent } from '../subscriptions/route.js';
import { loadSources, type TableSubscriptions, type UndbWebhookSubscriptions } from '../subscriptions/sources.js';
import type { ResolvedSubscription } from '../subscriptions/types.js';
import { UndbMetadata } from '../undb/metadata.js';
import { isSupportedTimeZone } from '../undb/timestamps.js';
import type { Logger } from './log.js';
import { OpsServer } from './http.js';
import { migrate } from './migrate.js';

export interface RelayHooks {
  /** Called with each transaction's events once they are built (before they are durable). */
  onEvents?: (events: RelayEvent[], routed: RoutedEvent[]) => void;
}

export const sourceNames = (config: RelayConfig): SourceNames => ({
  slot: config.database.slot,
  publication: config.database.publication,
  undbSchema: config.database.undbSchema,
});

/** What the relay has done since it started: logged every 10 s at info when it changed. */
export interface Activity {
  transactions: number;
  events: number;
  deliveriesQueued: number;
}

interface Parts {
  ops: OpsServer | undefined;
  pruneTimer: NodeJS.Timeout | undefined;
  activity: Activity;
  summaryTimer: NodeJS.Timeout;
  sourcePool: pg.Pool;
  statePool: pg.Pool;
  outbox: Outbox;
  capture: Capture;
  dispatcher: Dispatcher;
  registry: SubscriptionRegistry;
  tableSubscriptions: TableSubscriptions | undefined;
}

export class Relay {
  readonly capture: Capture;
  readonly dispatcher: Dispatcher;
  readonly registry: SubscriptionRegistry;
  readonly activity: Activity;

  /** The /metrics, /healthz, /readyz server, when http.port is not 0. */
  get ops(): OpsServer | undefined {
    return this.parts.ops;
  }

  private constructor(private readonly parts: Parts) {
    this.activity = parts.activity;
    this.capture = parts.capture;
    this.dispatcher = parts.dispatcher;
    this.registry = parts.registry;
  }

  static async start(config: RelayConfig, log: Logger, hooks: RelayHooks = {}): Promise<Relay> {
    const sourcePool = new pg.Pool({ connectionString: config.database.url, max: 4 });
    const statePool = new pg.Pool({ connectionString: config.state.url, max: 10 });
    // An idle client whose server went away (restart, failover) must not crash the relay: the next
    // query reconnects, and the capture loop retries.
    for (const pool of [sourcePool, statePool]) pool.on('error', (error) => log.warn({ err: error }, 'database connection lost'));
    try {
      const names = sourceNames(config);
      const version = await serverVersion(sourcePool);
      const timeZone = await serverTimeZone(sourcePool, log);
      const setup = await setUpSource(sourcePool, names, config.state.schema);
      if (!setup.coverageTrigger) {
        log.warn(
          'the relay role is not a superuser, so it cannot install the event trigger that covers tables Undb creates ' +
            "inside Undb's own transaction; new tables are covered when their creation is seen in the WAL, and an edit " +
            'made in the first moments after a table is created can be missed. Grant superuser for full coverage.',
        );
      }
      await migrate(statePool, config.state.schema);
      const metadata = await UndbMetadata.load(sourcePool, names.undbSchema);
      const registry = new SubscriptionRegistry(metadata, { secrets: config.signing.secrets }, log);
      const { table: tableSubscriptions, webhooks } = await loadSources(registry, config, { source: sourcePool, state: statePool }, log);
      tableSubscriptions?.startPolling();

      const store = new DeliveryStore(statePool, config.state.schema);
      const dispatcher = new Dispatcher(store, registry, config.delivery, log, {
        disableSubscription: (subscription, reason) => disable(subscription, reason, statePool, config, registry, log),
      });
      const outbox = new Outbox(statePool, config.state.schema, names.slot, () => dispatcher.wake());
      const context: BuildContext = { db: sourcePool, metadata, timeZone, readsGeneratedColumns: version >= 180000 };
      const settings: BuildSettings = {
        slot: names.slot,
        maxBulkSize: config.events.maxBulkSize,
        schemaMigrations: config.events.schemaMigrations,
      };
      const activity: Activity = { transactions: 0, events: 0, deliveriesQueued: 0 };
      const capture = new Capture({
        connectionString: config.database.url,
        db: sourcePool,
        names,
        log,
        handle: async (tx) => {
          const { events, deliveries } = await handleTransaction(tx, context, settings, registry, webhooks, log);
          activity.transactions += 1;
          activity.events += events.length;
          activity.deliveriesQueued += deliveries.length;
          hooks.onEvents?.(events, deliveries);
          const durable = events.length ? outbox.write({ events, deliveries }, tx.commitEndLsn) : Promise.resolve();
          return { durable };
        },
      });
      await dispatcher.start();
      capture.start();
      const summaryTimer = logActivity(activity, dispatcher, capture, log);
      const pruneTimer = schedulePruning(store, config, log);
      const relay = new Relay({ ops: undefined, pruneTimer, activity, summaryTimer, sourcePool, statePool, outbox, capture, dispatcher, registry, tableSubscriptions });
      relay.parts.ops = await OpsServer.start(relay, config, sourcePool, statePool, log).catch(async (error) => {
        await relay.stop();
        throw error;
      });
      return relay;
    } catch (error) {
      await Promise.all([sourcePool.end(), statePool.end()]);
      throw error;
    }
  }

  async stop(): Promise<void> {
    const { capture, outbox, dispatcher, tableSubscriptions, sourcePool, statePool, summaryTimer, ops } = this.parts;
    clearInterval(summaryTimer);
    clearInterval(this.parts.pruneTimer);
    await ops?.stop();
    tableSubscriptions?.stop();
    await capture.stop();
    await outbox.close();
    await dispatcher.stop();
    await Promise.all([sourcePool.end(), statePool.end()]);
  }
}

async function handleTransaction(
  tx: CommittedTransaction,
  context: BuildContext,
  settings: BuildSettings,
  registry: SubscriptionRegistry,
  webhooks: UndbWebhookSubscriptions | undefined,
  log: Logger,
): Promise<{ events: RelayEvent[]; deliveries: RoutedEvent[] }> {
  const result = await buildEvents(tx, context, settings);
  // Matched against the subscriptions and schema in force before this transaction's own metadata writes.
  const deliveries = route(result.events, registry.active, context.metadata);
  // Metadata written by this transaction applies from the next one on (a rename in N names N+1 anew).
  const metadataChange = context.metadata.apply(tx);
  if (metadataChange.tablesChanged.length) {
    log.info({ tables: metadataChange.tablesChanged }, 'Undb table metadata changed');
    registry.revalidate();
  }
  webhooks?.apply(tx);
  for (const problem of result.problems) log.error({ xid: tx.xid }, problem);
  if (result.skippedMigrationRows) {
    log.info(
      { xid: tx.xid, rows: result.skippedMigrationRows },
      'schema migration: record rows rewritten without a user edit, no events (events.schemaMigrations: skip)',
    );
  }
  // One line per event is for debugging (LOG_LEVEL=debug); at info the relay logs a periodic summary.
  if (log.isLevelEnabled('debug')) {
    for (const event of result.events) {
      const to = deliveries.filter((delivery) => delivery.eventId === event.id).map((delivery) => delivery.subscriptionId);
      log.debug({ id: event.id, event: event.name, table: event.tableName, records: event.items.length, subscriptions: to }, 'event built');
      if (log.isLevelEnabled('trace')) log.trace({ body: envelope(event) }, 'event body');
    }
  }
  return { events: result.events, deliveries };
}

/** Keeps the state tables from growing forever (state.retentionHours; 0 keeps everything). */
function schedulePruning(store: DeliveryStore, config: RelayConfig, log: Logger): NodeJS.Timeout | undefined {
  const hours = config.state.retentionHours;
  if (hours === 0) return undefined;
  const prune = () =>
    store
      .prune(hours, `${quoteIdent(config.state.schema)}.events`)
      .then((pruned) => {
        if (pruned.deliveries || pruned.events) log.info({ ...pruned, olderThanHours: hours }, 'pruned delivered deliveries and old events');
      })
      .catch((error) => log.warn({ err: error }, 'pruning the state tables failed; trying again later'));
  void prune();
  const timer = setInterval(() => void prune(), 10 * 60_000);
  timer.unref();
  return timer;
}

function logActivity(activity: Activity, dispatcher: Dispatcher, capture: Capture, log: Logger): NodeJS.Timeout {
  let last = '';
  const timer = setInterval(() => {
    const summary = { ...activity, ...dispatcher.stats, confirmedLsn: capture.status.confirmedLsn.toString(16) };
    const text = JSON.stringify(summary);
    if (text !== last) log.info(summary, 'activity since start');
    last = text;
  }, 10_000);
  timer.unref();
  return timer;
}

/** A receiver answered 410 Gone: the subscription stops matching until an operator turns it back on. */
async function disable(
  subscription: ResolvedSubscription,
  reason: string,
  statePool: pg.Pool,
  config: RelayConfig,
  registry: SubscriptionRegistry,
  log: Logger,
): Promise<void> {
  if (subscription.source === 'table') {
    await statePool.query(`update ${quoteIdent(config.state.schema)}.subscriptions set enabled = false, updated_at = now() where id = $1`, [
      subscription.id,
    ]);
  }
  registry.disable(subscription.id);
  log.error(
    { subscription: subscription.id },
    `${reason}: subscription disabled. ${subscription.source === 'table' ? 'Set enabled = true in its row' : 'Restart the relay'} to turn it back on.`,
  );
}

async function serverTimeZone(db: pg.Pool, log: Logger): Promise<string> {
  const { rows } = await db.query<{ tz: string }>(`select current_setting('TimeZone') as tz`);
  const timeZone = rows[0]?.tz ?? 'UTC';
  if (!isSupportedTimeZone(timeZone)) {
    log.warn({ timeZone }, 'the server TimeZone is not an IANA zone this runtime knows; timestamps are read as UTC');
    return 'UTC';
  }
  return timeZone;
}
