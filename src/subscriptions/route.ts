/**
 * A transaction's events × the subscriptions in force → the rows the outbox stores: one per (event body,
 * subscription). Ids are derived, so a replay after a crash routes to the same rows.
 */
import { derivedId } from '../events/eventId.js';
import type { RelayEvent } from '../events/types.js';
import type { UndbMetadata } from '../undb/metadata.js';
import { bodiesFor } from './formats.js';
import { matches } from './matching.js';
import type { ResolvedSubscription } from './types.js';

export interface RoutedEvent {
  id: string;
  eventId: string;
  subscriptionId: string;
  eventName: string;
  tableId: string;
  recordIds: string[];
  body: string;
}

export function route(events: RelayEvent[], subscriptions: readonly ResolvedSubscription[], metadata: UndbMetadata): RoutedEvent[] {
  const routed: RoutedEvent[] = [];
  if (subscriptions.length === 0) return routed;
  for (const event of events) {
    const table = metadata.table(event.tableId);
    for (const subscription of subscriptions) {
      const items = matches(subscription, event, table);
      if (!items) continue;
      for (const body of bodiesFor(subscription, event, items, metadata)) {
        routed.push({
          id: derivedId(body.eventId, subscription.id),
          eventId: body.eventId,
          subscriptionId: subscription.id,
          eventName: body.name,
          tableId: event.tableId,
          recordIds: body.recordIds,
          body: body.text,
        });
      }
    }
  }
  return routed;
}
