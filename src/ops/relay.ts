/**
 * The composition root: source → undb → events → durable event log, with every resource closed on stop.
 */
import pg from 'pg';
import type { RelayConfig } from '../config/schema.js';
import { EventLog } from '../delivery/eventLog.js';
import { buildEvents, type BuildContext, type BuildSettings } from '../events/build.js';
import { envelope } from '../events/payloads.js';
import type { RelayEvent } from '../events/types.js';
import { Capture } from '../source/capture.js';
import { serverVersion, setUpSource, type SourceNames } from '../source/setup.js';
import type { CommittedTransaction } from '../source/transactions.js';
import { UndbMetadata } from '../undb/metadata.js';
import { isSupportedTimeZone } from '../undb/timestamps.js';
import type { Logger } from './log.js';
import { migrate } from './migrate.js';

export interface RelayHooks {
  /** Called with each transaction's events once they are built (before they are durable). */
  onEvents?: (events: RelayEvent[]) => void;
}

export const sourceNames = (config: RelayConfig): SourceNames => ({
  slot: config.database.slot,
  publication: config.database.publication,
  undbSchema: config.database.undbSchema,
});

export class Relay {
  private constructor(
    private readonly sourcePool: pg.Pool,
    private readonly statePool: pg.Pool,
    private readonly eventLog: EventLog,
    readonly capture: Capture,
  ) {}

  static async start(config: RelayConfig, log: Logger, hooks: RelayHooks = {}): Promise<Relay> {
    const sourcePool = new pg.Pool({ connectionString: config.database.url, max: 4 });
    const statePool = new pg.Pool({ connectionString: config.state.url, max: 4 });
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
            'inside Undb\'s own transaction; new tables are covered when their creation is seen in the WAL, and an edit ' +
            'made in the first moments after a table is created can be missed. Grant superuser for full coverage.',
        );
      }
      await migrate(statePool, config.state.schema);
      const metadata = await UndbMetadata.load(sourcePool, names.undbSchema);
      const context: BuildContext = { db: sourcePool, metadata, timeZone, readsGeneratedColumns: version >= 180000 };
      const settings: BuildSettings = {
        slot: names.slot,
        maxBulkSize: config.events.maxBulkSize,
        schemaMigrations: config.events.schemaMigrations,
      };
      const eventLog = new EventLog(statePool, config.state.schema, names.slot);
      const capture = new Capture({
        connectionString: config.database.url,
        db: sourcePool,
        names,
        log,
        handle: async (tx) => {
          const events = await handleTransaction(tx, context, settings, log);
          hooks.onEvents?.(events);
          return { durable: events.length ? eventLog.write(events, tx.commitEndLsn) : Promise.resolve() };
        },
      });
      capture.start();
      return new Relay(sourcePool, statePool, eventLog, capture);
    } catch (error) {
      await Promise.all([sourcePool.end(), statePool.end()]);
      throw error;
    }
  }

  async stop(): Promise<void> {
    await this.capture.stop();
    await this.eventLog.close();
    await Promise.all([this.sourcePool.end(), this.statePool.end()]);
  }
}

async function handleTransaction(
  tx: CommittedTransaction,
  context: BuildContext,
  settings: BuildSettings,
  log: Logger,
): Promise<RelayEvent[]> {
  const result = await buildEvents(tx, context, settings);
  // Metadata written by this transaction applies from the next one on (a rename in N names N+1 anew).
  const metadataChange = context.metadata.apply(tx);
  if (metadataChange.tablesChanged.length) log.info({ tables: metadataChange.tablesChanged }, 'Undb table metadata changed');
  for (const problem of result.problems) log.error({ xid: tx.xid }, problem);
  if (result.skippedMigrationRows) {
    log.info({ xid: tx.xid, rows: result.skippedMigrationRows }, 'schema migration: record rows rewritten without a user edit, no events (events.schemaMigrations: skip)');
  }
  for (const event of result.events) {
    log.info({ id: event.id, event: event.name, table: event.tableName, records: event.items.length }, 'event built');
    if (log.isLevelEnabled('debug')) log.debug({ body: envelope(event) }, 'event body');
  }
  return result.events;
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
