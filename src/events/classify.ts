/**
 * Sorts a transaction's row changes into what event building needs: record-table changes, join-table
 * link edits, Undb's own outbox rows, whether it wrote `undb_table` (a schema migration), truncates.
 */
import { isJoinTableName, isRecordTableName } from '../source/setup.js';
import type { CommittedTransaction, RowChange, RowImage } from '../source/transactions.js';
import type { LinkEdits } from '../undb/computed.js';
import type { UndbTable } from '../undb/metadata.js';
import type { OutboxRow } from './types.js';

export interface RecordRowChange {
  index: number;
  table: UndbTable;
  change: Extract<RowChange, { kind: 'insert' | 'update' | 'delete' }>;
}

export interface ClassifiedTransaction {
  recordChanges: RecordRowChange[];
  linkEdits: LinkEdits;
  /** Undb's outbox rows by `<tableId>/<recordId>`. */
  outbox: Map<string, OutboxRow>;
  writesMetadata: boolean;
  truncated: Array<{ index: number; table: UndbTable }>;
  problems: string[];
}

export const outboxKey = (tableId: string, recordId: string) => `${tableId}/${recordId}`;

export function classify(
  tx: CommittedTransaction,
  undbSchema: string,
  tableOf: (id: string) => UndbTable | undefined,
): ClassifiedTransaction {
  const result: ClassifiedTransaction = {
    recordChanges: [],
    linkEdits: new Map(),
    outbox: new Map(),
    writesMetadata: false,
    truncated: [],
    problems: [],
  };
  const unknownTables = new Set<string>();
  tx.changes.forEach((change, index) => {
    if (change.kind === 'truncate') {
      for (const relation of change.relations) {
        const table = relation.schema === undbSchema ? tableOf(relation.name) : undefined;
        if (table) result.truncated.push({ index, table });
      }
      return;
    }
    const { schema, name } = change.relation;
    if (schema !== undbSchema) return;
    if (name === 'undb_table') {
      result.writesMetadata = true;
    } else if (name === 'undb_outbox' && change.kind === 'insert') {
      const row = outboxRow(change.new);
      if (row) result.outbox.set(outboxKey(String(row.payload.tableId ?? ''), recordIdOf(row)), row);
    } else if (isJoinTableName(name)) {
      const edits = result.linkEdits.get(name) ?? { deleted: [], inserted: [] };
      if (change.kind !== 'insert') edits.deleted.push(change.old ?? {});
      if (change.kind !== 'delete') edits.inserted.push(change.new);
      result.linkEdits.set(name, edits);
    } else if (isRecordTableName(name)) {
      const table = tableOf(name);
      if (table) result.recordChanges.push({ index, table, change });
      else unknownTables.add(name);
    }
  });
  for (const name of unknownTables) {
    result.problems.push(
      `Rows of table "${name}" changed, but no undb_table row describes it; its changes were not turned into events. ` +
        'If Undb created it outside a transaction the relay saw, restart the relay to reload Undb\'s metadata.',
    );
  }
  return result;
}

function outboxRow(row: RowImage): OutboxRow | undefined {
  if (!row.id || !row.name?.startsWith('record.')) return undefined;
  const payload = parseObject(row.payload);
  if (!payload) return undefined;
  return {
    id: row.id,
    name: row.name,
    userId: row.user_id ?? null,
    spaceId: row.space_id ?? null,
    timestamp: row.timestamp ?? null,
    payload,
    meta: parseObject(row.meta) ?? null,
  };
}

function recordIdOf(row: OutboxRow): string {
  const payload = row.payload as { id?: unknown; record?: { id?: unknown } };
  return String(payload.id ?? payload.record?.id ?? '');
}

function parseObject(text: string | null | undefined): Record<string, unknown> | undefined {
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
