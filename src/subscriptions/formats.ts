/**
 * The request bodies an event makes for one subscription: format `undb` (the documented envelope, one
 * body per event) or `undb-v1` (what Undb 1.x itself sends: one event per record, events.md §4).
 */
import { derivedId } from '../events/eventId.js';
import { envelopeText } from '../events/payloads.js';
import type { EventItem, RelayEvent } from '../events/types.js';
import type { UndbField, UndbMetadata, UndbTable } from '../undb/metadata.js';
import type { Readable } from '../undb/readableRecord.js';
import type { Subscription } from './types.js';

export interface Body {
  /** The id receivers see (and de-duplicate on). */
  eventId: string;
  name: string;
  recordIds: string[];
  /** The exact request body. */
  text: string;
  /** The envelope's timestamp: part of the x-undb-signature input. */
  timestamp: string;
}

export function bodiesFor(
  subscription: Pick<Subscription, 'format'>,
  event: RelayEvent,
  items: EventItem[],
  metadata: UndbMetadata,
): Body[] {
  if (subscription.format === 'undb') {
    return [
      {
        eventId: event.id,
        name: event.name,
        recordIds: items.map((item) => item.recordId),
        text: envelopeText(event, items),
        timestamp: event.timestamp,
      },
    ];
  }
  const table = metadata.table(event.tableId) ?? { id: event.tableId, name: event.tableName, spaceId: event.spaceId, baseId: null, fields: [] };
  return items.map((item) => {
    const v1 = v1Event(event, item, table, metadata);
    return {
      eventId: v1.id,
      name: v1.name,
      recordIds: [item.recordId],
      text: JSON.stringify({ id: v1.id, operatorId: v1.operatorId, timestamp: v1.timestamp, event: v1 }),
      timestamp: v1.timestamp,
    };
  });
}

interface V1Event {
  id: string;
  name: string;
  operatorId: string | null;
  spaceId: string | null;
  timestamp: string;
  payload: Record<string, unknown>;
  meta: Record<string, unknown> | null;
}

const V1_NAMES = { created: 'record.created', updated: 'record.updated', deleted: 'record.deleted' } as const;

function v1Event(event: RelayEvent, item: EventItem, table: UndbTable, metadata: UndbMetadata): V1Event {
  const name = V1_NAMES[item.kind];
  const rowValues = valuesById(table, item.record);
  if (item.outbox) {
    // Undb's own event, as it wrote it; except that its bulk update puts the first record's id and row
    // into every event: each event gets its own record back.
    const { outbox } = item;
    const payload = { ...outbox.payload };
    let meta = outbox.meta;
    if (item.kind === 'updated') {
      if (payload.record && typeof payload.record === 'object') payload.record = { ...(payload.record as object), id: item.recordId };
      meta = { ...(meta ?? {}), record: { id: item.recordId, values: rowValues } };
    }
    return {
      id: outbox.id,
      name: outbox.name,
      operatorId: outbox.userId,
      spaceId: outbox.spaceId,
      timestamp: outbox.timestamp && /^\d+$/.test(outbox.timestamp) ? new Date(Number(outbox.timestamp)).toISOString() : event.timestamp,
      payload,
      meta,
    };
  }
  // A write that bypassed Undb: the same shape, built from the row images.
  const fieldsMeta: Record<string, { id: string; type: string }> = {};
  const shown = item.kind === 'updated' ? table.fields.filter((field) => item.changedFields.includes(field.name)) : table.fields;
  for (const field of shown) fieldsMeta[field.name] = { id: field.id, type: field.type };
  const recordDto = (record: Readable, fields: UndbField[]) => ({
    id: item.recordId,
    values: Object.fromEntries(fields.filter((f) => f.name in record).map((f) => [f.name, rawValue(f, record[f.name])])),
    displayValues: displayValues(fields, record, metadata),
  });
  const payload =
    item.kind === 'created'
      ? { id: item.recordId, tableId: table.id, record: recordDto(item.record, table.fields) }
      : item.kind === 'updated'
        ? { id: item.recordId, tableId: table.id, previous: recordDto(item.previousRecord ?? {}, shown), record: recordDto(item.record, shown) }
        : { tableId: table.id, id: item.recordId };
  return {
    id: derivedId(event.id, item.recordId),
    name,
    operatorId: event.operatorId,
    spaceId: table.spaceId,
    timestamp: event.timestamp,
    payload,
    meta: { table: { name: table.name, fields: fieldsMeta }, record: { id: item.recordId, values: rowValues } },
  };
}

/** Undb's raw value: option ids, user ids, linked record ids. */
function rawValue(field: UndbField, value: unknown): unknown {
  const idOf = (item: unknown) => (item && typeof item === 'object' && 'id' in item ? (item as { id: unknown }).id : item);
  if (['select', 'user', 'createdBy', 'updatedBy', 'reference'].includes(field.type)) {
    return Array.isArray(value) ? value.map(idOf) : value === null || value === undefined ? null : idOf(value);
  }
  return value;
}

function valuesById(table: UndbTable, record: Readable): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const field of table.fields) if (field.name in record) values[field.id] = rawValue(field, record[field.name]);
  return values;
}

function displayValues(fields: UndbField[], record: Readable, metadata: UndbMetadata): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  const user = (item: unknown) => {
    const id = (item as { id?: string } | null)?.id;
    const known = id ? metadata.user(id) : undefined;
    return { username: known?.username ?? null, email: known?.email ?? null };
  };
  for (const field of fields) {
    const value = record[field.name];
    if (value === null || value === undefined) continue;
    if (field.type === 'select') shown[field.name] = Array.isArray(value) ? value.map((o) => (o as { name: unknown }).name) : (value as { name: unknown }).name;
    else if (['user', 'createdBy', 'updatedBy'].includes(field.type)) shown[field.name] = Array.isArray(value) ? value.map(user) : user(value);
    else if (field.type === 'reference') shown[field.name] = (value as Array<{ value: unknown }>).map((link) => link.value);
  }
  return shown;
}
