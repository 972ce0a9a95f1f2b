/**
 * What a receiver would get for each kind of Undb write, on every Postgres version the harness runs.
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import { envelope } from '../../src/events/payloads.js';
import { undbWithRelay } from '../harness/relay.js';
import type { TableHandle } from '../harness/undb.js';

type Context = Awaited<ReturnType<typeof undbWithRelay>>;

describe.each(inject('servers'))('events on $name', (server) => {
  let ctx: Context;
  afterEach(async () => ctx?.cleanup());

  async function dealsTable(): Promise<TableHandle> {
    return ctx.undb.createTable('Deal Tracker', [
      { name: 'Deal', type: 'string', display: true },
      { name: 'Stage', type: 'select', single: true, options: ['Discovery', 'Won'] },
      { name: 'Value', type: 'currency' },
    ]);
  }

  it('produces each of the six event names with the documented payloads', async () => {
    ctx = await undbWithRelay(server);
    const ann = await ctx.undb.addUser('ann');
    const deals = await dealsTable();
    const one = await ctx.undb.createRecord(deals, { Deal: 'one', Stage: 'Discovery' }, { userId: ann });
    const bulk = await ctx.undb.insertRecords(deals, [{ Deal: 'two' }, { Deal: 'three' }], { userId: ann });
    await ctx.undb.updateRecords(deals, [one], { Stage: 'Won' }, { userId: ann });
    await ctx.undb.updateRecords(deals, bulk, { Value: 12.5 }, { userId: ann });
    await ctx.undb.deleteRecords(deals, [one], { userId: ann });
    await ctx.undb.deleteRecords(deals, bulk, { userId: ann });
    const events = await ctx.collector.next(6);
    expect(events.map((event) => event.name)).toEqual([
      'record.created',
      'record.bulk_created',
      'record.updated',
      'record.bulk_updated',
      'record.deleted',
      'record.bulk_deleted',
    ]);
    const bodies = events.map((event) => envelope(event));
    for (const body of bodies) {
      expect(body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(body.operatorId).toBe(ann);
      expect(body.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(body.event).toMatchObject({ tableId: deals.id, tableName: 'Deal Tracker' });
    }
    expect(bodies[0]!.event.record).toMatchObject({ id: one, Deal: 'one', Stage: { id: deals.optionId('Stage', 'Discovery'), name: 'Discovery' } });
    expect((bodies[1]!.event.records as Array<{ Deal: string }>).map((r) => r.Deal)).toEqual(['two', 'three']);
    expect(bodies[2]!.event).toMatchObject({
      previousRecord: { Stage: { name: 'Discovery' } },
      record: { Stage: { name: 'Won' } },
      changedFields: ['Stage'],
    });
    const updates = bodies[3]!.event.updates as Array<{ previousRecord: { Value: unknown }; record: { Value: unknown }; changedFields: string[] }>;
    expect(updates.map((u) => [u.previousRecord.Value, u.record.Value, u.changedFields])).toEqual([
      [null, 12.5, ['Value']],
      [null, 12.5, ['Value']],
    ]);
    expect(bodies[4]!.event).toMatchObject({ id: one, record: { id: one, Deal: 'one', Stage: { name: 'Won' } } });
    expect(bodies[5]!.event.ids).toEqual(bulk);
    expect((bodies[5]!.event.records as Array<{ Value: number }>).map((r) => r.Value)).toEqual([12.5, 12.5]);
  });

  it('gives every field type its documented value, keys in schema order', async () => {
    ctx = await undbWithRelay(server);
    const ann = await ctx.undb.addUser('ann', 'https://example.com/ann.png');
    const bob = await ctx.undb.addUser('bob');
    const contacts = await ctx.undb.createTable('Contacts', [
      { name: 'Name', type: 'string', display: true },
      { name: 'Score', type: 'number' },
    ]);
    const carol = await ctx.undb.createRecord(contacts, { Name: 'Carol', Score: 3 }, { userId: ann });
    const dave = await ctx.undb.createRecord(contacts, { Name: 'Dave', Score: 4 }, { userId: ann });
    const table = await ctx.undb.createTable('All Types', [
      { name: 'Text', type: 'string', display: true },
      { name: 'Long', type: 'longText' },
      { name: 'Mail', type: 'email' },
      { name: 'Link', type: 'url' },
      { name: 'Num', type: 'number' },
      { name: 'Stars', type: 'rating' },
      { name: 'Pct', type: 'percentage' },
      { name: 'Took', type: 'duration' },
      { name: 'Price', type: 'currency' },
      { name: 'Done', type: 'checkbox' },
      { name: 'Stage', type: 'select', single: true, options: ['New', 'Won'] },
      { name: 'Tags', type: 'select', options: ['a', 'b', 'c'] },
      { name: 'Owner', type: 'user', single: true },
      { name: 'Team', type: 'user' },
      { name: 'Due', type: 'date' },
      { name: 'Span', type: 'dateRange' },
      { name: 'Files', type: 'attachment' },
      { name: 'Data', type: 'json' },
      { name: 'People', type: 'reference', references: contacts, symmetricName: 'Deals' },
      { name: 'Names', type: 'rollup', rollup: { reference: 'People', field: 'Name', fn: 'lookup' } },
      { name: 'Total', type: 'rollup', rollup: { reference: 'People', field: 'Score', fn: 'sum' } },
      { name: 'Double', type: 'formula', formula: { sql: (f) => `"${f('Price')}" * 2`, returnType: 'number' } },
      { name: 'Go', type: 'button' },
    ]);
    await ctx.undb.resolveRollups(table);
    const files = [{ id: 'att1', url: '/f/a.png', signedUrl: '/s/a.png', name: 'a.png', token: 't', size: 10, type: 'image/png' }];
    const id = await ctx.undb.createRecord(
      table,
      {
        Text: 'hello',
        Long: 'x'.repeat(3000),
        Mail: 'a@b.c',
        Link: 'https://undb.io',
        Num: 1.5,
        Stars: 4,
        Pct: 0,
        Took: 90_000,
        Price: 19.99,
        Done: true,
        Stage: 'Won',
        Tags: ['a', 'c'],
        Owner: ann,
        Team: [ann, bob],
        Due: new Date('2024-03-01T10:20:30.456Z'),
        Span: [new Date('2024-01-01T00:00:00.000Z'), null],
        Files: files,
        Data: { nested: [1, 'two'] },
        People: [carol, dave],
      },
      { userId: ann },
    );
    const events = await ctx.collector.until((list) => list.some((event) => event.tableId === table.id));
    const record = events.find((event) => event.tableId === table.id)!.items[0]!.record;
    const annObject = { id: ann, username: 'ann', avatar: 'https://example.com/ann.png', color: null };
    expect(Object.keys(record)).toEqual(table.fields.filter((f) => f.type !== 'button').map((f) => f.name));
    expect(record).toEqual({
      id,
      Text: 'hello',
      Long: 'x'.repeat(3000),
      Mail: 'a@b.c',
      Link: 'https://undb.io',
      Num: 1.5,
      Stars: 4,
      Pct: 0,
      Took: 90_000,
      Price: 19.99,
      Done: true,
      Stage: { id: table.optionId('Stage', 'Won'), name: 'Won' },
      Tags: [
        { id: table.optionId('Tags', 'a'), name: 'a' },
        { id: table.optionId('Tags', 'c'), name: 'c' },
      ],
      Owner: annObject,
      Team: [annObject, { id: bob, username: 'bob', avatar: null, color: null }],
      Due: '2024-03-01T10:20:30.456Z',
      Span: ['2024-01-01T00:00:00.000Z', null],
      Files: files,
      Data: { nested: [1, 'two'] },
      People: [
        { id: carol, value: 'Carol' },
        { id: dave, value: 'Dave' },
      ],
      Names: ['Carol', 'Dave'],
      Total: 7,
      Double: 3998, // the generated column's own value: Price is stored in cents
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      createdBy: annObject,
      updatedAt: expect.stringMatching(/Z$/),
      updatedBy: annObject,
      autoIncrement: 1,
    });
    expect(Math.abs(Date.parse(record.createdAt as string) - Date.now())).toBeLessThan(60_000);

    // Empty values: Undb stores "" and 0 as NULL, empty multi-selects and user lists as NULL.
    await ctx.undb.createRecord(table, { Text: '', Num: 0, Tags: [], Team: [], Price: null, Done: false }, {});
    const empty = (await ctx.collector.until((list) => list.filter((e) => e.tableId === table.id).length === 2))
      .filter((e) => e.tableId === table.id)[1]!.items[0]!.record;
    expect(empty).toMatchObject({
      Text: null,
      Num: null,
      Tags: null,
      Team: [],
      Owner: null,
      Price: null,
      Done: false,
      Due: null,
      Span: [null, null],
      Files: [],
      Data: null,
      People: [],
      Names: [],
      Total: 0,
      createdBy: null,
    });
  });

  it('names fields anew after a rename, and follows fields added and dropped mid-stream', async () => {
    ctx = await undbWithRelay(server);
    const ann = await ctx.undb.addUser('ann');
    const deals = await dealsTable();
    await ctx.undb.createRecord(deals, { Deal: 'before' }, { userId: ann });
    await ctx.undb.renameField(deals, 'Deal', 'Title');
    await ctx.undb.createRecord(deals, { Title: 'after rename' }, { userId: ann });
    await ctx.undb.addField(deals, { name: 'Notes', type: 'longText' });
    await ctx.undb.createRecord(deals, { Title: 'with notes', Notes: 'hi' }, { userId: ann });
    await ctx.undb.dropField(deals, 'Value');
    await ctx.undb.createRecord(deals, { Title: 'no value' }, { userId: ann });
    const records = (await ctx.collector.next(4)).map((event) => event.items[0]!.record);
    expect(records[0]).toMatchObject({ Deal: 'before', Value: null });
    expect(records[0]).not.toHaveProperty('Title');
    expect(records[1]).toMatchObject({ Title: 'after rename' });
    expect(records[1]).not.toHaveProperty('Deal');
    expect(records[2]).toMatchObject({ Title: 'with notes', Notes: 'hi', Value: null });
    expect(records[3]).toMatchObject({ Title: 'no value', Notes: null });
    expect(records[3]).not.toHaveProperty('Value');
  });

  it('captures a table created mid-stream from its first insert, and its deletes carry ids and values', async () => {
    ctx = await undbWithRelay(server);
    const ann = await ctx.undb.addUser('ann');
    const later = await ctx.undb.createTable('Later', [{ name: 'Name', type: 'string' }]);
    const id = await ctx.undb.createRecord(later, { Name: 'first row' }, { userId: ann });
    await ctx.undb.updateRecords(later, [id], { Name: 'renamed' }, { userId: ann });
    await ctx.undb.deleteRecords(later, [id], { userId: ann });
    const events = await ctx.collector.next(3);
    expect(events.map((e) => e.name)).toEqual(['record.created', 'record.updated', 'record.deleted']);
    expect(events[1]!.items[0]!.previousRecord).toMatchObject({ Name: 'first row' });
    expect(envelope(events[2]!).event).toMatchObject({ id, record: { id, Name: 'renamed' } });
  });

  it('turns a link edit into record.updated of the edited record with the reference field changed', async () => {
    ctx = await undbWithRelay(server);
    const ann = await ctx.undb.addUser('ann');
    const contacts = await ctx.undb.createTable('Contacts', [{ name: 'Name', type: 'string', display: true }]);
    const [carol, dave] = await ctx.undb.insertRecords(contacts, [{ Name: 'Carol' }, { Name: 'Dave' }], { userId: ann });
    const deals = await ctx.undb.createTable('Deals', [
      { name: 'Deal', type: 'string', display: true },
      { name: 'People', type: 'reference', references: contacts, symmetricName: 'Deals' },
    ]);
    const deal = await ctx.undb.createRecord(deals, { Deal: 'd', People: [carol!] }, { userId: ann });
    await ctx.undb.updateRecords(deals, [deal], { People: [dave!] }, { userId: ann });
    // The symmetric side: edit Carol's link set from the Contacts table.
    await ctx.undb.updateRecords(contacts, [carol!], { Deals: [deal] }, { userId: ann });
    const events = (await ctx.collector.next(4)).slice(1);
    expect(events.map((e) => [e.name, e.tableName])).toEqual([
      ['record.created', 'Deals'],
      ['record.updated', 'Deals'],
      ['record.updated', 'Contacts'],
    ]);
    expect(events[0]!.items[0]!.record.People).toEqual([{ id: carol, value: 'Carol' }]);
    const linkEdit = events[1]!.items[0]!;
    expect(linkEdit.changedFields).toEqual(['People']);
    expect(linkEdit.previousRecord!.People).toEqual([{ id: carol, value: 'Carol' }]);
    expect(linkEdit.record.People).toEqual([{ id: dave, value: 'Dave' }]);
    const symmetric = events[2]!.items[0]!;
    expect(symmetric.recordId).toBe(carol);
    expect(symmetric.changedFields).toEqual(['Deals']);
    expect(symmetric.record.Deals).toEqual([{ id: deal, value: 'd' }]);
  });

  it('skips schema-migration rewrites by default, and emits them when configured', async () => {
    ctx = await undbWithRelay(server);
    const ann = await ctx.undb.addUser('ann');
    const deals = await dealsTable();
    await ctx.undb.insertRecords(deals, [{ Deal: 'a', Stage: 'Won' }, { Deal: 'b', Stage: 'Won' }], { userId: ann });
    await ctx.undb.deleteOption(deals, 'Stage', 'Won');
    await ctx.undb.createRecord(deals, { Deal: 'marker' }, { userId: ann });
    const events = await ctx.collector.next(2);
    expect(events.map((e) => e.name)).toEqual(['record.bulk_created', 'record.created']);

    await ctx.cleanup();
    ctx = await undbWithRelay(server, 'events:\n  schemaMigrations: emit\n');
    const deals2 = await dealsTable();
    await ctx.undb.insertRecords(deals2, [{ Deal: 'a', Stage: 'Won' }, { Deal: 'b', Stage: 'Won' }], { userId: ann });
    await ctx.undb.deleteOption(deals2, 'Stage', 'Won');
    const emitted = await ctx.collector.next(2);
    expect(emitted[1]!.name).toBe('record.bulk_updated');
    expect(emitted[1]!.items.map((item) => item.changedFields)).toEqual([['Stage'], ['Stage']]);
  });

  it('turns TRUNCATE into one record.bulk_deleted marked truncated', async () => {
    ctx = await undbWithRelay(server);
    const deals = await dealsTable();
    await ctx.undb.pool.query(`TRUNCATE "${deals.id}"`);
    const [event] = await ctx.collector.next(1);
    expect(envelope(event!)).toMatchObject({
      name: 'record.bulk_deleted',
      event: { tableId: deals.id, ids: [], records: [], truncated: true },
    });
  });

  it('takes operatorId from Undb’s outbox row, null for API-token writes, else from the row', async () => {
    ctx = await undbWithRelay(server);
    const ann = await ctx.undb.addUser('ann');
    const bob = await ctx.undb.addUser('bob');
    const deals = await dealsTable();
    const id = await ctx.undb.createRecord(deals, { Deal: 'x' }, { userId: ann });
    // An API-token update: updatedBy keeps ann, the outbox row says nobody.
    await ctx.undb.updateRecords(deals, [id], { Deal: 'y' });
    // A write that bypassed Undb: no outbox row, so the row's updatedBy names the operator.
    await ctx.undb.updateRecords(deals, [id], { Deal: 'z' }, { userId: bob, bypassUndb: true });
    await ctx.undb.deleteRecords(deals, [id], { bypassUndb: true });
    const events = await ctx.collector.next(4);
    expect(events.map((e) => e.operatorId)).toEqual([ann, null, bob, bob]);
  });

  it('takes an unchanged TOASTed value from the old row image', async () => {
    ctx = await undbWithRelay(server);
    const ann = await ctx.undb.addUser('ann');
    const notes = await ctx.undb.createTable('Notes', [
      { name: 'Title', type: 'string' },
      { name: 'Body', type: 'longText' },
    ]);
    // Incompressible text well past the TOAST threshold, stored out of line.
    const body = Array.from({ length: 4000 }, (_, i) => ((i * 7919) % 65521).toString(36)).join('');
    const id = await ctx.undb.createRecord(notes, { Title: 'a', Body: body }, { userId: ann });
    await ctx.undb.updateRecords(notes, [id], { Title: 'b' }, { userId: ann });
    const [, update] = await ctx.collector.next(2);
    expect(update!.items[0]!.record.Body).toBe(body);
    expect(update!.items[0]!.previousRecord!.Body).toBe(body);
    expect(update!.items[0]!.changedFields).toEqual(['Title']);
  });
});
