/**
 * What an operator scrapes and probes: /metrics, /healthz, /readyz.
 */
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { freePort } from '../../src/ops/localPostgres.js';
import { main } from '../../src/ops/cli.js';
import { undbWithRelay } from '../harness/relay.js';
import { writeConfig } from '../harness/relayProcess.js';

describe.each(inject('servers'))('operations endpoints on $name', (server) => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => cleanup?.());

  it('serves Prometheus metrics, liveness and readiness', async () => {
    const port = await freePort();
    const ctx = await undbWithRelay(server, `http:\n  port: ${port}\nslot:\n  maxRetainedWalBytes: 1073741824\n`);
    cleanup = ctx.cleanup;
    expect(ctx.relay.ops?.port).toBe(port);
    const get = async (path: string) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: response.status, text: await response.text() };
    };
    expect(await get('/healthz')).toEqual({ status: 200, text: '{"status":"ok"}' });
    await vi.waitFor(async () => expect((await get('/readyz')).status).toBe(200), { timeout: 5000 });
    const ann = await ctx.undb.addUser('ann');
    const deals = await ctx.undb.createTable('Deals', [{ name: 'Deal', type: 'string' }]);
    await ctx.undb.insertRecords(deals, [{ Deal: 'a' }, { Deal: 'b' }], { userId: ann });
    await ctx.collector.next(1);
    const metrics = (await get('/metrics')).text;
    expect(metrics).toMatch(/^undb_relay_events_total 1$/m);
    expect(metrics).toMatch(/^undb_relay_up 1$/m);
    expect(metrics).toMatch(/^undb_relay_slot_bytes\{kind="retained"\} \d+$/m);
  });
});

describe.each(inject('servers'))('undb-relay check on $name', (server) => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => cleanup?.());

  it('passes on a set-up database, and names the table and the fix when REPLICA IDENTITY is missing', async () => {
    const ctx = await undbWithRelay(server);
    cleanup = ctx.cleanup;
    const deals = await ctx.undb.createTable('Deals', [{ name: 'Deal', type: 'string' }]);
    // Once this event is built the relay has handled the table's creation (and will not touch it again).
    await ctx.undb.createRecord(deals, { Deal: 'x' }, { userId: await ctx.undb.addUser('ann') });
    await ctx.collector.next(1);
    const file = writeConfig(`database:\n  url: ${ctx.database.url}\n  slot: ${ctx.config.database.slot}\n`);
    const run = async () => {
      const output = vi.spyOn(console, 'log').mockImplementation(() => undefined);
      const code = await main(['check', '--config', file]);
      const printed = output.mock.calls.map((call) => String(call[0])).join('\n');
      output.mockRestore();
      return { code, printed };
    };
    await vi.waitFor(async () => expect((await run()).code).toBe(0), { timeout: 5000 });
    await ctx.undb.pool.query(`ALTER TABLE "${deals.id}" REPLICA IDENTITY DEFAULT`);
    const { code, printed } = await run();
    expect(code).toBe(1);
    expect(printed).toContain(`FAIL  REPLICA IDENTITY FULL: missing on 1 tables: ${deals.id}`);
    expect(printed).toContain('fix: run `undb-relay setup`');
    expect(printed).toMatch(/^pass  wal_level: logical$/m);
  });
});
