/**
 * The slot and acknowledgement pitfalls of shared/notes/replication.md §0, each pinned, on every server.
 */
import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { parseLsn } from '../../src/source/lsn.js';
import { readSlot } from '../../src/source/setup.js';
import { createDatabase, startRelay, testConfig, undbWithRelay, type TestDatabase } from '../harness/relay.js';
import { RelayProcess, writeConfig } from '../harness/relayProcess.js';
import { UndbDatabase } from '../harness/undb.js';

const poll = async <T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting; last value ${String(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe.each(inject('servers'))('capture on $name', (server) => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('splits a 10,000-row insert in one transaction into 10 record.bulk_created of 1,000', async () => {
    const ctx = await undbWithRelay(server);
    cleanups.push(ctx.cleanup);
    const user = await ctx.undb.addUser('ann');
    const table = await ctx.undb.createTable('Big', [
      { name: 'N', type: 'number' },
      { name: 'Label', type: 'string' },
    ]);
    const rows = Array.from({ length: 10_000 }, (_, i) => ({ N: i + 1, Label: `row ${i + 1}` }));
    const ids = await ctx.undb.insertRecords(table, rows, { userId: user });
    const events = await ctx.collector.next(10);
    expect(events.map((event) => [event.name, event.items.length])).toEqual(Array(10).fill(['record.bulk_created', 1000]));
    expect(events.flatMap((event) => event.items.map((item) => item.recordId))).toEqual(ids);
    expect(new Set(events.map((event) => event.id)).size).toBe(10);
    expect(events.map((event) => event.ordinal)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('reads a backlog intact while the event log is stalled (stream paused, then resumed)', async () => {
    const ctx = await undbWithRelay(server);
    cleanups.push(ctx.cleanup);
    const user = await ctx.undb.addUser('ann');
    const table = await ctx.undb.createTable('Backlog', [{ name: 'Label', type: 'string' }]);
    const blocker = new pg.Client({ connectionString: ctx.database.url });
    await blocker.connect();
    cleanups.push(() => blocker.end());
    await blocker.query('BEGIN; LOCK TABLE undb_relay.events IN ACCESS EXCLUSIVE MODE');
    const labels = Array.from({ length: 1500 }, (_, i) => `record number ${i} ${'x'.repeat(i % 50)}`);
    const pool = ctx.undb;
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < labels.length) await pool.createRecord(table, { Label: labels[next++] }, { userId: user });
      }),
    );
    await new Promise((r) => setTimeout(r, 500));
    await blocker.query('ROLLBACK');
    const events = await ctx.collector.next(1500);
    expect(events.map((event) => event.items[0]!.record.Label).sort()).toEqual([...labels].sort());
    // Read in one go: no parse failure forced a reconnect and replay.
    expect(ctx.relay.capture.status.lastError).toBeUndefined();
  });

  it('advances an idle slot: WAL written elsewhere is not retained forever', async () => {
    const ctx = await undbWithRelay(server);
    cleanups.push(ctx.cleanup);
    // Churn in a table the publications do not cover: the relay sees only keepalives.
    await ctx.undb.pool.query('CREATE SCHEMA other; CREATE TABLE other.churn (n int)');
    await ctx.undb.pool.query('INSERT INTO other.churn SELECT generate_series(1, 50000)');
    const { rows } = await ctx.undb.pool.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
    const written = parseLsn(rows[0]!.lsn);
    const slot = await poll(
      () => readSlot(ctx.undb.pool, ctx.config.database.slot),
      (state) => (state?.confirmedFlushLsn ?? 0n) >= written,
    );
    expect(slot!.confirmedFlushLsn).toBeGreaterThanOrEqual(written);
  });

  it('retries a slot still held by another connection ("active for PID") and then captures', async () => {
    const database = await createDatabase(server);
    cleanups.push(() => database.drop());
    const undb = await UndbDatabase.create(database.url);
    cleanups.push(() => undb.close());
    const config = testConfig(database.url);
    // Create the slot, then hold it with a stray replication connection (a relay that died uncleanly).
    const first = await startRelay(config);
    await first.stop();
    const holder = new pg.Client({ connectionString: database.url, replication: 'database' } as pg.ClientConfig);
    await holder.connect();
    void holder
      .query(`START_REPLICATION SLOT "${config.database.slot}" LOGICAL 0/0 (proto_version '1', publication_names 'undb_relay')`)
      .catch(() => undefined);
    await poll(() => readSlot(undb.pool, config.database.slot), (state) => state?.active === true);

    const relay = await startRelay(config);
    cleanups.push(() => relay.stop());
    await poll(async () => relay.relay.capture.status.lastError, (error) => /still held by another connection/.test(error ?? ''));
    await holder.end();
    const table = await undb.createTable('T', [{ name: 'Name', type: 'string' }]);
    await undb.createRecord(table, { Name: 'after release' }, { userId: await undb.addUser('ann') });
    const [event] = await relay.collector.next(1);
    expect(event!.items[0]!.record.Name).toBe('after release');
  });

  it('replays, never skips, a transaction received but not yet durable when the relay is killed', async () => {
    const database = await createDatabase(server);
    cleanups.push(() => database.drop());
    const undb = await UndbDatabase.create(database.url);
    cleanups.push(() => undb.close());
    const file = writeConfig(`database:\n  url: ${database.url}\n  slot: ${database.name}\nhttp:\n  port: 0\n`);
    const ann = await undb.addUser('ann');
    const eventIdsOf = async (recordId: string) =>
      (
        await undb.pool.query<{ id: string }>(
          `select id::text from undb_relay.events where body::jsonb #>> '{event,record,id}' = $1 order by id`,
          [recordId],
        )
      ).rows.map((row) => row.id);

    let relay = RelayProcess.start(['run', '--config', file]);
    cleanups.push(() => relay.kill());
    await relay.waitForLine((line) => line.msg === 'streaming from the replication slot');
    const table = await undb.createTable('Deals', [{ name: 'Deal', type: 'string' }]);
    const a = await undb.createRecord(table, { Deal: 'A' }, { userId: ann });
    await poll(() => eventIdsOf(a), (ids) => ids.length === 1);

    // Hold the event log so B is received and built but cannot become durable, then kill the relay.
    const blocker = new pg.Client({ connectionString: database.url });
    await blocker.connect();
    await blocker.query('BEGIN; LOCK TABLE undb_relay.events IN ACCESS EXCLUSIVE MODE');
    const b = await undb.createRecord(table, { Deal: 'B' }, { userId: ann });
    await relay.waitForLine(() => relay.lines.filter((line) => line.msg === 'event built').length === 2);
    const bEventId = relay.lines.filter((line) => line.msg === 'event built')[1]!.id as string;
    await relay.kill('SIGKILL');
    await blocker.query('ROLLBACK');
    await blocker.end();
    const slotAfterKill = await readSlot(undb.pool, database.name);
    const durable = await undb.pool.query('select id from undb_relay.events');
    expect(durable.rowCount).toBe(1); // only A is durable
    expect(await eventIdsOf(b)).toEqual([]);

    // Written while the relay is down: must not be skipped either.
    const c = await undb.createRecord(table, { Deal: 'C' }, { userId: ann });
    relay = RelayProcess.start(['run', '--config', file]);
    await poll(async () => [(await eventIdsOf(b)).length, (await eventIdsOf(c)).length], ([nb, nc]) => nb === 1 && nc === 1, 60_000);
    expect(await eventIdsOf(b)).toEqual([bEventId]);
    expect(await eventIdsOf(a)).toHaveLength(1);
    // The replayed B was built again with the same id.
    await relay.waitForLine((line) => line.msg === 'event built' && line.id === bEventId);
    expect(slotAfterKill!.confirmedFlushLsn).toBeLessThan(
      (await readSlot(undb.pool, database.name))!.confirmedFlushLsn,
    );
    await relay.kill('SIGTERM');
  });

  it('never makes an Undb write fail: UPDATE and DELETE work on every metadata table, with the relay on', async () => {
    const ctx = await undbWithRelay(server);
    cleanups.push(ctx.cleanup);
    const { pool } = ctx.undb;
    const ann = await ctx.undb.addUser('ann');
    const contacts = await ctx.undb.createTable('Contacts', [{ name: 'Name', type: 'string' }]);
    const deals = await ctx.undb.createTable('Deals', [{ name: 'People', type: 'reference', references: contacts }]);
    await pool.query(
      `insert into undb_webhook (id, name, url, method, enabled, table_id, headers, event, space_id)
       values ('whk12345678', 'w', 'http://127.0.0.1/', 'POST', true, $1, '{}', 'record.created', $2)`,
      [deals.id, ctx.undb.spaceId],
    );
    await pool.query(`insert into undb_rollup_id_mapping values ('f', $1, 'r', $1)`, [deals.id]);
    await pool.query(`insert into undb_outbox (id, payload, timestamp, name, space_id) values ('o1', '{}', 1, 'x', $1)`, [ctx.undb.spaceId]);
    const statements = [
      `update undb_space set name = 'S2'`,
      `update undb_base set name = 'B2'`,
      `update undb_user set username = 'ann2' where id = '${ann}'`,
      `update undb_table set name = 'Deals 2' where id = '${deals.id}'`,
      `update undb_webhook set enabled = false`,
      `update undb_outbox set name = 'y'`,
      `update undb_reference_id_mapping set symmetric_field_id = null`,
      `update undb_rollup_id_mapping set rollup_id = 'r2'`,
      `delete from undb_outbox`,
      `delete from undb_webhook`,
      `delete from undb_rollup_id_mapping`,
    ];
    for (const sql of statements) await expect(pool.query(sql), sql).resolves.toBeDefined();
    // Deleting a reference field deletes from undb_reference_id_mapping, which has no primary key.
    await expect(ctx.undb.deleteReferenceField(deals, 'People')).resolves.toBeUndefined();
    // A table a future Undb migration might add without a primary key, created while the relay runs.
    await pool.query('CREATE TABLE undb_future (a text); INSERT INTO undb_future VALUES (1)');
    await expect(pool.query(`update undb_future set a = '2'`)).resolves.toBeDefined();
    await expect(pool.query('delete from undb_future')).resolves.toBeDefined();
    await expect(pool.query(`delete from undb_user where id = '${ann}'`)).resolves.toBeDefined();
    await expect(pool.query(`delete from undb_table where id = '${deals.id}'`)).resolves.toBeDefined();
  });
});
