import { afterEach, describe, expect, inject, it } from 'vitest';
import { undbWithRelay } from '../harness/relay.js';

describe.each(inject('servers'))('smoke on $name', (server) => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => cleanup?.());

  it('builds record.created for an insert', async () => {
    const ctx = await undbWithRelay(server);
    cleanup = ctx.cleanup;
    const user = await ctx.undb.addUser('ann');
    const deals = await ctx.undb.createTable('Deal Tracker', [{ name: 'Deal', type: 'string', display: true }]);
    await ctx.undb.createRecord(deals, { Deal: 'first' }, { userId: user });
    const [event] = await ctx.collector.next(1);
    expect(event!.name).toBe('record.created');
    expect(event!.items[0]!.record.Deal).toBe('first');
  });
});
