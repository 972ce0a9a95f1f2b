/**
 * The durable side of capture: a transaction's events, its deliveries (one row per event and matching
 * subscription, with the exact body) and the new replication position are written in one
 * state-database transaction; only when it commits does the returned promise resolve, and only then is the
 * transaction's commit LSN acknowledged to the slot. Writes that arrive while one is committing are
 * committed together in the next one (group commit), so small transactions do not each pay a round trip.
 */
import type pg from 'pg';
import { formatLsn, type Lsn } from '../source/lsn.js';
import { quoteIdent } from '../source/setup.js';
import { envelopeText } from '../events/payloads.js';
import type { RelayEvent } from '../events/types.js';
import type { RoutedEvent } from '../subscriptions/route.js';

export interface CapturedBatch {
  events: RelayEvent[];
  /** One outbox row per event body and subscription. */
  deliveries: RoutedEvent[];
}

interface PendingWrite extends CapturedBatch {
  commitEndLsn: Lsn;
  resolve: () => void;
  reject: (error: Error) => void;
}

// One INSERT carries at most this many rows or bytes of bodies: a 200,000-row transaction's 100 MB of
// bulk bodies would otherwise be built and sent as a single statement.
const MAX_ROWS_PER_STATEMENT = 500;
const MAX_BYTES_PER_STATEMENT = 8 * 1024 * 1024;

export class Outbox {
  private queue: PendingWrite[] = [];
  private flushing: Promise<void> | undefined;
  private readonly table: string;
  private readonly deliveriesTable: string;
  private readonly positionTable: string;

  constructor(
    private readonly pool: pg.Pool,
    schema: string,
    private readonly slot: string,
    /** Called after each commit that added deliveries: the dispatcher need not wait for its next poll. */
    private readonly onDeliveries: () => void = () => undefined,
  ) {
    this.table = `${quoteIdent(schema)}.events`;
    this.deliveriesTable = `${quoteIdent(schema)}.deliveries`;
    this.positionTable = `${quoteIdent(schema)}.replication_position`;
  }

  write(batch: CapturedBatch, commitEndLsn: Lsn): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ...batch, commitEndLsn, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async flush(): Promise<void> {
    while (this.queue.length) {
      const batch = this.queue;
      this.queue = [];
      try {
        await this.commit(batch);
        for (const write of batch) write.resolve();
        if (batch.some((write) => write.deliveries.length)) this.onDeliveries();
      } catch (error) {
        for (const write of batch) write.reject(error as Error);
      }
    }
    this.flushing = undefined;
  }

  private async commit(batch: PendingWrite[]): Promise<void> {
    const events = batch.flatMap((write) => write.events);
    const position = batch[batch.length - 1]!.commitEndLsn;
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const rows = events.map((event) => ({ event, body: envelopeText(event) }));
      for (const slice of statements(rows)) await this.insertEvents(client, slice);
      for (const slice of statements(batch.flatMap((write) => write.deliveries))) await this.insertDeliveries(client, slice);
      await client.query(
        `insert into ${this.positionTable} (slot, durable_lsn, updated_at) values ($1, $2::pg_lsn, now())
         on conflict (slot) do update set durable_lsn = greatest(excluded.durable_lsn, ${this.positionTable}.durable_lsn),
                                          updated_at = now()`,
        [this.slot, formatLsn(position)],
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  private async insertDeliveries(client: pg.PoolClient, slice: RoutedEvent[]): Promise<void> {
    // WITH ORDINALITY: seq follows the order built here, which is commit order.
    await client.query(
      `insert into ${this.deliveriesTable} (id, event_id, subscription_id, event_name, table_id, record_ids, body)
       select d.id, d.event_id, d.subscription_id, d.event_name, d.table_id,
              array(select json_array_elements_text(d.record_ids::json)), d.body
         from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
              with ordinality as d(id, event_id, subscription_id, event_name, table_id, record_ids, body, n)
        order by d.n
       on conflict (event_id, subscription_id) do nothing`,
      [
        slice.map((d) => d.id),
        slice.map((d) => d.eventId),
        slice.map((d) => d.subscriptionId),
        slice.map((d) => d.eventName),
        slice.map((d) => d.tableId),
        slice.map((d) => JSON.stringify(d.recordIds)),
        slice.map((d) => d.body),
      ],
    );
  }

  private async insertEvents(client: pg.PoolClient, rows: Array<{ event: RelayEvent; body: string }>): Promise<void> {
    const events = rows.map((row) => row.event);
    await client.query(
      `insert into ${this.table} (id, commit_lsn, ordinal, name, table_id, record_count, operator_id, committed_at, body)
       select * from unnest($1::uuid[], $2::pg_lsn[], $3::int[], $4::text[], $5::text[], $6::int[], $7::text[],
                            $8::timestamptz[], $9::json[])
       on conflict (id) do nothing`,
      [
        events.map((event) => event.id),
        events.map((event) => formatLsn(event.commitEndLsn)),
        events.map((event) => event.ordinal),
        events.map((event) => event.name),
        events.map((event) => event.tableId),
        events.map((event) => event.items.length),
        events.map((event) => event.operatorId),
        events.map((event) => event.timestamp),
        rows.map((row) => row.body),
      ],
    );
  }
}

/** Splits rows into INSERT statements of at most MAX_ROWS_PER_STATEMENT rows or MAX_BYTES_PER_STATEMENT of bodies. */
function* statements<T extends { body: string }>(rows: T[]): Generator<T[]> {
  let start = 0;
  while (start < rows.length) {
    let end = start;
    let bytes = 0;
    while (end < rows.length && end - start < MAX_ROWS_PER_STATEMENT && bytes < MAX_BYTES_PER_STATEMENT) bytes += rows[end++]!.body.length;
    yield rows.slice(start, end);
    start = end;
  }
}
