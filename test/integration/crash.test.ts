/**
 * At least once, never lost: the relay is SIGKILLed at random moments while Undb commits 5,000
 * transactions, and restarted each time. Every event must reach the receiver; duplicates must be exact.
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createDatabase } from '../harness/relay.js';
import { RelayProcess, writeConfig } from '../harness/relayProcess.js';
import { Receiver } from '../harness/receiver.js';
import { UndbDatabase } from '../harness/undb.js';

const TRANSACTIONS = Number(process.env.CRASH_TRANSACTIONS ?? 5000);

describe.each(inject('servers'))('crash safety on $name', (server) => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it(`delivers every event of ${TRANSACTIONS} transactions through random SIGKILLs`, { timeout: 240_000 }, async () => {
    const database = await createDatabase(server);
    cleanups.push(() => database.drop());
    const undb = await UndbDatabase.create(database.url);
    cleanups.push(() => undb.close());
    const receiver = await Receiver.start();
    cleanups.push(() => receiver.stop());
    const ann = await undb.addUser('ann');
    const deals = await undb.createTable('Deals', [{ name: 'N', type: 'number' }]);
    const file = writeConfig(
      [
        'database:',
        `  url: ${database.url}`,
        `  slot: ${database.name}`,
        'http:',
        '  port: 0',
        'delivery:',
        '  retry: { maxAttempts: 20, initialDelayMs: 50, maxDelayMs: 500 }',
        'subscriptions:',
        `  - { id: all, table: Deals, events: [record.*], url: ${receiver.url}, secrets: [s3cret] }`,
      ].join('\n'),
    );

    let relay = RelayProcess.start(['run', '--config', file]);
    cleanups.push(() => relay.kill());
    await relay.waitForLine((line) => line.msg === 'streaming from the replication slot', 60_000);

    let written = 0;
    const writing = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (written < TRANSACTIONS) {
          written += 1;
          await undb.createRecord(deals, { N: written }, { userId: ann });
        }
      }),
    );
    let kills = 0;
    let done = false;
    void writing.then(() => (done = true));
    // Kill while Undb writes and for a while after, at random moments, restarting at once each time.
    const killUntil = () => done && kills >= 3;
    while (!killUntil()) {
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 1500));
      await relay.kill('SIGKILL');
      kills += 1;
      relay = RelayProcess.start(['run', '--config', file]);
    }
    await writing;

    const ids = new Set((await undb.pool.query<{ id: string }>(`select id from "${deals.id}"`)).rows.map((row) => row.id));
    expect(ids.size).toBe(TRANSACTIONS);
    const received = () => new Set(receiver.requests.map((request) => request.json?.event?.record?.id));
    try {
      await receiver.until(() => {
        const got = received();
        return [...ids].every((id) => got.has(id));
      }, 150_000);
    } catch (error) {
      const q = (sql: string) => undb.pool.query(sql).then((r) => JSON.stringify(r.rows));
      console.log('events', await q(`select count(*), count(distinct body::jsonb #>> '{event,record,id}') from undb_relay.events`));
      console.log('deliveries', await q(`select status, count(*), min(attempts), max(attempts), min(last_error) from undb_relay.deliveries group by 1`));
      console.log('slot', await q(`select active, confirmed_flush_lsn, pg_current_wal_lsn() from pg_replication_slots where slot_name = '${database.name}'`));
      console.log('relay warnings', JSON.stringify(relay.lines.filter((l) => Number(l.level) >= 40).slice(-5)), relay.stderr.slice(-2000));
      throw error;
    }

    const byEvent = new Map<string, Set<string>>();
    for (const request of receiver.requests) {
      const id = String(request.headers['webhook-id']);
      byEvent.set(id, (byEvent.get(id) ?? new Set()).add(request.body));
    }
    const duplicates = receiver.requests.length - byEvent.size;
    const got = received();
    console.log(
      `crash test (${server.name}): ${TRANSACTIONS} transactions, ${kills} SIGKILLs, ${receiver.requests.length} requests, ` +
        `${byEvent.size} distinct events, ${duplicates} duplicates, ${[...ids].filter((id) => !got.has(id)).length} missing`,
    );
    expect(byEvent.size).toBe(TRANSACTIONS);
    expect([...byEvent.values()].every((bodies) => bodies.size === 1)).toBe(true);
    await relay.kill('SIGTERM');
  });
});
