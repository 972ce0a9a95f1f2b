import { describe, expect, it } from 'vitest';
import type { EventItem, OutboxRow, RelayEvent } from '../../src/events/types.js';
import { bodiesFor } from '../../src/subscriptions/formats.js';
import { UndbMetadata, type UndbTable } from '../../src/undb/metadata.js';

const table: UndbTable = {
  id: 'tbl0000000001', name: 'Deals', spaceId: 'spa1', baseId: 'bas1',
  fields: [
    { id: 'id', name: 'id', type: 'id' },
    { id: 'flddeal', name: 'Deal', type: 'string' },
    { id: 'fldstag', name: 'Stage', type: 'select', constraint: { max: 1 }, option: { options: [{ id: 'optwon', name: 'Won' }, { id: 'optnew', name: 'New' }] } },
    { id: 'fldownr', name: 'Owner', type: 'user', constraint: { max: 1 } },
  ],
};
const metadata = new UndbMetadata('public');
(metadata as unknown as { tables: Map<string, UndbTable> }).tables.set(table.id, table);
(metadata as unknown as { users: Map<string, unknown> }).users.set('usr1', { id: 'usr1', username: 'ann', email: 'ann@x.io', avatar: null });

const record = (id: string, deal: string, stage: string) => ({
  id, Deal: deal, Stage: { id: stage, name: stage === 'optwon' ? 'Won' : 'New' }, Owner: { id: 'usr1', username: 'ann', avatar: null, color: null },
});
const item = (id: string, deal: string, outbox?: OutboxRow): EventItem => ({
  recordId: id, kind: 'updated', previousRecord: record(id, deal, 'optnew'), record: record(id, deal, 'optwon'), changedFields: ['Stage'],
  outbox, oldRow: null, newRow: null,
});
const event = (items: EventItem[], name: RelayEvent['name']): RelayEvent => ({
  id: '11111111-1111-5111-8111-111111111111', name, tableId: table.id, tableName: table.name, spaceId: 'spa1', operatorId: 'usr1',
  timestamp: '2026-11-27T12:00:00.000Z', commitEndLsn: 1n, ordinal: 0, items,
});

describe('format undb-v1', () => {
  it('sends Undb’s own outbox events one per record, each with its own record in a bulk update', () => {
    // Undb's bulk update writes the first record's id and row into every event.
    const outbox = (n: number): OutboxRow => ({
      id: `0000000${n}-0000-4000-8000-000000000000`, name: 'record.updated', userId: 'usr1', spaceId: 'spa1', timestamp: '1795694400000',
      payload: { id: `rec${n}`, tableId: table.id, previous: { id: 'rec1', values: { Stage: 'optnew' } }, record: { id: 'rec1', values: { Stage: 'optwon' } } },
      meta: { table: { name: 'Deals', fields: {} }, record: { id: 'rec1', values: { flddeal: 'first' } } },
    });
    const bodies = bodiesFor({ format: 'undb-v1' }, event([item('rec1', 'first', outbox(1)), item('rec2', 'second', outbox(2))], 'record.bulk_updated'), [
      item('rec1', 'first', outbox(1)),
      item('rec2', 'second', outbox(2)),
    ], metadata);
    expect(bodies).toHaveLength(2);
    const second = JSON.parse(bodies[1]!.text);
    expect(bodies[1]!.eventId).toBe('00000002-0000-4000-8000-000000000000');
    expect(second).toMatchObject({
      id: '00000002-0000-4000-8000-000000000000',
      operatorId: 'usr1',
      timestamp: '2026-11-26T12:00:00.000Z', // Undb's own event time, from its outbox row
      event: {
        name: 'record.updated',
        spaceId: 'spa1',
        payload: { id: 'rec2', record: { id: 'rec2', values: { Stage: 'optwon' } } },
        meta: { record: { id: 'rec2', values: { id: 'rec2', flddeal: 'second', fldstag: 'optwon', fldownr: 'usr1' } } },
      },
    });
  });

  it('builds the same shape from the row images when Undb wrote no outbox row', () => {
    const created: EventItem = { ...item('rec9', 'bypass'), kind: 'created', previousRecord: null, changedFields: [] };
    const [body] = bodiesFor({ format: 'undb-v1' }, event([created], 'record.created'), [created], metadata);
    expect(JSON.parse(body!.text)).toEqual({
      id: body!.eventId,
      operatorId: 'usr1',
      timestamp: '2026-11-27T12:00:00.000Z',
      event: {
        id: body!.eventId,
        name: 'record.created',
        operatorId: 'usr1',
        spaceId: 'spa1',
        timestamp: '2026-11-27T12:00:00.000Z',
        payload: {
          id: 'rec9',
          tableId: table.id,
          record: {
            id: 'rec9',
            values: { id: 'rec9', Deal: 'bypass', Stage: 'optwon', Owner: 'usr1' },
            displayValues: { Stage: 'Won', Owner: { username: 'ann', email: 'ann@x.io' } },
          },
        },
        meta: {
          table: { name: 'Deals', fields: { id: { id: 'id', type: 'id' }, Deal: { id: 'flddeal', type: 'string' }, Stage: { id: 'fldstag', type: 'select' }, Owner: { id: 'fldownr', type: 'user' } } },
          record: { id: 'rec9', values: { id: 'rec9', flddeal: 'bypass', fldstag: 'optwon', fldownr: 'usr1' } },
        },
      },
    });
  });

  it('sends format undb as one documented envelope with only the kept records', () => {
    const items = [item('rec1', 'a'), item('rec2', 'b')];
    const [body] = bodiesFor({ format: 'undb' }, event(items, 'record.bulk_updated'), [items[1]!], metadata);
    expect(JSON.parse(body!.text).event.updates.map((u: { record: { id: string } }) => u.record.id)).toEqual(['rec2']);
    expect(body!.recordIds).toEqual(['rec2']);
  });
});
