/**
 * Row image (server text) → the readable record of events.md §3: keys are field names in schema order,
 * values shaped per field type. Values that live outside the row (links, rollups, formulas on servers that
 * do not publish generated columns) come from `RecordContext`, filled in by `undb/computed.ts`.
 */
import type { RowImage } from '../source/transactions.js';
import type { UndbField, UndbTable, UndbUser } from './metadata.js';
import { timestampToIso } from './timestamps.js';

export type Readable = Record<string, unknown>;

export interface LinkedRecord {
  id: string;
  value: unknown;
}

export interface RecordContext {
  user(id: string): UndbUser | undefined;
  timeZone: string;
  /** Linked records of a reference field for this record, [] when none. */
  links(fieldId: string): LinkedRecord[];
  /** Rollup values, and formula values the WAL did not carry. */
  computed(fieldId: string): unknown;
}

/** Columns that store a field; [] for fields without a column (reference, rollup, button). */
export function fieldColumns(field: UndbField): string[] {
  switch (field.type) {
    case 'dateRange':
      return [`${field.id}_start`, `${field.id}_end`];
    case 'reference':
    case 'rollup':
    case 'button':
      return [];
    default:
      return [field.id];
  }
}

export const isSingle = (field: UndbField) => field.constraint?.max === 1;

export function readableRecord(table: UndbTable, row: RowImage, context: RecordContext): Readable {
  const record: Readable = {};
  for (const field of table.fields) {
    if (field.type === 'button') continue;
    record[field.name] = readableValue(field, row, context);
  }
  return record;
}

export function readableValue(field: UndbField, row: RowImage, context: RecordContext): unknown {
  const raw = row[field.id] ?? null;
  switch (field.type) {
    case 'id':
    case 'string':
    case 'longText':
    case 'email':
    case 'url':
      return raw;
    case 'number':
    case 'rating':
    case 'percentage':
    case 'duration':
    case 'autoIncrement':
      return raw === null ? null : Number(raw);
    case 'currency':
      return raw === null ? null : Number(raw) / 100;
    case 'checkbox':
      return raw === 't' || raw === 'true';
    case 'select':
      return isSingle(field) ? (raw === null ? null : option(field, raw)) : mapJsonArray(raw, (id) => option(field, String(id)), null);
    case 'user':
      return isSingle(field)
        ? raw === null
          ? null
          : userObject(raw, context)
        : mapJsonArray(raw, (id) => userObject(String(id), context), []);
    case 'createdBy':
    case 'updatedBy':
      return raw === null ? null : userObject(raw, context);
    case 'createdAt':
    case 'updatedAt':
    case 'date':
      return raw === null ? null : timestampToIso(raw, context.timeZone);
    case 'dateRange':
      return [`${field.id}_start`, `${field.id}_end`].map((column) => {
        const value = row[column] ?? null;
        return value === null ? null : timestampToIso(value, context.timeZone);
      });
    case 'attachment':
      return raw === null ? [] : parseJson(raw);
    case 'json':
      return raw === null ? null : parseJson(raw);
    case 'reference':
      return context.links(field.id);
    case 'rollup':
      return context.computed(field.id);
    case 'formula':
      return field.id in row && row[field.id] !== undefined ? formulaValue(field, raw, context) : context.computed(field.id);
    default:
      // A field type this relay does not know yet: pass the stored value through rather than lose it.
      return raw === null ? null : parseJsonOrText(raw);
  }
}

export function formulaValue(field: UndbField, raw: string | null, context: Pick<RecordContext, 'timeZone'>): unknown {
  if (raw === null) return null;
  switch (field.metadata?.returnType) {
    case 'number':
      return Number(raw);
    case 'boolean':
      return raw === 't' || raw === 'true' || raw === '1';
    case 'date':
      return timestampToIso(raw, context.timeZone);
    default:
      return raw;
  }
}

function option(field: UndbField, id: string): { id: string; name: string | null } {
  const options = (field.option?.options ?? []) as Array<{ id: string; name: string }>;
  return { id, name: options.find((candidate) => candidate.id === id)?.name ?? null };
}

function userObject(id: string, context: RecordContext) {
  const user = context.user(id);
  // Undb v1 stores no colour for users: the documented key stays, with null.
  return { id, username: user?.username ?? null, avatar: user?.avatar ?? null, color: null };
}

function mapJsonArray<T>(raw: string | null, map: (item: unknown) => T, empty: T[] | null): T[] | null {
  if (raw === null) return empty;
  const parsed = parseJson(raw);
  if (!Array.isArray(parsed)) return empty;
  return parsed.map(map);
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function parseJsonOrText(raw: string): unknown {
  return /^[[{]/.test(raw) ? parseJson(raw) : raw;
}
