/**
 * Delivery to real receivers on 127.0.0.1: retries, Retry-After, dead letters and redelivery, isolation of
 * a slow receiver, per-record order, signatures a receiver can verify.
 */
import { createHmac } from 'node:crypto';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { main } from '../../src/ops/cli.js';
import { undbWithRelay } from '../harness/relay.js';
import { Receiver } from '../harness/receiver.js';
import { writeConfig } from '../harness/relayProcess.js';

const SECRET = `whsec_${Buffer.from('a very secret key for tests').toString('base64')}`;
const OLD_SECRET = 'previous-plain-secret';

type Context = Awaited<ReturnType<typeof undbWithRelay>>;

const FAST_RETRIES = '  retry: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 200 }\n';

function yaml(subscriptions: string, delivery = FAST_RETRIES): string {
  return `delivery:\n${delivery}subscriptions:\n${subscriptions}`;
}

const subscription = (id: string, url: string, extra = '') =>
  `  - id: ${id}\n    table: Deals\n    events: [record.*]\n    url: ${url}\n    secrets: [${SECRET}, ${OLD_SECRET}]\n${extra}`;

describe.each(inject('servers'))('delivery on $name', (server) => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setUp(config: (receivers: Receiver[]) => string, receiverCount = 1) {
    const receivers = await Promise.all(Array.from({ length: receiverCount }, () => Receiver.start()));
    cleanups.push(() => Promise.all(receivers.map((r) => r.stop())));
    // The table must exist before the relay resolves subscriptions that name it.
    const ctx = await undbWithRelay(server, config(receivers));
    cleanups.push(ctx.cleanup);
    return { ctx, receivers };
  }

  async function withDeals(ctx: Context) {
    const ann = await ctx.undb.addUser('ann');
    const deals = await ctx.undb.createTable('Deals', [
      { name: 'Deal', type: 'string' },
      { name: 'Stage', type: 'select', single: true, options: ['New', 'Won'] },
    ]);
    ctx.relay.registry.revalidate();
    return { ann, deals };
  }

  it('retries a failing receiver and delivers on attempt N+1 with the same id and verifiable signatures', async () => {
    const { ctx, receivers } = await setUp(([r]) => yaml(subscription('crm', `${r!.url}/hook`, '    headers: { x-team: sales, x-undb-event: spoofed }\n')));
    const [receiver] = receivers;
    receiver!.reply = (_, all) => ({ status: all.length < 2 ? 500 : 200 });
    const { ann, deals } = await withDeals(ctx);
    await ctx.undb.createRecord(deals, { Deal: 'signed' }, { userId: ann });
    const requests = await receiver!.until((all) => all.length === 3);
    expect(requests.map((r) => r.headers['x-undb-attempt'])).toEqual(['1', '2', '3']);
    expect(new Set(requests.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(new Set(requests.map((r) => r.headers['x-undb-delivery'])).size).toBe(3);
    expect(new Set(requests.map((r) => r.body)).size).toBe(1);
    const last = requests[2]!;
    expect(last.json).toMatchObject({ name: 'record.created', id: last.headers['webhook-id'], event: { record: { Deal: 'signed' } } });
    expect(last.headers).toMatchObject({
      'content-type': 'application/json',
      'x-team': 'sales',
      'x-undb-event': 'record.created',
      'user-agent': expect.stringMatching(/^undb-relay\//),
    });
    // Standard Webhooks, verified by its reference library (one signature per secret, rotation).
    const headers = last.headers as Record<string, string>;
    expect(() => new Webhook(SECRET).verify(last.body, headers)).not.toThrow();
    expect(headers['webhook-signature']!.split(' ')).toHaveLength(2);
    // Undb's x-undb-signature, keyed with the first secret.
    const expected = createHmac('sha256', SECRET).update(JSON.stringify(`${last.json.timestamp}.${last.body}`)).digest('hex');
    expect(headers['x-undb-signature']).toBe(`undb_${expected}`);
  });

  it('waits at least Retry-After before retrying a 429', async () => {
    const { ctx, receivers } = await setUp(([r]) => yaml(subscription('throttled', r!.url)));
    const [receiver] = receivers;
    receiver!.reply = (_, all) => (all.length === 0 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 200 });
    const { ann, deals } = await withDeals(ctx);
    await ctx.undb.createRecord(deals, { Deal: 'x' }, { userId: ann });
    const [first, second] = await receiver!.until((all) => all.length === 2, 10_000);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(2000);
  });

  it('keeps a dead delivery, and `undb-relay redeliver --dead` sends it again with the same id and a fresh signature', async () => {
    const { ctx, receivers } = await setUp(([r]) => yaml(subscription('flaky', r!.url)));
    const [receiver] = receivers;
    let healthy = false;
    receiver!.reply = () => ({ status: healthy ? 200 : 503 });
    const { ann, deals } = await withDeals(ctx);
    await ctx.undb.createRecord(deals, { Deal: 'x' }, { userId: ann });
    await receiver!.until((all) => all.length === 3);
    const state = new pg.Pool({ connectionString: ctx.database.url });
    cleanups.push(() => state.end());
    const dead = async () => (await state.query(`select status, attempts, last_status, last_error from undb_relay.deliveries`)).rows;
    await expect.poll(dead).toEqual([{ status: 'dead', attempts: 3, last_status: 503, last_error: expect.stringMatching(/HTTP 503; gave up after 3 attempts/) }]);
    healthy = true;
    const file = writeConfig(`database:\n  url: ${ctx.database.url}\n  slot: ${ctx.config.database.slot}\n`);
    expect(await main(['redeliver', '--dead', '--config', file])).toBe(0);
    const requests = await receiver!.until((all) => all.length === 4);
    const [firstTry, redelivered] = [requests[0]!, requests[3]!];
    expect(redelivered.headers['webhook-id']).toBe(firstTry.headers['webhook-id']);
    expect(redelivered.body).toBe(firstTry.body);
    expect(redelivered.headers['x-undb-delivery']).not.toBe(firstTry.headers['x-undb-delivery']);
    await expect.poll(async () => (await dead())[0].status).toBe('delivered');
  });

  it('never sends a slow receiver more than perEndpoint requests at once, while another keeps getting its events promptly', async () => {
    const { ctx, receivers } = await setUp(
      ([slow, fast]) => yaml(subscription('slow', slow!.url) + subscription('fast', fast!.url), `${FAST_RETRIES}  perEndpoint: 2\n`),
      2,
    );
    const [slow, fast] = receivers;
    slow!.reply = () => ({ status: 200, delayMs: 2000 });
    const { ann, deals } = await withDeals(ctx);
    const committedAt: number[] = [];
    for (let i = 0; i < 6; i++) {
      await ctx.undb.createRecord(deals, { Deal: `d${i}` }, { userId: ann });
      committedAt.push(Date.now());
    }
    const fastRequests = await fast!.until((all) => all.length === 6, 5000);
    const lags = fastRequests.map((request, i) => request.at - committedAt[i]!);
    expect(Math.max(...lags)).toBeLessThan(1500);
    expect(slow!.inFlight).toBe(2);
    await slow!.until((all) => all.length === 6, 15_000);
    expect(slow!.maxInFlight).toBe(2);
  });

  it('keeps per-record order while a failing record waits, without holding back other records', async () => {
    const { ctx, receivers } = await setUp(([r]) => yaml(subscription('ordered', r!.url), '  retry: { maxAttempts: 10, initialDelayMs: 300, maxDelayMs: 300 }\n'));
    const [receiver] = receivers;
    const { ann, deals } = await withDeals(ctx);
    const recordOf = (request: { json: any }) => request.json?.event?.record?.id as string | undefined;
    const failing = await ctx.undb.createRecord(deals, { Deal: 'slowpoke' }, { userId: ann });
    // The failing record's record.created is refused twice, then accepted.
    receiver!.reply = (request, all) => {
      const isCreateOfFailing = recordOf(request) === failing && request.json?.name === 'record.created';
      const earlier = all.filter((r) => recordOf(r) === failing && r.json?.name === 'record.created').length;
      return { status: isCreateOfFailing && earlier < 2 ? 500 : 200 };
    };
    await ctx.undb.updateRecords(deals, [failing], { Stage: 'Won' }, { userId: ann });
    const other = await ctx.undb.createRecord(deals, { Deal: 'other' }, { userId: ann });
    await receiver!.until((all) => all.some((r) => r.json?.name === 'record.updated'));
    const creates = receiver!.requests.filter((r) => recordOf(r) === failing && r.json?.name === 'record.created');
    const update = receiver!.requests.find((r) => recordOf(r) === failing && r.json?.name === 'record.updated')!;
    const otherCreate = receiver!.requests.find((r) => recordOf(r) === other)!;
    expect(creates).toHaveLength(3);
    // The update waited for the create to succeed…
    expect(update.at).toBeGreaterThanOrEqual(creates[2]!.at);
    // …while the other record went through without waiting.
    expect(otherCreate.at).toBeLessThan(creates[2]!.at);
  });

  it('opens the circuit for an origin after repeated failures, then probes it once after the cooldown', async () => {
    const { ctx, receivers } = await setUp(([r]) =>
      yaml(subscription('breaker', r!.url), '  perEndpoint: 1\n  retry: { maxAttempts: 10, initialDelayMs: 50, maxDelayMs: 100 }\n  circuitBreaker: { failureThreshold: 2, cooldownMs: 1500 }\n'),
    );
    const [receiver] = receivers;
    receiver!.reply = (_, all) => ({ status: all.length < 2 ? 503 : 200 });
    const { ann, deals } = await withDeals(ctx);
    await ctx.undb.createRecord(deals, { Deal: 'x' }, { userId: ann });
    const [first, second, probe] = await receiver!.until((all) => all.length === 3, 10_000);
    expect(second!.at - first!.at).toBeLessThan(1000); // an ordinary retry
    expect(probe!.at - second!.at).toBeGreaterThanOrEqual(1400); // held back while the circuit was open
    await expect.poll(() => ctx.relay.dispatcher.circuitStates()[new URL(receiver!.url).origin]).toBe('closed');
  });

  it('disables a subscription whose receiver answers 410 Gone', async () => {
    const { ctx, receivers } = await setUp(([r]) => yaml(subscription('gone', r!.url)));
    const [receiver] = receivers;
    receiver!.reply = () => ({ status: 410 });
    const { ann, deals } = await withDeals(ctx);
    await ctx.undb.createRecord(deals, { Deal: 'a' }, { userId: ann });
    await receiver!.until((all) => all.length === 1);
    await expect.poll(() => ctx.relay.registry.find('gone')?.enabled).toBe(false);
    await ctx.undb.createRecord(deals, { Deal: 'b' }, { userId: ann });
    await ctx.collector.next(2);
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver!.requests).toHaveLength(1);
  });

  it('prunes delivered deliveries and their events past state.retentionHours, and keeps dead ones', async () => {
    const { ctx, receivers } = await setUp(([r]) => yaml(subscription('pruned', r!.url)));
    const [receiver] = receivers;
    receiver!.reply = (request) => ({ status: request.json?.event?.record?.Deal === 'refused' ? 400 : 200 });
    const { ann, deals } = await withDeals(ctx);
    await ctx.undb.createRecord(deals, { Deal: 'accepted' }, { userId: ann });
    await ctx.undb.createRecord(deals, { Deal: 'refused' }, { userId: ann });
    const state = new pg.Pool({ connectionString: ctx.database.url });
    cleanups.push(() => state.end());
    const rows = async () =>
      (await state.query(`select d.status, (select count(*)::int from undb_relay.events e where e.id = d.event_id) as events from undb_relay.deliveries d order by d.seq`)).rows;
    await expect.poll(rows).toEqual([{ status: 'delivered', events: 1 }, { status: 'dead', events: 1 }]);
    const { DeliveryStore } = await import('../../src/delivery/store.js');
    expect(await new DeliveryStore(state, 'undb_relay').prune(0, 'undb_relay.events')).toEqual({ deliveries: 1, events: 1 });
    expect(await rows()).toEqual([{ status: 'dead', events: 1 }]);
  });

  it('refuses private targets for subscriptions read from the database (literal or after DNS), and lists them as failed', async () => {
    const { ctx, receivers } = await setUp(() => yaml('  []\n'));
    const [receiver] = receivers;
    const { ann, deals } = await withDeals(ctx);
    const state = new pg.Pool({ connectionString: ctx.database.url });
    cleanups.push(() => state.end());
    const port = new URL(receiver!.url).port;
    await state.query(
      `insert into undb_relay.subscriptions (id, "table", events, url, unsigned)
       values ('by-address', 'Deals', '{record.*}', $1, true), ('by-name', 'Deals', '{record.*}', $2, true)`,
      [receiver!.url, `http://localhost:${port}/`],
    );
    await expect.poll(() => ctx.relay.registry.active.length).toBe(2);
    await ctx.undb.createRecord(deals, { Deal: 'a' }, { userId: ann });
    await expect
      .poll(async () => (await state.query(`select subscription_id, status, last_error from undb_relay.deliveries order by subscription_id`)).rows)
      .toEqual([
        { subscription_id: 'by-address', status: 'dead', last_error: expect.stringMatching(/^refused: 127\.0\.0\.1 resolves to 127\.0\.0\.1, .*delivery\.allowHosts or delivery\.allowPrivateNetworks: true$/) },
        { subscription_id: 'by-name', status: 'dead', last_error: expect.stringMatching(/^refused: localhost resolves to (127\.0\.0\.1|::1), /) },
      ]);
    expect(receiver!.requests).toHaveLength(0);

    // The delivery log shows them, with the reason.
    const file = writeConfig(`database:\n  url: ${ctx.database.url}\n  slot: ${ctx.config.database.slot}\n`);
    const output = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    expect(await main(['deliveries', '--failed', '--subscription', 'by-name', '--config', file])).toBe(0);
    const printed = output.mock.calls.map((call) => String(call[0]));
    output.mockRestore();
    expect(printed[0]).toBe('delivery\tevent\tsubscription\tname\tstatus\tattempts\tlast\tcreated');
    expect(printed.slice(1)).toEqual([expect.stringMatching(/^[0-9a-f-]{36}\t[0-9a-f-]{36}\tby-name\trecord\.created\tdead\t1\trefused: localhost/)]);
  });
});
