/**
 * Capture benchmark: rows/s from WAL to built events, beside a bare pgoutput reader draining the same WAL
 * in the same run (its own slot, created at the same point). Prints figures; asserts nothing.
 *
 *   npm run bench:capture            (ROWS=200000 TXS=20000 by default)
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { buildEvents } from '../src/events/build.js';
import { Outbox } from '../src/delivery/outbox.js';
import { embeddedBinDir, LocalPostgres } from '../src/ops/localPostgres.js';
import { silentLogger } from '../src/ops/log.js';
import { migrate } from '../src/ops/migrate.js';
import { Capture, type TransactionHandler } from '../src/source/capture.js';
import { ReplicationStream } from '../src/source/replicationStream.js';
import { ensureSlot, publicationNames, setUpSource, type SourceNames } from '../src/source/setup.js';
import { UndbMetadata } from '../src/undb/metadata.js';
import { UndbDatabase, type TableHandle } from '../src/ops/demo/undbDatabase.js';

const BULK_ROWS = Number(process.env.ROWS ?? 200_000);
const SMALL_TXS = Number(process.env.TXS ?? 20_000);

interface Run {
  label: string;
  rows: number;
  seconds: number;
  peakRssMb: number;
}

async function main() {
  const server = await LocalPostgres.start({
    binDir: await embeddedBinDir(),
    settings: { synchronous_commit: 'off', max_wal_size: '4GB', logical_decoding_work_mem: '256MB' },
  });
  try {
    const url = server.url();
    const undb = await UndbDatabase.create(url);
    const user = await undb.addUser('bench');
    const table = await undb.createTable('Deals', [
      { name: 'Deal', type: 'string', display: true },
      { name: 'Value', type: 'currency' },
      { name: 'Stage', type: 'select', single: true, options: ['New', 'Won', 'Lost'] },
      { name: 'Due', type: 'date' },
      { name: 'Data', type: 'json' },
    ]);
    const row = (i: number) => ({ Deal: `deal ${i}`, Value: i / 10, Stage: 'Won', Due: new Date(1_700_000_000_000 + i), Data: { i } });

    console.log(`undb-relay capture benchmark: Postgres 18 (embedded), node ${process.version}`);
    for (const workload of ['bulk', 'small'] as const) {
      const names = (slot: string): SourceNames => ({ slot, publication: 'undb_relay', undbSchema: 'public' });
      await setUpSource(undb.pool, names('bench_relay'), 'undb_relay');
      await ensureSlot(undb.pool, 'bench_bare');
      await ensureSlot(undb.pool, 'bench_durable');
      const rows = await generate(workload, undb, table, user, row);
      const label = workload === 'bulk' ? `1 transaction of ${BULK_ROWS} rows` : `${SMALL_TXS} one-row transactions`;
      console.log(`\n${label} (Undb-shaped: each record with its undb_outbox row)`);
      // Each measurement in a fresh process, so its memory figure is its own.
      const runs = [
        await measure({ variant: 'bare', url, slot: 'bench_bare', rows }),
        await measure({ variant: 'built', url, slot: 'bench_relay', rows }),
        await measure({ variant: 'durable', url, slot: 'bench_durable', rows }),
      ];
      for (const run of runs) {
        console.log(
          `  ${run.label.padEnd(44)} ${String(Math.round(run.rows / run.seconds)).padStart(8)} rows/s  ` +
            `(${run.seconds.toFixed(2)} s, peak RSS ${run.peakRssMb} MB)`,
        );
      }
      for (const slot of ['bench_relay', 'bench_bare', 'bench_durable']) await undb.pool.query('select pg_drop_replication_slot($1)', [slot]);
      await undb.pool.query('delete from undb_outbox');
      await undb.pool.query('truncate undb_relay.events');
    }
    await undb.close();
  } finally {
    await server.stop();
  }
}

async function generate(workload: 'bulk' | 'small', undb: UndbDatabase, table: TableHandle, user: string, row: (i: number) => Record<string, unknown>) {
  const started = Date.now();
  if (workload === 'bulk') {
    await undb.insertRecords(table, Array.from({ length: BULK_ROWS }, (_, i) => row(i)), { userId: user });
  } else {
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < SMALL_TXS) {
          const i = next++;
          await undb.createRecord(table, row(i), { userId: user });
        }
      }),
    );
  }
  const rows = workload === 'bulk' ? BULK_ROWS : SMALL_TXS;
  console.log(`\nwrote ${rows} records in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return rows;
}

function rssSampler() {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  return () => {
    clearInterval(timer);
    return Math.round(Math.max(peak, process.memoryUsage().rss) / 1_048_576);
  };
}

/** The ceiling: the same replication stream with nothing done per row but counting record inserts. */
async function bareReader(url: string, names: SourceNames, expected: number): Promise<Run> {
  const stream = new ReplicationStream({ connectionString: url, slot: names.slot, publications: publicationNames(names) });
  const peak = rssSampler();
  const started = performance.now();
  let seen = 0;
  let seconds = 0;
  const done = new Promise<void>((resolve) => {
    void stream.run(0n, {
      onMessage: (message) => {
        if (message.tag === 'insert' && message.relation.name.startsWith('tbl')) seen++;
        if (message.tag === 'commit' && seen >= expected) {
          seconds = (performance.now() - started) / 1000;
          resolve();
        }
      },
      onKeepalive: () => undefined,
    });
  });
  await done;
  await stream.stop();
  return { label: 'bare pgoutput reader (ceiling)', rows: seen, seconds, peakRssMb: peak() };
}

/** The relay's capture path: stream, assembly, metadata, readable records, events; durable or not. */
async function capture(url: string, names: SourceNames, expected: number, durable: boolean): Promise<Run> {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined);
  const metadata = await UndbMetadata.load(pool, names.undbSchema);
  const context = { db: pool, metadata, timeZone: 'UTC', readsGeneratedColumns: true };
  const settings = { slot: names.slot, maxBulkSize: 1000, schemaMigrations: 'skip' as const };
  if (durable) await migrate(pool, 'undb_relay');
  const eventLog = new Outbox(pool, 'undb_relay', names.slot);
  let seen = 0;
  let finished: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finished = resolve));
  const handle: TransactionHandler = async (tx) => {
    const { events } = await buildEvents(tx, context, settings);
    metadata.apply(tx);
    for (const event of events) seen += event.items.length;
    const written = durable && events.length ? eventLog.write({ events, deliveries: [] }, tx.commitEndLsn) : Promise.resolve();
    return { durable: written };
  };
  const capture = new Capture({ connectionString: url, db: pool, names, log: silentLogger(), handle });
  const peak = rssSampler();
  const started = performance.now();
  capture.start();
  const watch = setInterval(() => {
    if (seen >= expected) finished();
  }, 2);
  await done;
  clearInterval(watch);
  // Every write for the last transaction is queued by now: wait until it has committed.
  await eventLog.close();
  const seconds = (performance.now() - started) / 1000;
  await capture.stop();
  await pool.end();
  return {
    label: durable ? 'relay: built events + durable event log' : 'relay: built events (WAL → events)',
    rows: seen,
    seconds,
    peakRssMb: peak(),
  };
}

interface Measurement {
  variant: 'bare' | 'built' | 'durable';
  url: string;
  slot: string;
  rows: number;
}

function measure(job: Measurement): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
      env: { ...process.env, BENCH_JOB: JSON.stringify(job) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(output) as Run) : reject(new Error(`${job.variant} run failed (${code})`))));
  });
}

async function runJob(job: Measurement): Promise<Run> {
  const names: SourceNames = { slot: job.slot, publication: 'undb_relay', undbSchema: 'public' };
  if (job.variant === 'bare') return bareReader(job.url, names, job.rows);
  return capture(job.url, names, job.rows, job.variant === 'durable');
}

const job = process.env.BENCH_JOB ? (JSON.parse(process.env.BENCH_JOB) as Measurement) : undefined;
(job ? runJob(job).then((run) => process.stdout.write(JSON.stringify(run))) : main()).catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
