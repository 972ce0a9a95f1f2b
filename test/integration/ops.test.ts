/**
 * What an operator scrapes and probes: /metrics, /healthz, /readyz.
 */
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { freePort } from '../../src/ops/localPostgres.js';
import { undbWithRelay } from '../harness/relay.js';

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
