/**
 * One committed transaction → its Undb webhook events (events.md §1), in order, with deterministic ids.
 */
import type { Queryable } from '../source/setup.js';
import type { CommittedTransaction } from '../source/transactions.js';
import { ComputedValues, type RecordNeeds } from '../undb/computed.js';
import type { UndbMetadata, UndbTable } from '../undb/metadata.js';
import { readableRecord, type Readable } from '../undb/readableRecord.js';
import { classify, outboxKey, type ClassifiedTransaction } from './classify.js';
import { eventId } from './eventId.js';
import { netEffect, type NetChange } from './netEffect.js';
import { BULK_NAMES, SINGLE_NAMES, type ChangeKind, type EventItem, type RelayEvent } from './types.js';

export interface BuildSettings {
  slot: string;
  maxBulkSize: number;
  schemaMigrations: 'skip' | 'emit';
}

export interface BuildContext {
  db: Queryable;
  metadata: UndbMetadata;
  timeZone: string;
  /** Postgres 18 publishes generated (formula) columns; older servers need a read-back. */
  readsGeneratedColumns: boolean;
}

export interface BuildResult {
  events: RelayEvent[];
  /** Things the relay could not turn into events, each naming the table and the fix. */
  problems: string[];
  /** Record changes left out as schema-migration side effects. */
  skippedMigrationRows: number;
}

/** Fields whose change is bookkeeping, not a user-visible edit. */
const BOOKKEEPING_FIELDS = new Set(['updatedAt', 'updatedBy']);

export async function buildEvents(tx: CommittedTransaction, context: BuildContext, settings: BuildSettings): Promise<BuildResult> {
  const created = new Map(context.metadata.tablesCreatedBy(tx).map((table) => [table.id, table]));
  const classified = classify(tx, context.metadata.schema, (id) => context.metadata.table(id) ?? created.get(id));
  const net = netEffect(classified.recordChanges);
  const problems = [...classified.problems, ...net.problems];
  let changes = net.changes;
  let skippedMigrationRows = 0;
  if (classified.writesMetadata && settings.schemaMigrations === 'skip') {
    // Option deletion, type conversion, duplication…: rows rewritten with no user edit. A record that has
    // its own outbox row in the transaction was a user edit after all and keeps its event.
    const kept = changes.filter((change) => classified.outbox.has(outboxKey(change.table.id, change.recordId)));
    skippedMigrationRows = changes.length - kept.length;
    changes = kept;
  }
  const computed = await computedValues(changes, classified, context);
  const items = new Map<NetChange, EventItem>();
  for (const change of changes) {
    const item = eventItem(change, computed, classified);
    if (item) items.set(change, item);
  }
  const events = group(tx, settings, changes, items, classified);
  return { events, problems, skippedMigrationRows };
}

async function computedValues(changes: NetChange[], classified: ClassifiedTransaction, context: BuildContext) {
  const needs = new Map<string, RecordNeeds>();
  for (const change of changes) {
    if (!change.table.fields.some((field) => ['reference', 'rollup', 'formula'].includes(field.type))) continue;
    const need = needs.get(change.table.id) ?? { table: change.table, recordIds: new Set<string>() };
    need.recordIds.add(change.recordId);
    needs.set(change.table.id, need);
  }
  if (needs.size === 0) return ComputedValues.empty(context.metadata, context.timeZone);
  return ComputedValues.resolve(
    context.db,
    context.metadata,
    context.timeZone,
    [...needs.values()],
    classified.linkEdits,
    context.readsGeneratedColumns,
  );
}

function eventItem(change: NetChange, computed: ComputedValues, classified: ClassifiedTransaction): EventItem | undefined {
  const { table, recordId } = change;
  const previous = change.old ? readableRecord(table, change.old, computed.contextFor(table, recordId, 'old')) : null;
  const current = change.new ? readableRecord(table, change.new, computed.contextFor(table, recordId, 'new')) : null;
  const outbox = classified.outbox.get(outboxKey(table.id, recordId));
  let changedFields: string[] = [];
  if (change.kind === 'updated' && previous && current) {
    changedFields = changedFieldNames(table, previous, current);
    // An UPDATE that changed nothing a user sees, and that Undb did not report, is not an event.
    if (changedFields.length === 0 && !outbox) return undefined;
  }
  return {
    recordId,
    kind: change.kind,
    previousRecord: change.kind === 'deleted' ? null : previous,
    record: (current ?? previous)!,
    changedFields,
    outbox,
    oldRow: change.old,
    newRow: change.new,
  };
}

function changedFieldNames(table: UndbTable, previous: Readable, current: Readable): string[] {
  const names: string[] = [];
  for (const field of table.fields) {
    if (BOOKKEEPING_FIELDS.has(field.id) || !(field.name in current)) continue;
    if (JSON.stringify(previous[field.name]) !== JSON.stringify(current[field.name])) names.push(field.name);
  }
  return names;
}

/**
 * Groups by (table, kind) in the order of each group's first change: one record makes a single event,
 * several make bulk events of at most maxBulkSize records each. TRUNCATE makes one bulk_deleted.
 */
function group(
  tx: CommittedTransaction,
  settings: BuildSettings,
  changes: NetChange[],
  items: Map<NetChange, EventItem>,
  classified: ClassifiedTransaction,
): RelayEvent[] {
  const groups = new Map<string, { firstIndex: number; table: UndbTable; kind: ChangeKind; items: EventItem[]; truncated?: boolean }>();
  for (const change of changes) {
    const item = items.get(change);
    if (!item) continue;
    const key = `${change.table.id}/${change.kind}`;
    const entry = groups.get(key) ?? { firstIndex: change.firstIndex, table: change.table, kind: change.kind, items: [] };
    entry.items.push(item);
    groups.set(key, entry);
  }
  for (const { index, table } of classified.truncated) {
    groups.set(`${table.id}/truncate/${index}`, { firstIndex: index, table, kind: 'deleted', items: [], truncated: true });
  }
  const ordered = [...groups.values()].sort((a, b) => a.firstIndex - b.firstIndex);
  const events: RelayEvent[] = [];
  const timestamp = tx.commitTime.toISOString();
  for (const entry of ordered) {
    const chunks = entry.truncated ? [[]] : chunk(entry.items, settings.maxBulkSize);
    for (const items of chunks) {
      const bulk = entry.truncated || entry.items.length > 1;
      const ordinal = events.length;
      events.push({
        id: eventId(settings.slot, tx.commitEndLsn, ordinal),
        name: bulk ? BULK_NAMES[entry.kind] : SINGLE_NAMES[entry.kind],
        tableId: entry.table.id,
        tableName: entry.table.name,
        spaceId: entry.table.spaceId,
        operatorId: items[0] ? operatorOf(items[0]) : null,
        timestamp,
        commitEndLsn: tx.commitEndLsn,
        ordinal,
        items,
        ...(entry.truncated ? { truncated: true } : {}),
      });
    }
  }
  return events;
}

/**
 * Who made the change: Undb's outbox row of the same transaction when there is one (null for API-token
 * writes, whose rows keep the previous user in updatedBy); else the row's createdBy/updatedBy.
 */
export function operatorOf(item: EventItem): string | null {
  if (item.outbox) return item.outbox.userId;
  const row = item.kind === 'deleted' ? item.oldRow : item.newRow;
  const column = item.kind === 'created' ? 'createdBy' : 'updatedBy';
  const value = row?.[column];
  return typeof value === 'string' ? value : null;
}

function chunk<T>(list: T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < list.length; start += size) chunks.push(list.slice(start, start + size));
  return chunks;
}
