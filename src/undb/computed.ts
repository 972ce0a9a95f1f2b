/**
 * Values a record row does not hold: reference links (join tables), rollups over them, and formula
 * values on servers that do not publish generated columns (before Postgres 18).
 *
 * Links edited by the transaction itself come from its own join-table rows: Undb deletes a record's pairs
 * and inserts the new ones in the same transaction, so the inserted pairs are the complete new link set and
 * the deleted ones the old set (undb-storage.md §4). Everything else is read from the database when the
 * event is built, in one query per join table and per foreign table: not WAL-exact, as documented.
 */
import type { Queryable } from '../source/setup.js';
import type { RowImage } from '../source/transactions.js';
import { qualified, type UndbField, type UndbMetadata, type UndbTable } from './metadata.js';
import { formulaValue, readableValue, type LinkedRecord, type RecordContext } from './readableRecord.js';

export interface JoinTable {
  name: string;
  /** Column holding this table's record ids. */
  ownColumn: string;
  /** Column holding the foreign table's record ids. */
  otherColumn: string;
  foreignTableId: string;
}

/** Undb's join-table naming (packages/persistence/src/underlying/reference/join-table.ts). */
export function joinTableFor(table: UndbTable, field: UndbField): JoinTable | undefined {
  const option = field.option as { isOwner?: boolean; foreignTableId?: string; symmetricFieldId?: string } | undefined;
  const foreignTableId = option?.foreignTableId;
  if (!foreignTableId) return undefined;
  if (option.isOwner) {
    return {
      name: `$${foreignTableId}_${table.id}_${field.id}_join_table`,
      ownColumn: field.id,
      otherColumn: foreignTableId,
      foreignTableId,
    };
  }
  if (!option.symmetricFieldId) return undefined;
  return {
    name: `$${table.id}_${foreignTableId}_${option.symmetricFieldId}_join_table`,
    ownColumn: table.id,
    otherColumn: option.symmetricFieldId,
    foreignTableId,
  };
}

/** The join-table rows one transaction deleted and inserted, by join table name. */
export type LinkEdits = Map<string, { deleted: RowImage[]; inserted: RowImage[] }>;

export type ImageSide = 'old' | 'new';

export interface RecordNeeds {
  table: UndbTable;
  recordIds: Set<string>;
}

interface ResolvedLinks {
  old: Map<string, string[]>;
  new: Map<string, string[]>;
}

const keyOf = (tableId: string, fieldId: string) => `${tableId}\u0000${fieldId}`;

export class ComputedValues {
  private readonly links = new Map<string, ResolvedLinks>();
  private readonly foreignRows = new Map<string, Map<string, RowImage>>();
  private readonly formulaRows = new Map<string, Map<string, RowImage>>();

  private constructor(
    private readonly metadata: UndbMetadata,
    private readonly timeZone: string,
  ) {}

  static empty(metadata: UndbMetadata, timeZone: string): ComputedValues {
    return new ComputedValues(metadata, timeZone);
  }

  static async resolve(
    db: Queryable,
    metadata: UndbMetadata,
    timeZone: string,
    needs: RecordNeeds[],
    edits: LinkEdits,
    readsGeneratedColumns: boolean,
  ): Promise<ComputedValues> {
    const values = new ComputedValues(metadata, timeZone);
    const foreignIds = new Map<string, Set<string>>();
    for (const { table, recordIds } of needs) {
      for (const field of table.fields) {
        if (field.type === 'reference') {
          const linked = await values.resolveLinks(db, table, field, recordIds, edits);
          const foreignTableId = joinTableFor(table, field)?.foreignTableId;
          if (!linked || !foreignTableId) continue;
          const ids = foreignIds.get(foreignTableId) ?? new Set<string>();
          for (const side of [linked.old, linked.new]) for (const list of side.values()) for (const id of list) ids.add(id);
          foreignIds.set(foreignTableId, ids);
        }
      }
      const formulas = table.fields.filter((field) => field.type === 'formula');
      if (formulas.length && !readsGeneratedColumns) {
        values.formulaRows.set(table.id, await readRows(db, metadata.schema, table.id, formulas.map((f) => f.id), [...recordIds]));
      }
    }
    for (const [tableId, ids] of foreignIds) {
      const foreign = metadata.table(tableId);
      if (!foreign || ids.size === 0) continue;
      values.foreignRows.set(tableId, await readRows(db, metadata.schema, tableId, undefined, [...ids]));
    }
    return values;
  }

  /** The record context for one record image. */
  contextFor(table: UndbTable, recordId: string, side: ImageSide): RecordContext {
    return {
      user: (id) => this.metadata.user(id),
      timeZone: this.timeZone,
      links: (fieldId) => this.linkedRecords(table, recordId, fieldId, side),
      computed: (fieldId) => this.computed(table, recordId, fieldId, side),
    };
  }

  linkedIds(tableId: string, recordId: string, fieldId: string, side: ImageSide): string[] {
    return this.links.get(keyOf(tableId, fieldId))?.[side].get(recordId) ?? [];
  }

  private linkedRecords(table: UndbTable, recordId: string, fieldId: string, side: ImageSide): LinkedRecord[] {
    const field = table.fields.find((candidate) => candidate.id === fieldId);
    const foreignTableId = field && joinTableFor(table, field)?.foreignTableId;
    const foreign = foreignTableId ? this.metadata.table(foreignTableId) : undefined;
    return this.linkedIds(table.id, recordId, fieldId, side).map((id) => ({
      id,
      value: foreign ? this.displayValue(foreign, id) : null,
    }));
  }

  private displayValue(foreign: UndbTable, id: string): unknown {
    const row = this.foreignRows.get(foreign.id)?.get(id);
    const display = foreign.fields.find((field) => field.display) ?? foreign.fields[0];
    if (!row || !display) return null;
    return readableValue(display, row, this.plainContext());
  }

  private computed(table: UndbTable, recordId: string, fieldId: string, side: ImageSide): unknown {
    const field = table.fields.find((candidate) => candidate.id === fieldId);
    if (!field) return null;
    if (field.type === 'formula') {
      const row = this.formulaRows.get(table.id)?.get(recordId);
      return row ? formulaValue(field, row[field.id] ?? null, { timeZone: this.timeZone }) : null;
    }
    if (field.type === 'rollup') return this.rollup(table, recordId, field, side);
    return null;
  }

  private rollup(table: UndbTable, recordId: string, field: UndbField, side: ImageSide): unknown {
    const option = field.option as { referenceFieldId?: string; rollupFieldId?: string; fn?: string } | undefined;
    const reference = table.fields.find((candidate) => candidate.id === option?.referenceFieldId);
    const foreignTableId = reference && joinTableFor(table, reference)?.foreignTableId;
    const foreign = foreignTableId ? this.metadata.table(foreignTableId) : undefined;
    const rolled = foreign?.fields.find((candidate) => candidate.id === option?.rollupFieldId);
    if (!reference || !foreign || !rolled) return null;
    const ids = this.linkedIds(table.id, recordId, reference.id, side);
    const rows = this.foreignRows.get(foreign.id);
    const values = ids.map((id) => {
      const row = rows?.get(id);
      return row ? readableValue(rolled, row, this.plainContext()) : null;
    });
    return aggregate(option?.fn ?? 'lookup', values);
  }

  private plainContext(): RecordContext {
    return { user: (id) => this.metadata.user(id), timeZone: this.timeZone, links: () => [], computed: () => null };
  }

  private async resolveLinks(
    db: Queryable,
    table: UndbTable,
    field: UndbField,
    recordIds: Set<string>,
    edits: LinkEdits,
  ): Promise<ResolvedLinks | undefined> {
    const join = joinTableFor(table, field);
    if (!join) return undefined;
    const resolved: ResolvedLinks = { old: new Map(), new: new Map() };
    const edited = edits.get(join.name);
    const untouched: string[] = [];
    for (const recordId of recordIds) {
      const deleted = edited?.deleted.filter((row) => row[join.ownColumn] === recordId) ?? [];
      const inserted = edited?.inserted.filter((row) => row[join.ownColumn] === recordId) ?? [];
      if (deleted.length === 0 && inserted.length === 0) {
        untouched.push(recordId);
        continue;
      }
      resolved.old.set(recordId, deleted.map((row) => row[join.otherColumn] ?? '').filter(Boolean));
      resolved.new.set(recordId, inserted.map((row) => row[join.otherColumn] ?? '').filter(Boolean));
    }
    if (untouched.length) {
      const { rows } = await db
        .query<{ own: string; other: string }>(
          `select "${join.ownColumn}" as own, "${join.otherColumn}" as other
             from ${qualified(this.metadata.schema, join.name)} where "${join.ownColumn}" = any($1)`,
          [untouched],
        )
        .catch((error: { code?: string }) => {
          if (error.code === '42P01' || error.code === '42703') return { rows: [] }; // dropped meanwhile
          throw error;
        });
      for (const row of rows) {
        for (const side of [resolved.old, resolved.new]) side.set(row.own, [...(side.get(row.own) ?? []), row.other]);
      }
    }
    this.links.set(keyOf(table.id, field.id), resolved);
    return resolved;
  }
}

async function readRows(
  db: Queryable,
  schema: string,
  tableId: string,
  columns: string[] | undefined,
  ids: string[],
): Promise<Map<string, RowImage>> {
  const list = columns ? ['id', ...columns].map((column) => `"${column}"::text`).join(', ') : '*';
  const { rows } = await db
    .query<RowImage>({
      text: `select ${columns ? list : 'to_jsonb(t) as row'} from ${qualified(schema, tableId)} t where id = any($1)`,
      values: [ids],
    })
    .catch((error: { code?: string }) => {
      if (error.code === '42P01' || error.code === '42703') return { rows: [] as RowImage[] };
      throw error;
    });
  const byId = new Map<string, RowImage>();
  for (const row of rows) {
    const image = columns ? row : textImage((row as unknown as { row: Record<string, unknown> }).row);
    if (image.id) byId.set(image.id, image);
  }
  return byId;
}

/** A to_jsonb row back to the text form the WAL gives, so one converter serves both. */
function textImage(row: Record<string, unknown>): RowImage {
  const image: RowImage = {};
  for (const [key, value] of Object.entries(row)) {
    if (value === null) image[key] = null;
    else if (typeof value === 'boolean') image[key] = value ? 't' : 'f';
    else if (typeof value === 'object') image[key] = JSON.stringify(value);
    else if (typeof value === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?$/.test(value)) image[key] = value.replace('T', ' ');
    else image[key] = String(value);
  }
  return image;
}

function aggregate(fn: string, values: unknown[]): unknown {
  const numbers = values.filter((value): value is number => typeof value === 'number');
  switch (fn) {
    case 'count':
      return values.length;
    case 'sum':
      return numbers.reduce((sum, value) => sum + value, 0);
    case 'average':
      return numbers.length ? numbers.reduce((sum, value) => sum + value, 0) / numbers.length : null;
    case 'max':
      return numbers.length ? Math.max(...numbers) : null;
    case 'min':
      return numbers.length ? Math.min(...numbers) : null;
    default:
      return values.map((value) => (value && typeof value === 'object' && 'name' in value ? (value as { name: unknown }).name : value));
  }
}
