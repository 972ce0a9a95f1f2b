import { describe, expect, it } from 'vitest';
import type { EventItem, RelayEvent } from '../../src/events/types.js';
import { OPERATORS, resolveCondition } from '../../src/subscriptions/conditions.js';
import { matches } from '../../src/subscriptions/matching.js';
import { parseSubscription } from '../../src/subscriptions/parse.js';
import type { ConditionGroup, ResolvedSubscription } from '../../src/subscriptions/types.js';
import type { UndbField, UndbTable } from '../../src/undb/metadata.js';
import type { Readable } from '../../src/undb/readableRecord.js';

const field = (id: string, name: string, type: string, extra: Partial<UndbField> = {}): UndbField => ({ id, name, type, ...extra });
const table: UndbTable = {
  id: 'tbl0000000001',
  name: 'Deals',
  spaceId: 'spa1',
  baseId: 'bas1',
  fields: [
    field('id', 'id', 'id'),
    field('fldtext', 'Title', 'string'),
    field('fldlong', 'Notes', 'longText'),
    field('fldmail', 'Mail', 'email'),
    field('fldurl1', 'Site', 'url'),
    field('fldnum1', 'Amount', 'number'),
    field('fldrate', 'Stars', 'rating'),
    field('fldcurr', 'Price', 'currency'),
    field('flddura', 'Took', 'duration'),
    field('fldpct1', 'Pct', 'percentage'),
    field('fldbool', 'Done', 'checkbox'),
    field('fldsel1', 'Stage', 'select', { constraint: { max: 1 }, option: { options: [{ id: 'optnew', name: 'New' }, { id: 'optwon', name: 'Won' }, { id: 'optlost', name: 'Lost' }] } }),
    field('fldtags', 'Tags', 'select', { option: { options: [{ id: 'opta', name: 'a' }, { id: 'optb', name: 'b' }, { id: 'optc', name: 'c' }] } }),
    field('fldownr', 'Owner', 'user', { constraint: { max: 1 } }),
    field('fldteam', 'Team', 'user'),
    field('flddue1', 'Due', 'date'),
    field('fldspan', 'Span', 'dateRange'),
    field('fldfile', 'Files', 'attachment'),
    field('flddata', 'Data', 'json'),
    field('fldlink', 'People', 'reference', { option: { isOwner: true, foreignTableId: 'tbl0000000002' } }),
    field('fldroll', 'Total', 'rollup'),
    field('fldform', 'Double', 'formula', { metadata: { returnType: 'number' } }),
    field('fldflag', 'Flag', 'formula', { metadata: { returnType: 'boolean' } }),
    field('createdAt', 'createdAt', 'createdAt'),
    field('createdBy', 'createdBy', 'createdBy'),
    field('updatedAt', 'updatedAt', 'updatedAt'),
    field('updatedBy', 'updatedBy', 'updatedBy'),
    field('autoIncrement', 'autoIncrement', 'autoIncrement'),
  ],
};
const NOW = new Date('2026-11-27T12:00:00.000Z');
const user = (id: string) => ({ id, username: id, avatar: null, color: null });
const record: Readable = {
  id: 'rec00000001',
  Title: 'Big deal',
  Notes: null,
  Mail: 'ann@example.com',
  Site: 'https://undb.io',
  Amount: 42,
  Stars: null,
  Price: 19.99,
  Took: 60000,
  Pct: 0.5,
  Done: true,
  Stage: { id: 'optwon', name: 'Won' },
  Tags: [{ id: 'opta', name: 'a' }, { id: 'optb', name: 'b' }],
  Owner: user('usr1'),
  Team: [],
  Due: '2026-11-27T09:30:00.000Z',
  Span: ['2026-11-26T00:00:00.000Z', '2026-11-28T00:00:00.000Z'],
  Files: [],
  Data: { plan: 'pro', seats: 3 },
  People: [{ id: 'rec1', value: 'Carol' }, { id: 'rec2', value: 'Dave' }],
  Total: 7,
  Double: 39.98,
  Flag: true,
  createdAt: '2026-11-26T08:00:00.000Z',
  createdBy: user('usr1'),
  updatedAt: '2026-11-27T11:00:00.000Z',
  updatedBy: user('usr2'),
  autoIncrement: 12,
};

// [field, op, value, expected on `record`, option?]
const CASES: Array<[string, string, unknown, boolean, Record<string, unknown>?]> = [
  ['Title', 'eq', 'Big deal', true], ['Title', 'eq', 'big deal', false], ['Title', 'neq', 'Other', true],
  ['Title', 'contains', 'g d', true], ['Title', 'does_not_contain', 'zzz', true], ['Title', 'starts_with', 'Big', true],
  ['Title', 'ends_with', 'deal', true], ['Title', 'ends_with', 'Big', false], ['Title', 'is_empty', undefined, false],
  ['Title', 'is_not_empty', undefined, true], ['Title', 'min', 3, true], ['Title', 'max', 3, false],
  ['Notes', 'is_empty', undefined, true], ['Notes', 'contains', 'x', false], ['Mail', 'ends_with', '@example.com', true],
  ['Site', 'starts_with', 'https://', true], ['Notes', 'eq', 'x', false], ['Notes', 'neq', 'x', true],
  ['Notes', 'does_not_contain', 'x', true], ['Notes', 'is_not_empty', undefined, false],
  ['Pct', 'neq', 0.5, false], ['Pct', 'is_empty', undefined, false],
  ['Double', 'eq', 39.98, true], ['Double', 'neq', 39.98, false], ['Double', 'gte', 40, false], ['Double', 'lt', 40, true],
  ['Double', 'lte', 39.98, true], ['Double', 'is_empty', undefined, false], ['Double', 'is_not_empty', undefined, true],
  ['Data', 'is_empty', undefined, false],
  ['Amount', 'eq', 42, true], ['Amount', 'neq', 42, false], ['Amount', 'gt', 41, true], ['Amount', 'gte', 42, true],
  ['Amount', 'lt', 42, false], ['Amount', 'lte', 42, true], ['Amount', 'is_empty', undefined, false],
  ['Stars', 'is_empty', undefined, true], ['Stars', 'gt', 0, false], ['Price', 'gte', 19.99, true], ['Took', 'lt', 60001, true],
  ['autoIncrement', 'eq', 12, true], ['Total', 'gt', 5, true], ['People', 'eq', 2, true], ['People', 'is_not_empty', undefined, true],
  ['Pct', 'eq', 0.5, true], ['Pct', 'is_not_empty', undefined, true],
  ['Double', 'gt', 39, true], ['Flag', 'is_true', undefined, true], ['Flag', 'is_false', undefined, false],
  ['Done', 'is_true', undefined, true], ['Done', 'is_false', undefined, false], ['Done', 'eq', true, true], ['Done', 'neq', true, false],
  ['Stage', 'eq', 'Won', true], ['Stage', 'eq', 'optwon', true], ['Stage', 'neq', 'New', true], ['Stage', 'any_of', ['New', 'Won'], true],
  ['Stage', 'not_any_of', ['New', 'Lost'], true], ['Stage', 'is_empty', undefined, false], ['Stage', 'is_not_empty', undefined, true],
  ['Tags', 'eq', ['b', 'a'], true], ['Tags', 'eq', ['a'], false], ['Tags', 'any_of', ['c', 'b'], true], ['Tags', 'not_any_of', ['c'], true],
  ['Owner', 'eq', 'usr1', true], ['Owner', 'neq', 'usr1', false], ['Team', 'is_empty', undefined, true], ['Team', 'eq', ['usr1'], false],
  ['createdBy', 'eq', 'usr1', true], ['updatedBy', 'any_of', ['usr2', 'usr3'], true], ['updatedBy', 'is_not_empty', undefined, true],
  ['Due', 'is_today', undefined, true], ['Due', 'is_tody', undefined, true], ['Due', 'is_not_today', undefined, false],
  ['Due', 'is_after_today', undefined, false], ['Due', 'is_before_today', undefined, false], ['Due', 'is_tomorrow', undefined, false],
  ['Due', 'is_not_tomorrow', undefined, true], ['Due', 'is_after_tomorrow', undefined, false], ['Due', 'is_before_tomorrow', undefined, true],
  ['Due', 'is_before_tommorow', undefined, true], ['Due', 'is_yesterday', undefined, false], ['Due', 'is_not_yesterday', undefined, true],
  ['Due', 'is_after_yesterday', undefined, true], ['Due', 'is_before_yesterday', undefined, false],
  ['Due', 'is_same_day', '2026-11-27', true], ['Due', 'is_not_same_day', '2026-11-27', false],
  ['Due', 'is_before', '@now', true], ['Due', 'is_not_before', '@now', false], ['Due', 'is_after', '@todayStart', true],
  ['Due', 'is_not_after', '@todayEnd', true], ['Due', 'is_after', '2026-12-01', false], ['Due', 'is_empty', undefined, false],
  ['createdAt', 'is_yesterday', undefined, true], ['updatedAt', 'is_before', '@now', true], ['updatedAt', 'is_after', '@yesterdayEnd', true],
  ['Span', 'is_yesterday', undefined, true, { scope: 'start' }], ['Span', 'is_tomorrow', undefined, true, { scope: 'end' }],
  ['Span', 'is_not_empty', undefined, true],
  ['Files', 'is_empty', undefined, true], ['Files', 'is_not_empty', undefined, false],
  ['Data', 'eq', { plan: 'pro', seats: 3 }, true], ['Data', 'neq', { plan: 'pro' }, true], ['Data', 'contains', 'pro', true],
  ['Data', 'does_not_contain', 'enterprise', true], ['Data', 'is_not_empty', undefined, true],
  ['id', 'eq', 'rec00000001', true], ['id', 'neq', 'rec00000001', false], ['id', 'in', ['rec00000001', 'x'], true], ['id', 'nin', ['x'], true],
];

const group = (children: ConditionGroup['children'], conjunction: 'and' | 'or' = 'and'): ConditionGroup => ({ conjunction, children });

function subscriptionWith(condition: ConditionGroup | null, events = ['record.*']): ResolvedSubscription {
  const problems: string[] = [];
  const resolvedCondition = condition ? resolveCondition(condition, table, problems) : null;
  if (problems.length) throw new Error(problems.join('\n'));
  return {
    id: 's', source: 'yaml', table: 'Deals', events, url: 'http://x', method: 'POST', headers: {}, secrets: ['k'], unsigned: false,
    enabled: true, format: 'undb', condition, tableId: table.id, resolvedCondition,
  };
}

const item = (values: Readable, kind: EventItem['kind'] = 'created'): EventItem => ({
  recordId: String(values.id), kind, previousRecord: null, record: values, changedFields: [], outbox: undefined, oldRow: null, newRow: null,
});
const event = (items: EventItem[], name: RelayEvent['name'] = items.length > 1 ? 'record.bulk_created' : 'record.created'): RelayEvent => ({
  id: 'e', name, tableId: table.id, tableName: table.name, spaceId: null, operatorId: null, timestamp: NOW.toISOString(), commitEndLsn: 1n, ordinal: 0, items,
});

describe('Undb conditions, every operator and field type', () => {
  it('exercises every operator of every operator list (types sharing a list share its implementation)', () => {
    const lists = [...new Set(Object.values(OPERATORS))];
    const listOf = (type: string) => lists.indexOf(OPERATORS[type]!);
    const covered = new Set(CASES.map(([name, op]) => `${listOf(table.fields.find((f) => f.name === name)!.type)}:${op}`));
    const missing = Object.entries(OPERATORS).flatMap(([type, ops]) => ops.map((op) => [type, op, `${listOf(type)}:${op}`] as const))
      .filter(([, , key]) => !covered.has(key))
      .map(([type, op]) => `${type}:${op}`);
    expect(missing).toEqual([]);
  });

  it.each(CASES)('%s %s %j → %s on a single event', (name, op, value, expected, option) => {
    const subscription = subscriptionWith(group([{ field: name, op, value, ...(option ? { option } : {}) }]));
    expect(matches(subscription, event([item(record)]), table, NOW) !== null).toBe(expected);
  });

  it.each(CASES)('%s %s %j → %s keeps only matching records of a bulk event', (name, op, value, expected, option) => {
    const subscription = subscriptionWith(group([{ field: name, op, value, ...(option ? { option } : {}) }]));
    const other: Readable = Object.fromEntries(Object.keys(record).map((key) => [key, null]));
    other.id = 'rec00000002';
    other.Team = [];
    other.People = [];
    other.Files = [];
    other.Span = [null, null];
    other.Done = false;
    const kept = matches(subscription, event([item(record), item(other)]), table, NOW);
    const keptIds = kept?.map((i) => i.recordId) ?? [];
    expect(keptIds.includes('rec00000001')).toBe(expected);
  });
});

describe('matching', () => {
  it('combines and/or groups, skips disabled children, and tests the old record of a delete', () => {
    const condition = group([
      { field: 'Stage', op: 'eq', value: 'Won' },
      group([{ field: 'Amount', op: 'gt', value: 100 }, { field: 'Done', op: 'is_true' }], 'or'),
      { field: 'Title', op: 'eq', value: 'nope', disabled: true },
    ]);
    const subscription = subscriptionWith(condition);
    expect(matches(subscription, event([item(record)]), table, NOW)).not.toBeNull();
    expect(matches(subscription, event([item({ ...record, Done: false })]), table, NOW)).toBeNull();
    expect(matches(subscription, event([item(record, 'deleted')], 'record.deleted'), table, NOW)).not.toBeNull();
  });

  it('does not send a bulk event when none of its records match', () => {
    const subscription = subscriptionWith(group([{ field: 'Stage', op: 'eq', value: 'Lost' }]));
    expect(matches(subscription, event([item(record), item({ ...record, id: 'rec2' })]), table, NOW)).toBeNull();
  });

  it('matches event names, record.*, the table by id, and not when disabled', () => {
    expect(matches(subscriptionWith(null, ['record.created']), event([item(record)]), table, NOW)).not.toBeNull();
    expect(matches(subscriptionWith(null, ['record.updated']), event([item(record)]), table, NOW)).toBeNull();
    expect(matches(subscriptionWith(null, ['record.created']), event([item(record), item(record)]), table, NOW)).toBeNull();
    expect(matches({ ...subscriptionWith(null), enabled: false }, event([item(record)]), table, NOW)).toBeNull();
    expect(matches({ ...subscriptionWith(null), tableId: 'tblother' }, event([item(record)]), table, NOW)).toBeNull();
  });

  it('sends a truncate to matching subscriptions even with a condition (there is nothing to test)', () => {
    const truncate = { ...event([], 'record.bulk_deleted'), truncated: true };
    expect(matches(subscriptionWith(group([{ field: 'Stage', op: 'eq', value: 'Won' }])), truncate, table, NOW)).toEqual([]);
  });
});

describe('bad conditions and subscriptions are reported with the id and the fix', () => {
  it('names an unknown field, an unknown option and an operator that does not fit', () => {
    const problems: string[] = [];
    resolveCondition(group([{ field: 'Nope', op: 'eq', value: 1 }, { field: 'Stage', op: 'eq', value: 'Maybe' }, { field: 'Done', op: 'gt', value: 1 }]), table, problems);
    expect(problems).toEqual([
      expect.stringMatching(/^condition\.children\[0\]: table "Deals" has no field `Nope` \(fields: id, Title/),
      'condition.children[1]: field "Stage" has no option `Maybe` (options: New, Won, Lost)',
      'condition.children[2]: operator `gt` does not apply to checkbox field "Done" (use eq, neq, is_true, is_false)',
    ]);
  });

  it('names every problem of a subscription entry', () => {
    const parsed = parseSubscription({ id: 'crm', events: ['record.made'], url: 'ftp://x', method: 'GET', format: 'xml', colour: 'red' }, 'yaml', { secrets: [] });
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.problems).toEqual([
      'subscription "crm": unknown key `colour` (known: id, table, events, url, method, headers, secrets, unsigned, enabled, format, condition)',
      'subscription "crm": needs `table`: the Undb table id (tbl…) or name',
      expect.stringMatching(/^subscription "crm": unknown event `record\.made`/),
      'subscription "crm": url `ftp://x` is not an http:// or https:// URL',
      'subscription "crm": method `GET` is not POST or PATCH',
      'subscription "crm": has no secret: set `secrets` (or signing.secrets for all), or `unsigned: true` to send without a keyed signature',
      'subscription "crm": format `xml` is not undb or undb-v1',
    ]);
  });
});
