/**
 * `undb-relay <command>`. Exit codes: 0 ok, 1 a check failed or a fatal error, 2 bad usage or configuration.
 * Expected failures print one clear message, never a stack trace.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { ConfigError, configPath, loadConfig } from '../config/load.js';
import type { RelayConfig } from '../config/schema.js';
import { setUpSource, tearDownSource } from '../source/setup.js';
import { createLogger } from './log.js';
import { migrate } from './migrate.js';
import { Relay, sourceNames } from './relay.js';
import { quoteIdent } from '../source/setup.js';
import { DeliveryStore } from '../delivery/store.js';
import { statusReport } from './status.js';
import { demo } from './demo/demo.js';
import { printFindings, runChecks } from './check.js';
import { LocalPostgresError } from './localPostgres.js';

const USAGE = `usage: undb-relay <command> [--config FILE]

commands:
  run          stream Undb's changes, build webhook events and deliver them (the daemon)
  demo         the relay on an embedded Postgres with a demo Undb and a built-in receiver [--keep-running]
  check        every prerequisite with pass/fail and the fix; exit 1 on any failure
  setup        create the relay's schema, publications and slot; REPLICA IDENTITY FULL on record tables
  status       slot lag and retained WAL, outbox backlog, dead letters per subscription [--json]
  deliveries   the delivery log [--failed] [--subscription ID] [--limit N]
  redeliver    put deliveries back on the queue: <delivery-or-event-id…> | --subscription ID [--since TIME] | --dead
  teardown     drop the slot and publications (--drop-state: and the relay's schema)
  start        what \`npm start\` runs: \`run\` when a database is configured, else \`demo\``;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  let values: Flags;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: rest,
      options: {
        config: { type: 'string' },
        'drop-state': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        json: { type: 'boolean' },
        failed: { type: 'boolean' },
        dead: { type: 'boolean' },
        subscription: { type: 'string' },
        since: { type: 'string' },
        limit: { type: 'string' },
        'keep-running': { type: 'boolean' },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!command || values.help || command === 'help') {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  try {
    switch (command) {
      case 'run':
        return await run(loadConfig(configPath(values.config)));
      case 'start':
        return await start(values.config, values['keep-running'] ?? false);
      case 'demo':
        return await demo({ keepRunning: values['keep-running'] ?? false });
      case 'setup':
        return await setup(loadConfig(configPath(values.config)));
      case 'check':
        return await check(loadConfig(configPath(values.config)));
      case 'status':
        return await status(loadConfig(configPath(values.config)), values.json ?? false);
      case 'deliveries':
        return await deliveries(loadConfig(configPath(values.config)), values);
      case 'redeliver':
        return await redeliver(loadConfig(configPath(values.config)), values, positionals);
      case 'teardown':
        return await teardown(loadConfig(configPath(values.config)), values['drop-state'] ?? false);
      default:
        console.error(`unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    if (error instanceof LocalPostgresError) {
      console.error(`undb-relay ${command}: the embedded Postgres could not start. ${error.message}`);
      return 1;
    }
    if (error instanceof UsageError) {
      console.error(`${error.message}\n\n${USAGE}`);
      return 2;
    }
    console.error(`undb-relay ${command}: ${describe(error)}`);
    return 1;
  }
}

/** With a database configured (DATABASE_URL or a config file): the daemon. Without: the demo. */
async function start(flag: string | undefined, keepRunning: boolean): Promise<number> {
  const file = configPath(flag);
  if (file || process.env.DATABASE_URL) return run(loadConfig(file));
  return demo({ keepRunning });
}

async function run(config: RelayConfig): Promise<number> {
  const log = createLogger();
  const relay = await Relay.start(config, log);
  log.info({ slot: config.database.slot }, 'undb-relay is running; SIGTERM or Ctrl-C stops it');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info('stopping: finishing what is in flight');
  await relay.stop();
  return 0;
}

async function setup(config: RelayConfig): Promise<number> {
  await withPools(config, async (source, state) => {
    const { slot, coverageTrigger } = await setUpSource(source, sourceNames(config), config.state.schema);
    const applied = await migrate(state, config.state.schema);
    console.log(`slot ${config.database.slot}: ready (confirmed up to ${slot.confirmedFlushLsn.toString(16)})`);
    console.log(`publications ${config.database.publication}, ${config.database.publication}_changes: ready`);
    console.log(
      coverageTrigger
        ? 'new Undb tables: covered in their CREATE TABLE transaction (event trigger)'
        : 'new Undb tables: covered when seen in the WAL (not a superuser: no event trigger; edits right after creation can be missed)',
    );
    console.log(`state schema ${config.state.schema}: ${applied.length ? `applied ${applied.join(', ')}` : 'up to date'}`);
  });
  return 0;
}

async function teardown(config: RelayConfig, dropState: boolean): Promise<number> {
  await withPools(config, async (source, state) => {
    const dropped = await tearDownSource(source, sourceNames(config));
    if (dropState) {
      await state.query(`DROP SCHEMA IF EXISTS ${quoteIdent(config.state.schema)} CASCADE`);
      dropped.push(`schema ${config.state.schema}`);
    }
    console.log(dropped.length ? `dropped ${dropped.join(', ')}` : 'nothing to drop');
  });
  return 0;
}

interface Flags {
  'keep-running'?: boolean;
  config?: string;
  'drop-state'?: boolean;
  help?: boolean;
  json?: boolean;
  failed?: boolean;
  dead?: boolean;
  subscription?: string;
  since?: string;
  limit?: string;
}

class UsageError extends Error {}

async function deliveries(config: RelayConfig, flags: Flags): Promise<number> {
  const limit = flags.limit === undefined ? 50 : Number(flags.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit takes a whole number ≥ 1, not "${flags.limit}"`);
  await withPools(config, async (_source, state) => {
    const rows = await new DeliveryStore(state, config.state.schema).list({ failed: flags.failed, subscription: flags.subscription, limit });
    if (flags.json) return console.log(JSON.stringify(rows, null, 2));
    if (rows.length === 0) return console.log('no deliveries');
    console.log(['delivery', 'event', 'subscription', 'name', 'status', 'attempts', 'last', 'created'].join('\t'));
    for (const row of rows) {
      console.log(
        [row.id, row.event_id, row.subscription_id, row.event_name, row.status, row.attempts,
          row.last_status ?? row.last_error ?? '', row.created_at.toISOString()].join('\t'),
      );
    }
  });
  return 0;
}

async function redeliver(config: RelayConfig, flags: Flags, ids: string[]): Promise<number> {
  const since = flags.since ? new Date(flags.since) : undefined;
  if (since && Number.isNaN(since.getTime())) throw new UsageError(`--since takes a date or time (2026-11-27T10:00:00Z), not "${flags.since}"`);
  if (ids.length === 0 && !flags.subscription && !flags.dead) {
    throw new UsageError('redeliver needs delivery or event ids, --subscription ID [--since TIME], or --dead');
  }
  await withPools(config, async (_source, state) => {
    const count = await new DeliveryStore(state, config.state.schema).redeliver({ ids, subscription: flags.subscription, since, dead: flags.dead });
    console.log(`${count} deliver${count === 1 ? 'y' : 'ies'} queued again (same event id, fresh signature)`);
  });
  return 0;
}

async function check(config: RelayConfig): Promise<number> {
  let passed = false;
  await withPools(config, async (source, state) => {
    passed = printFindings(await runChecks(source, state, config));
  });
  return passed ? 0 : 1;
}

async function status(config: RelayConfig, json: boolean): Promise<number> {
  await withPools(config, async (source, state) => {
    const report = await statusReport(source, state, config);
    if (json) return console.log(JSON.stringify(report, null, 2));
    const slot = report.slot;
    console.log(slot ? `slot ${config.database.slot}: ${slot.active ? 'active' : 'inactive'}, ${slot.wal_status ?? ''}, lag ${slot.lag_bytes} bytes, retains ${slot.retained_bytes} bytes of WAL` : `slot ${config.database.slot}: missing (run setup)`);
    console.log(`subscriptions: ${report.subscriptions.active} active, ${report.subscriptions.problems.length} with problems`);
    for (const problem of report.subscriptions.problems) console.log(`  ${problem.source}: ${problem.problem}`);
    console.log(`outbox: ${report.pending} pending, ${report.inFlight} in flight, ${report.dead} dead`);
    for (const row of report.bySubscription) console.log(`  ${row.subscription_id}: ${row.count} ${row.status}`);
  });
  return 0;
}

async function withPools(config: RelayConfig, work: (source: pg.Pool, state: pg.Pool) => Promise<void>) {
  const source = new pg.Pool({ connectionString: config.database.url, max: 2 });
  const state = new pg.Pool({ connectionString: config.state.url, max: 2 });
  try {
    await work(source, state);
  } finally {
    await Promise.all([source.end(), state.end()]);
  }
}

function describe(error: unknown): string {
  const err = error as { message?: string; code?: string };
  if (err.code === 'ECONNREFUSED') return `cannot connect to Postgres (${err.message}). Is it running, and is database.url right?`;
  if (err.code === '28P01' || err.code === '28000') return `Postgres refused the login (${err.message}). Check the user and password in database.url.`;
  if (err.code === '55000' && /wal_level/.test(err.message ?? '')) {
    return `${err.message}. Set wal_level = logical in postgresql.conf and restart Postgres.`;
  }
  if (err.code === '42501') return `${err.message}. The relay's role needs REPLICATION and ownership of Undb's tables (or superuser).`;
  return err.message ?? String(error);
}
