/**
 * Subscriptions from YAML, the state table and Undb's own webhooks, changed while the relay runs.
 */
import pg from 'pg';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { main } from '../../src/ops/cli.js';
import { undbWithRelay } from '../harness/relay.js';
import { Receiver } from '../harness/receiver.js';
import { writeConfig } from '../harness/relayProcess.js';

describe.each(inject('servers'))('subscriptions on $name', (server) => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setUp(yaml = '') {
    const receiver = await Receiver.start();
    cleanups.push(() => receiver.stop());
    const ctx = await undbWithRelay(server, `delivery:\n  allowPrivateNetworks: true\n${yaml.replaceAll('RECEIVER', receiver.url)}`);
    cleanups.push(ctx.cleanup);
    const state = new pg.Pool({ connectionString: ctx.database.url });
    cleanups.push(() => state.end());
    const ann = await ctx.undb.addUser('ann');
    const deals = await ctx.undb.createTable('Deals', [
      { name: 'Deal', type: 'string' },
      { name: 'Stage', type: 'select', single: true, options: ['New', 'Won'] },
    ]);
    return { ctx, receiver, state, ann, deals };
  }

  const insertRow = (state: pg.Pool, id: string, url: string, extra: { condition?: unknown; table?: string } = {}) =>
    state.query(
      `insert into undb_relay.subscriptions (id, "table", events, url, unsigned, condition) values ($1, $2, '{record.*}', $3, true, $4)`,
      [id, extra.table ?? 'Deals', url, extra.condition ? JSON.stringify(extra.condition) : null],
    );

  it('takes a subscription row inserted, changed and disabled while running into account on the next transaction', async () => {
    const { ctx, receiver, state, ann, deals } = await setUp();
    await insertRow(state, 'row-sub', `${receiver.url}/v1`);
    await vi.waitFor(() => expect(ctx.relay.registry.find('row-sub')).toBeDefined(), { timeout: 1000 });
    await ctx.undb.createRecord(deals, { Deal: 'one' }, { userId: ann });
    await receiver.until((all) => all.length === 1);
    expect(receiver.requests[0]!.path).toBe('/v1');

    await state.query(`update undb_relay.subscriptions set url = $1 where id = 'row-sub'`, [`${receiver.url}/v2`]);
    await vi.waitFor(() => expect(ctx.relay.registry.find('row-sub')?.url).toMatch(/\/v2$/), { timeout: 1000 });
    await ctx.undb.createRecord(deals, { Deal: 'two' }, { userId: ann });
    await receiver.until((all) => all.length === 2);
    expect(receiver.requests[1]!.path).toBe('/v2');

    await state.query(`update undb_relay.subscriptions set enabled = false where id = 'row-sub'`);
    await vi.waitFor(() => expect(ctx.relay.registry.find('row-sub')?.enabled).toBe(false), { timeout: 1000 });
    await ctx.undb.createRecord(deals, { Deal: 'three' }, { userId: ann });
    await ctx.collector.until((events) => events.filter((e) => e.tableId === deals.id).length === 3);
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.requests).toHaveLength(2);
  });

  it('skips and reports an invalid row while the other subscriptions deliver', async () => {
    const { ctx, receiver, state, ann, deals } = await setUp();
    await insertRow(state, 'good', `${receiver.url}/good`);
    await insertRow(state, 'bad-table', `${receiver.url}/bad`, { table: 'No Such Table' });
    await insertRow(state, 'bad-field', `${receiver.url}/bad`, { condition: { conjunction: 'and', children: [{ field: 'Nope', op: 'eq', value: 1 }] } });
    await vi.waitFor(() => expect(ctx.relay.registry.find('good')).toBeDefined(), { timeout: 1000 });
    expect(ctx.relay.registry.problems.map((p) => [p.id, p.problem])).toEqual([
      ['bad-field', expect.stringMatching(/^subscription "bad-field": condition\.children\[0\]: table "Deals" has no field `Nope`/)],
      ['bad-table', 'subscription "bad-table": Undb has no table `No Such Table` (give its id, tbl…, or its exact name)'],
    ]);
    // `status` reports them too, without the daemon's help.
    const file = writeConfig(`database:\n  url: ${ctx.database.url}\n  slot: ${ctx.config.database.slot}\n`);
    const output = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    expect(await main(['status', '--config', file])).toBe(0);
    const printed = output.mock.calls.map((call) => String(call[0])).join('\n');
    output.mockRestore();
    expect(printed).toMatch(/subscription "bad-table": Undb has no table `No Such Table`/);
    await ctx.undb.createRecord(deals, { Deal: 'x' }, { userId: ann });
    await receiver.until((all) => all.length === 1);
    expect(receiver.requests.map((r) => r.path)).toEqual(['/good']);
  });

  it('keeps a subscription through a table rename, and reports it when its condition field is deleted', async () => {
    const yaml = `subscriptions:\n  - { id: won, table: Deals, events: [record.created], url: RECEIVER, unsigned: true, condition: { conjunction: and, children: [{ field: Stage, op: eq, value: Won }] } }\n`;
    const { ctx, receiver, ann, deals } = await setUp(yaml);
    await vi.waitFor(() => expect(ctx.relay.registry.find('won')).toBeDefined(), { timeout: 2000 });
    await ctx.undb.pool.query(`update undb_table set name = 'Opportunities' where id = $1`, [deals.id]);
    await ctx.undb.createRecord(deals, { Deal: 'lost one', Stage: 'New' }, { userId: ann });
    await ctx.undb.createRecord(deals, { Deal: 'won one', Stage: 'Won' }, { userId: ann });
    await receiver.until((all) => all.length === 1);
    expect(receiver.requests[0]!.json.event).toMatchObject({ tableName: 'Opportunities', record: { Deal: 'won one' } });

    await ctx.undb.dropField(deals, 'Stage');
    await vi.waitFor(() => expect(ctx.relay.registry.find('won')).toBeUndefined(), { timeout: 2000 });
    expect(ctx.relay.registry.problems[0]!.problem).toMatch(/subscription "won": condition\.children\[0\]: table "Opportunities" has no field `Stage`/);
  });

  it('serves Undb’s own webhooks (subscriptionSources.undbWebhooks) in Undb 1.x’s body, honouring event and enabled', async () => {
    const { ctx, receiver, ann, deals } = await setUp('subscriptionSources:\n  undbWebhooks: true\n');
    const webhook = (id: string, event: string, enabled: boolean, condition: unknown = null) =>
      ctx.undb.pool.query(
        `insert into undb_webhook (id, name, url, method, enabled, table_id, headers, condition, event, space_id)
         values ($1, 'w', $2, 'PATCH', $3, $4, '{"x-from":"undb"}', $5, $6, $7)`,
        [id, `${receiver.url}/${id}`, enabled, deals.id, condition ? JSON.stringify(condition) : null, event, ctx.undb.spaceId],
      );
    await webhook('whkcreated', 'record.created', true, { conjunction: 'and', children: [{ field: deals.field('Deal').id, op: 'starts_with', value: 'ok' }] });
    await webhook('whkupdated', 'record.updated', true);
    await webhook('whkoff0000', 'record.created', false);
    const skipped = await ctx.undb.createRecord(deals, { Deal: 'skip me' }, { userId: ann });
    const id = await ctx.undb.createRecord(deals, { Deal: 'ok go', Stage: 'Won' }, { userId: ann });
    await ctx.undb.updateRecords(deals, [id], { Deal: 'ok renamed' }, { userId: ann });
    await receiver.until((all) => all.length === 2);
    const byPath = (path: string) => receiver.requests.filter((r) => r.path === path);
    expect(byPath('/whkoff0000')).toHaveLength(0);
    const [created] = byPath('/whkcreated');
    expect(created!.method).toBe('PATCH');
    expect(created!.headers['x-from']).toBe('undb');
    expect(created!.json).toMatchObject({
      id: created!.json.event.id,
      operatorId: ann,
      event: { name: 'record.created', operatorId: ann, payload: { id, tableId: deals.id } },
    });
    // `event` is honoured (Undb 1.x sends every event to every webhook of the table); the condition too.
    expect(byPath('/whkcreated').map((r) => r.json.event.payload.id)).toEqual([id]);
    expect(byPath('/whkcreated').map((r) => r.json.event.payload.id)).not.toContain(skipped);
    expect(byPath('/whkupdated').map((r) => [r.json.event.name, r.json.event.payload.id])).toEqual([['record.updated', id]]);
    // Undb 1.x's own signature: the unkeyed hash (no signing.secrets configured).
    const { createHash } = await import('node:crypto');
    const expected = createHash('sha256').update(JSON.stringify(`${created!.json.timestamp}.${created!.body}`)).digest('hex');
    expect(created!.headers['x-undb-signature']).toBe(`undb_${expected}`);
    expect(created!.headers['webhook-signature']).toBeUndefined();
  });
});

describe('a bad configuration file', () => {
  it('prints every problem with its path and exits 2', async () => {
    const file = writeConfig(
      [
        'database:',
        '  url: postgres://127.0.0.1:1/x',
        'delivery:',
        '  concurency: 4',
        '  retry: { maxAttempts: 0 }',
        'subscriptions:',
        '  - id: crm',
        '    table: Deals',
        '    events: [record.created]',
        '    url: not a url',
      ].join('\n'),
    );
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const code = await main(['run', '--config', file]);
    const printed = errors.mock.calls.map((call) => String(call[0])).join('\n');
    errors.mockRestore();
    expect(code).toBe(2);
    expect(printed).toContain('delivery.concurency: unknown key (did you mean concurrency?) (line 4)');
    expect(printed).toContain('delivery.retry.maxAttempts: expected a whole number ≥ 1, got 0 (line 5)');
    expect(printed).toContain('subscriptions[0]: subscription "crm": url `not a url` is not an http:// or https:// URL (line 7)');
    expect(printed).toContain('subscriptions[0]: subscription "crm": has no secret');
  });
});
