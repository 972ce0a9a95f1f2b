/**
 * The one rule for whether, and with which records, an event goes to a subscription.
 */
import type { EventItem, RelayEvent } from '../events/types.js';
import type { UndbTable } from '../undb/metadata.js';
import { evaluate } from './conditions.js';
import type { ResolvedSubscription } from './types.js';

/**
 * The records of `event` to send to `subscription`, or null when nothing is sent. The condition is tested
 * on the new record (the old one for deletes); a bulk event keeps only its matching records and is not
 * sent when none match. A TRUNCATE (no records to test) goes to every subscription of its table and event.
 */
export function matches(
  subscription: ResolvedSubscription,
  event: RelayEvent,
  table: UndbTable | undefined,
  now: Date = new Date(),
): EventItem[] | null {
  if (!subscription.enabled || subscription.tableId !== event.tableId) return null;
  if (!subscription.events.includes(event.name) && !subscription.events.includes('record.*')) return null;
  const condition = subscription.resolvedCondition;
  if (!condition || event.truncated) return event.items;
  if (!table) return null;
  const kept = event.items.filter((item) => evaluate(condition, table, item.record, now));
  if (kept.length === 0) return null;
  // All kept: hand back the event's own list, whose body is built once (envelopeText).
  return kept.length === event.items.length ? event.items : kept;
}
