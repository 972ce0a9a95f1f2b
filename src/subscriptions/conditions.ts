/**
 * Undb's webhook conditions (undb-source-reading.md §2.6): `{ conjunction, children: [{ field, op, value }
 * | group] }`, with Undb's operators per field type. Fields and select options may be given by id or by
 * name; `resolveCondition` turns them into ids once, against the current schema, so a later rename in Undb
 * keeps the condition working, and reports what it cannot resolve. `evaluate` runs on a readable record.
 * Unlike Undb, `disabled` children are honoured (skipped). Day boundaries are UTC.
 */
import type { UndbField, UndbTable } from '../undb/metadata.js';
import type { Readable } from '../undb/readableRecord.js';
import { isGroup, type ConditionGroup, type FieldCondition } from './types.js';

const TEXT = ['eq', 'neq', 'contains', 'does_not_contain', 'starts_with', 'ends_with', 'is_empty', 'is_not_empty'];
const NUMBER = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'is_empty', 'is_not_empty'];
const CHOICE = ['eq', 'neq', 'any_of', 'not_any_of', 'is_empty', 'is_not_empty'];
const DATE = [
  'is_same_day', 'is_not_same_day', 'is_today', 'is_tody', 'is_not_today', 'is_after_today', 'is_before_today',
  'is_tomorrow', 'is_not_tomorrow', 'is_after_tomorrow', 'is_before_tomorrow', 'is_before_tommorow',
  'is_yesterday', 'is_not_yesterday', 'is_after_yesterday', 'is_before_yesterday',
  'is_before', 'is_not_before', 'is_after', 'is_not_after', 'is_empty', 'is_not_empty',
];
const EMPTINESS = ['is_empty', 'is_not_empty'];

/** The operators Undb offers for each field type. */
export const OPERATORS: Record<string, string[]> = {
  string: [...TEXT, 'min', 'max'],
  longText: TEXT,
  email: TEXT,
  url: TEXT,
  number: NUMBER,
  rating: NUMBER,
  currency: NUMBER,
  duration: NUMBER,
  autoIncrement: NUMBER,
  rollup: NUMBER,
  reference: NUMBER,
  percentage: ['eq', 'neq', 'is_empty', 'is_not_empty'],
  formula: [...NUMBER, 'is_true', 'is_false'],
  checkbox: ['eq', 'neq', 'is_true', 'is_false'],
  select: CHOICE,
  user: CHOICE,
  createdBy: CHOICE,
  updatedBy: CHOICE,
  date: DATE,
  createdAt: DATE,
  updatedAt: DATE,
  dateRange: DATE,
  attachment: EMPTINESS,
  json: ['eq', 'neq', 'contains', 'does_not_contain', 'is_empty', 'is_not_empty'],
  id: ['eq', 'neq', 'in', 'nin'],
};

const DATE_MACROS = ['@now', '@todayStart', '@todayEnd', '@tomorrowStart', '@tomorrowEnd', '@yesterdayStart', '@yesterdayEnd'];
const VALUELESS = new Set([...EMPTINESS, 'is_true', 'is_false', ...DATE.filter((op) => /today|tomorrow|tommorow|yesterday|tody/.test(op))]);

const findField = (table: UndbTable, ref: string): UndbField | undefined =>
  table.fields.find((field) => field.id === ref) ?? table.fields.find((field) => field.name === ref);

/** Fields and options to ids; every problem named with the condition's path and the fix. */
export function resolveCondition(group: ConditionGroup, table: UndbTable, problems: string[], path = 'condition'): ConditionGroup {
  return {
    ...group,
    children: group.children.map((child, index) => {
      const childPath = `${path}.children[${index}]`;
      if (isGroup(child)) return resolveCondition(child, table, problems, childPath);
      const field = findField(table, child.field);
      if (!field) {
        problems.push(`${childPath}: table "${table.name}" has no field \`${child.field}\` (fields: ${table.fields.map((f) => f.name).join(', ')})`);
        return child;
      }
      const allowed = OPERATORS[field.type] ?? [];
      if (!allowed.includes(child.op)) {
        problems.push(
          `${childPath}: operator \`${child.op}\` does not apply to ${field.type} field "${field.name}"` +
            (allowed.length ? ` (use ${allowed.join(', ')})` : ' (it cannot be filtered on)'),
        );
      }
      if (!VALUELESS.has(child.op) && child.value === undefined) problems.push(`${childPath}: operator \`${child.op}\` needs a \`value\``);
      return { ...child, field: field.id, value: resolveValue(field, child, childPath, problems) };
    }),
  };
}

function resolveValue(field: UndbField, condition: FieldCondition, path: string, problems: string[]): unknown {
  const { value } = condition;
  if (field.type === 'select' && value !== undefined && value !== null) {
    const options = (field.option?.options ?? []) as Array<{ id: string; name: string }>;
    const toId = (ref: unknown) => {
      const option = options.find((o) => o.id === ref) ?? options.find((o) => o.name === ref);
      if (!option) problems.push(`${path}: field "${field.name}" has no option \`${String(ref)}\` (options: ${options.map((o) => o.name).join(', ')})`);
      return option?.id ?? ref;
    };
    return Array.isArray(value) ? value.map(toId) : toId(value);
  }
  if (DATE.includes(condition.op) && typeof value === 'string' && !DATE_MACROS.includes(value) && Number.isNaN(Date.parse(value))) {
    problems.push(`${path}: \`${value}\` is not a date (YYYY-MM-DD, an ISO time, or ${DATE_MACROS.join(', ')})`);
  }
  return value;
}

export function evaluate(group: ConditionGroup, table: UndbTable, record: Readable, now: Date = new Date()): boolean {
  const children = group.children.filter((child) => !child.disabled);
  if (children.length === 0) return true;
  const test = (child: FieldCondition | ConditionGroup) =>
    isGroup(child) ? evaluate(child, table, record, now) : evaluateField(child, table, record, now);
  return group.conjunction === 'or' ? children.some(test) : children.every(test);
}

function evaluateField(condition: FieldCondition, table: UndbTable, record: Readable, now: Date): boolean {
  const field = findField(table, condition.field);
  if (!field) return false;
  const value = record[field.name];
  const { op } = condition;
  switch (OPERATORS[field.type] === DATE ? 'date' : kindOf(field.type)) {
    case 'text':
      return compareText(op, value as string | null, condition.value);
    case 'number':
      return compareNumber(op, field.type === 'reference' ? (value as unknown[]).length : (value as number | null), condition.value);
    case 'checkbox':
      return compareBoolean(op, value, condition.value);
    case 'choice':
      return compareChoice(op, idsOf(value), condition.value);
    case 'date': {
      const when = field.type === 'dateRange' ? (value as Array<string | null>)[condition.option?.scope === 'end' ? 1 : 0] : value;
      return compareDate(op, (when as string | null) ?? null, condition.value, now);
    }
    case 'json':
      return compareJson(op, value, condition.value);
    case 'id':
      return op === 'eq' ? value === condition.value
        : op === 'neq' ? value !== condition.value
        : op === 'in' ? asArray(condition.value).includes(value)
        : !asArray(condition.value).includes(value);
    default:
      return isEmpty(value) === (op === 'is_empty');
  }
}

function kindOf(type: string): string {
  if (['string', 'longText', 'email', 'url'].includes(type)) return 'text';
  if (['number', 'rating', 'currency', 'duration', 'autoIncrement', 'rollup', 'reference', 'percentage'].includes(type)) return 'number';
  if (type === 'formula') return 'number';
  if (type === 'checkbox') return 'checkbox';
  if (['select', 'user', 'createdBy', 'updatedBy'].includes(type)) return 'choice';
  if (type === 'json') return 'json';
  if (type === 'id') return 'id';
  return 'emptiness';
}

const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : value === undefined || value === null ? [] : [value]);

function isEmpty(value: unknown): boolean {
  if (value === null || value === undefined || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value).length === 0;
  return false;
}

function compareText(op: string, value: string | null, expected: unknown): boolean {
  const text = value ?? '';
  const wanted = String(expected ?? '');
  switch (op) {
    case 'eq': return text === wanted;
    case 'neq': return text !== wanted;
    case 'contains': return text.includes(wanted);
    case 'does_not_contain': return !text.includes(wanted);
    case 'starts_with': return text.startsWith(wanted);
    case 'ends_with': return text.endsWith(wanted);
    case 'min': return text.length >= Number(expected);
    case 'max': return text.length <= Number(expected);
    default: return isEmpty(value) === (op === 'is_empty');
  }
}

function compareNumber(op: string, value: number | boolean | null, expected: unknown): boolean {
  if (op === 'is_true') return value === true || value === 1;
  if (op === 'is_false') return !(value === true || value === 1);
  if (op === 'is_empty' || op === 'is_not_empty') return (value === null || value === undefined) === (op === 'is_empty');
  if (typeof expected === 'boolean') return op === 'eq' ? Boolean(value) === expected : Boolean(value) !== expected;
  const wanted = Number(expected);
  if (op === 'neq') return value !== wanted;
  if (typeof value !== 'number') return false;
  switch (op) {
    case 'eq': return value === wanted;
    case 'gt': return value > wanted;
    case 'gte': return value >= wanted;
    case 'lt': return value < wanted;
    case 'lte': return value <= wanted;
    default: return false;
  }
}

function compareBoolean(op: string, value: unknown, expected: unknown): boolean {
  const actual = value === true;
  const wanted = expected === true || expected === 'true';
  switch (op) {
    case 'is_true': return actual;
    case 'is_false': return !actual;
    case 'eq': return actual === wanted;
    default: return actual !== wanted;
  }
}

/** Option ids of a select, user ids of a user field, from their readable form. */
function idsOf(value: unknown): string[] {
  return asArray(value).map((item) => (item && typeof item === 'object' ? String((item as { id: unknown }).id) : String(item)));
}

function compareChoice(op: string, ids: string[], expected: unknown): boolean {
  const wanted = asArray(expected).map(String);
  const overlap = ids.some((id) => wanted.includes(id));
  const same = ids.length === wanted.length && ids.every((id) => wanted.includes(id));
  switch (op) {
    case 'eq': return same;
    case 'neq': return !same;
    case 'any_of': return overlap;
    case 'not_any_of': return !overlap;
    default: return (ids.length === 0) === (op === 'is_empty');
  }
}

function compareJson(op: string, value: unknown, expected: unknown): boolean {
  const text = JSON.stringify(value ?? null);
  const wanted = typeof expected === 'string' ? expected : JSON.stringify(expected);
  switch (op) {
    case 'eq': return text === JSON.stringify(expected);
    case 'neq': return text !== JSON.stringify(expected);
    case 'contains': return value !== null && value !== undefined && text.includes(wanted);
    case 'does_not_contain': return value === null || value === undefined || !text.includes(wanted);
    default: return isEmpty(value) === (op === 'is_empty');
  }
}

const DAY = 86_400_000;
const startOfDay = (ms: number) => Math.floor(ms / DAY) * DAY;

function instant(expected: unknown, now: Date): number {
  const today = startOfDay(now.getTime());
  switch (expected) {
    case '@now': return now.getTime();
    case '@todayStart': return today;
    case '@todayEnd': return today + DAY - 1;
    case '@tomorrowStart': return today + DAY;
    case '@tomorrowEnd': return today + 2 * DAY - 1;
    case '@yesterdayStart': return today - DAY;
    case '@yesterdayEnd': return today - 1;
    default: return Date.parse(String(expected));
  }
}

function compareDate(op: string, value: string | null, expected: unknown, now: Date): boolean {
  if (op === 'is_empty' || op === 'is_not_empty') return (value === null) === (op === 'is_empty');
  if (value === null) return op.startsWith('is_not_');
  const at = Date.parse(value);
  const day = startOfDay(at);
  const today = startOfDay(now.getTime());
  const relative: Record<string, boolean> = {
    is_today: day === today,
    is_tody: day === today,
    is_not_today: day !== today,
    is_after_today: day > today,
    is_before_today: day < today,
    is_tomorrow: day === today + DAY,
    is_not_tomorrow: day !== today + DAY,
    is_after_tomorrow: day > today + DAY,
    is_before_tomorrow: day < today + DAY,
    is_before_tommorow: day < today + DAY,
    is_yesterday: day === today - DAY,
    is_not_yesterday: day !== today - DAY,
    is_after_yesterday: day > today - DAY,
    is_before_yesterday: day < today - DAY,
  };
  if (op in relative) return relative[op]!;
  const other = instant(expected, now);
  switch (op) {
    case 'is_same_day': return day === startOfDay(other);
    case 'is_not_same_day': return day !== startOfDay(other);
    case 'is_before': return at < other;
    case 'is_not_before': return at >= other;
    case 'is_after': return at > other;
    case 'is_not_after': return at <= other;
    default: return false;
  }
}
