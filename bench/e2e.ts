/**
 * End-to-end benchmark: Undb-shaped writes → relay (its own process) → a local receiver. Prints delivered
 * events/s and rows/s, and commit → arrival latency (p50, p99), for one-row transactions at a steady rate
 * and for bulk transactions. Asserts nothing.
 *
 *   npm run bench      (capture figures and the bare-reader ceiling first, then this)
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { embeddedBinDir, LocalPostgres } from '../src/ops/localPostgres.js';
import { UndbDatabase } from '../src/ops/demo/undbDatabase.js';
import { RelayProcess, writeConfig } from '../test/harness/relayProcess.js';

const RATE = Number(process.env.RATE ?? 500); // one-row transactions per second
const SECONDS = Number(process.env.SECONDS ?? 10);
const BULK_TXS = Number(process.env.BULK_TXS ?? 20);
const BULK_ROWS = Number(process.env.BULK_ROWS ?? 1000);
const PER_ENDPOINT = Number(process.env.PER_ENDPOINT ?? 8); // delivery.perEndpoint

interface Arrival {
  latencyMs: number;
  records: number;
  at: number;
}

async function main() {
  const arrivals: Arrival[] = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const now = Date.now();
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { timestamp: string; event: { records?: unknown[] } };
      arrivals.push({ latencyMs: now - Date.parse(body.timestamp), records: body.event.records?.length ?? 1, at: now });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const server = await LocalPostgres.start({ binDir: await embeddedBinDir(), settings: { max_wal_size: '2GB' } });
  let relay: RelayProcess | undefined;
  try {
    const undb = await UndbDatabase.create(server.url());
    const user = await undb.addUser('bench');
    const table = await undb.createTable('Deals', [
      { name: 'Deal', type: 'string' },
      { name: 'Value', type: 'currency' },
      { name: 'Stage', type: 'select', single: true, options: ['New', 'Won'] },
    ]);
    const config = writeConfig(
      `database:\n  url: ${server.url()}\nhttp:\n  port: 0\ndelivery:\n  perEndpoint: ${PER_ENDPOINT}\nsubscriptions:\n  - { id: bench, table: Deals, events: [record.*], url: ${url}, secrets: [bench-secret] }\n`,
    );
    relay = RelayProcess.start(['run', '--config', config], { LOG_LEVEL: 'info' });
    await relay.waitForLine((line) => line.msg === 'streaming from the replication slot', 60_000);
    console.log(`\nundb-relay end-to-end benchmark: Postgres 18 (embedded), relay in its own process, receiver on 127.0.0.1, delivery.perEndpoint ${PER_ENDPOINT}`);

    // Steady one-row transactions.
    const total = RATE * SECONDS;
    const started = Date.now();
    let sent = 0;
    const writers = Array.from({ length: 8 }, async () => {
      while (sent < total) {
        const i = sent++;
        const due = started + (i * 1000) / RATE;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        await undb.createRecord(table, { Deal: `deal ${i}`, Value: i, Stage: 'Won' }, { userId: user });
      }
    });
    await Promise.all(writers);
    await until(() => arrivals.length >= total);
    report(`${total} one-row transactions at ${RATE}/s`, arrivals.splice(0));
    const split = await undb.pool.query(
      `select percentile_cont(0.5) within group (order by extract(epoch from e.created_at - e.committed_at) * 1000) as capture_ms,
              percentile_cont(0.5) within group (order by extract(epoch from d.delivered_at - d.created_at) * 1000) as dispatch_ms
         from undb_relay.events e join undb_relay.deliveries d on d.event_id = e.id`,
    );
    console.log(`    median split: commit → outbox ${Math.round(split.rows[0].capture_ms)} ms, outbox → delivered ${Math.round(split.rows[0].dispatch_ms)} ms`);

    // Bulk transactions: one record.bulk_created of BULK_ROWS each.
    for (let i = 0; i < BULK_TXS; i++) {
      await undb.insertRecords(table, Array.from({ length: BULK_ROWS }, (_, j) => ({ Deal: `bulk ${i}/${j}`, Value: j, Stage: 'New' })), { userId: user });
    }
    await until(() => arrivals.reduce((sum, a) => sum + a.records, 0) >= BULK_TXS * BULK_ROWS);
    report(`${BULK_TXS} transactions of ${BULK_ROWS} rows`, arrivals.splice(0));
    await undb.close();
  } finally {
    await relay?.kill('SIGTERM');
    await server.stop();
    receiver.close();
  }
}

async function until(done: () => boolean, timeoutMs = 300_000) {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('benchmark timed out waiting for deliveries');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function report(label: string, arrivals: Arrival[]) {
  const latencies = arrivals.map((a) => a.latencyMs).sort((a, b) => a - b);
  const pick = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  const first = Math.min(...arrivals.map((a) => a.at - a.latencyMs));
  const last = Math.max(...arrivals.map((a) => a.at));
  const seconds = (last - first) / 1000;
  const rows = arrivals.reduce((sum, a) => sum + a.records, 0);
  console.log(
    `  ${label.padEnd(40)} ${Math.round(arrivals.length / seconds)} events/s, ${Math.round(rows / seconds)} rows/s delivered; ` +
      `commit → arrival p50 ${pick(0.5)} ms, p99 ${pick(0.99)} ms, max ${latencies.at(-1)} ms`,
  );
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
