/**
 * The net effect of a transaction on each record (events.md §1.2):
 * insert→update = created (final values); update→update = updated (first old, last new);
 * insert→delete = nothing; update→delete = deleted (oldest values); delete→insert = updated.
 */
import type { RowImage } from '../source/transactions.js';
import type { UndbTable } from '../undb/metadata.js';
import type { RecordRowChange } from './classify.js';
import type { ChangeKind } from './types.js';

export interface NetChange {
  /** Index of the record's first change in the transaction: events keep this order. */
  firstIndex: number;
  table: UndbTable;
  recordId: string;
  kind: ChangeKind;
  old: RowImage | null;
  new: RowImage | null;
}

export interface NetEffect {
  changes: NetChange[];
  problems: string[];
}

export function netEffect(recordChanges: RecordRowChange[]): NetEffect {
  const byRecord = new Map<string, Entry>();
  const problems: string[] = [];
  for (const { index, table, change } of recordChanges) {
    const recordId = change.kind === 'delete' ? change.old.id : change.new.id ?? (change.kind === 'update' ? change.old?.id : undefined);
    if (!recordId) {
      problems.push(
        `A ${change.kind.toUpperCase()} on table "${table.name}" (${table.id}) carries no record id, so no event could be built: ` +
          `the table lacks REPLICA IDENTITY FULL. Run \`undb-relay setup\` to set it.`,
      );
      continue;
    }
    const key = `${table.id}/${recordId}`;
    const seen = byRecord.get(key);
    const next = step(seen, change, index, table, recordId);
    byRecord.set(key, next);
  }
  const changes = [...byRecord.values()].filter((entry): entry is NetChange => !('gone' in entry));
  changes.sort((a, b) => a.firstIndex - b.firstIndex);
  return { changes, problems };
}

/** `gone`: inserted, then deleted, within this transaction. */
type Entry = NetChange | { gone: true; firstIndex: number; table: UndbTable };

function step(
  seen: Entry | undefined,
  change: RecordRowChange['change'],
  index: number,
  table: UndbTable,
  recordId: string,
): Entry {
  const firstIndex = seen?.firstIndex ?? index;
  const base = { firstIndex, table, recordId };
  if (!seen) {
    if (change.kind === 'insert') return { ...base, kind: 'created', old: null, new: change.new };
    if (change.kind === 'update') return { ...base, kind: 'updated', old: change.old, new: change.new };
    return { ...base, kind: 'deleted', old: change.old, new: null };
  }
  if ('gone' in seen) {
    // Inserted then deleted earlier in this transaction: a new insert starts afresh.
    return change.kind === 'insert' ? { ...base, kind: 'created', old: null, new: change.new } : seen;
  }
  switch (seen.kind) {
    case 'created':
      if (change.kind === 'delete') return { gone: true, firstIndex, table };
      return { ...seen, new: change.new };
    case 'updated':
      if (change.kind === 'delete') return { ...seen, kind: 'deleted', new: null };
      return { ...seen, new: change.new };
    case 'deleted':
      if (change.kind === 'insert') return { ...seen, kind: 'updated', new: change.new };
      return seen;
  }
}
