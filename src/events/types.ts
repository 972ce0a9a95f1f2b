import type { Readable } from '../undb/readableRecord.js';

export const SINGLE_NAMES = { created: 'record.created', updated: 'record.updated', deleted: 'record.deleted' } as const;
export const BULK_NAMES = {
  created: 'record.bulk_created',
  updated: 'record.bulk_updated',
  deleted: 'record.bulk_deleted',
} as const;
export const EVENT_NAMES = [...Object.values(SINGLE_NAMES), ...Object.values(BULK_NAMES)];

export type ChangeKind = keyof typeof SINGLE_NAMES;
export type EventName = (typeof EVENT_NAMES)[number];

/** The `undb_outbox` row Undb wrote for a record in the same transaction. */
export interface OutboxRow {
  id: string;
  name: string;
  userId: string | null;
  spaceId: string | null;
  timestamp: string | null;
  payload: Record<string, unknown>;
  meta: Record<string, unknown> | null;
}

/** One record's net change within a transaction, made readable. */
export interface EventItem {
  recordId: string;
  kind: ChangeKind;
  /** Values before the change (updated, deleted). */
  previousRecord: Readable | null;
  /** Values after the change (created, updated); for deleted, the values before the delete. */
  record: Readable;
  changedFields: string[];
  outbox: OutboxRow | undefined;
  /** Raw row images, keyed by field id: what the undb-v1 format needs. */
  oldRow: Record<string, unknown> | null;
  newRow: Record<string, unknown> | null;
}

export interface RelayEvent {
  id: string;
  name: EventName;
  tableId: string;
  tableName: string;
  spaceId: string | null;
  operatorId: string | null;
  /** Commit time, ISO 8601 UTC with milliseconds. */
  timestamp: string;
  commitEndLsn: bigint;
  /** Position of the event in its transaction. */
  ordinal: number;
  items: EventItem[];
  truncated?: boolean;
}
