import { describe, expect, it } from 'vitest';
import type { RecordRowChange } from '../../src/events/classify.js';
import { netEffect } from '../../src/events/netEffect.js';
import type { RelationInfo } from '../../src/source/transactions.js';
import type { UndbTable } from '../../src/undb/metadata.js';

const table: UndbTable = { id: 'tbl0000000001', name: 'T', spaceId: null, baseId: null, fields: [] };
const relation: RelationInfo = { oid: 1, schema: 'public', name: table.id, columns: [] };
let index = 0;
const insert = (id: string, v: string): RecordRowChange => ({ index: index++, table, change: { kind: 'insert', relation, new: { id, v } } });
const update = (id: string, from: string, to: string): RecordRowChange => ({
  index: index++,
  table,
  change: { kind: 'update', relation, old: { id, v: from }, new: { id, v: to } },
});
const remove = (id: string, v: string): RecordRowChange => ({ index: index++, table, change: { kind: 'delete', relation, old: { id, v } } });

describe('net effect of one transaction per record', () => {
  it.each([
    ['insert → update = created with the final values', [insert('r', 'a'), update('r', 'a', 'b')], [['created', null, 'b']]],
    ['update → update = one update, first old and last new', [update('r', 'a', 'b'), update('r', 'b', 'c')], [['updated', 'a', 'c']]],
    ['insert → delete = nothing', [insert('r', 'a'), remove('r', 'a')], []],
    ['update → delete = deleted with the oldest values', [update('r', 'a', 'b'), remove('r', 'b')], [['deleted', 'a', null]]],
    ['delete → insert = updated', [remove('r', 'a'), insert('r', 'z')], [['updated', 'a', 'z']]],
    ['insert → delete → insert = created', [insert('r', 'a'), remove('r', 'a'), insert('r', 'b')], [['created', null, 'b']]],
  ])('%s', (_, changes, expected) => {
    const { changes: net } = netEffect(changes);
    expect(net.map((c) => [c.kind, c.old?.v ?? null, c.new?.v ?? null])).toEqual(expected);
  });

  it('keeps the order of each record’s first change', () => {
    const { changes } = netEffect([insert('b', '1'), insert('a', '1'), update('b', '1', '2')]);
    expect(changes.map((c) => c.recordId)).toEqual(['b', 'a']);
  });

  it('reports a delete without a record id (no REPLICA IDENTITY FULL) instead of dropping it silently', () => {
    const { changes, problems } = netEffect([{ index: 0, table, change: { kind: 'delete', relation, old: { autoIncrement: '7' } } }]);
    expect(changes).toEqual([]);
    expect(problems[0]).toMatch(/REPLICA IDENTITY FULL.*undb-relay setup/);
  });
});
