/**
 * The documented body (format `undb`, events.md §2). `items` defaults to all of the event's records; a
 * subscription whose condition keeps only some of a bulk event's records passes those.
 */
import type { EventItem, RelayEvent } from './types.js';

export interface Envelope {
  id: string;
  operatorId: string | null;
  name: string;
  timestamp: string;
  event: Record<string, unknown>;
}

const fullBodies = new WeakMap<RelayEvent, string>();

/**
 * The envelope as request-body text. The body with all of an event's records is built once and shared:
 * the event log and every subscription without a condition send the same bytes.
 */
export function envelopeText(event: RelayEvent, items: EventItem[] = event.items): string {
  if (items !== event.items) return JSON.stringify(envelope(event, items));
  let text = fullBodies.get(event);
  if (text === undefined) {
    text = JSON.stringify(envelope(event));
    fullBodies.set(event, text);
  }
  return text;
}

export function envelope(event: RelayEvent, items: EventItem[] = event.items): Envelope {
  return {
    id: event.id,
    operatorId: event.operatorId,
    name: event.name,
    timestamp: event.timestamp,
    event: eventPayload(event, items),
  };
}

export function eventPayload(event: RelayEvent, items: EventItem[] = event.items): Record<string, unknown> {
  const head = { tableId: event.tableId, tableName: event.tableName };
  const first = items[0];
  switch (event.name) {
    case 'record.created':
      return { ...head, record: first?.record };
    case 'record.updated':
      return { ...head, previousRecord: first?.previousRecord, record: first?.record, changedFields: first?.changedFields ?? [] };
    case 'record.deleted':
      return { ...head, id: first?.recordId, record: first?.record };
    case 'record.bulk_created':
      return { ...head, records: items.map((item) => item.record) };
    case 'record.bulk_updated':
      return {
        ...head,
        updates: items.map((item) => ({
          previousRecord: item.previousRecord,
          record: item.record,
          changedFields: item.changedFields,
        })),
      };
    case 'record.bulk_deleted':
      return {
        ...head,
        ids: items.map((item) => item.recordId),
        records: items.map((item) => item.record),
        ...(event.truncated ? { truncated: true } : {}),
      };
  }
}
