/**
 * The delivery log's SQL. A delivery moves pending → in_flight (claimed by this relay) → delivered or
 * dead; a failed attempt goes back to pending with its next_attempt_at. With ordering `record`, a delivery
 * is only claimed when no earlier delivery of the same subscription that shares a record is still open,
 * so a failing event holds back only its own records' later events.
 */
import type pg from 'pg';
import { quoteIdent } from '../source/setup.js';

export interface ClaimedDelivery {
  id: string;
  eventId: string;
  subscriptionId: string;
  eventName: string;
  body: string;
  attempts: number;
}

export interface DeliveryRow {
  id: string;
  event_id: string;
  subscription_id: string;
  event_name: string;
  table_id: string;
  record_ids: string[];
  status: string;
  attempts: number;
  next_attempt_at: Date;
  last_status: number | null;
  last_error: string | null;
  created_at: Date;
  delivered_at: Date | null;
}

interface Completion {
  id: string;
  attempts: number;
  status: number;
  done: () => void;
  failed: (error: Error) => void;
}

export class DeliveryStore {
  private readonly table: string;
  /** Successful attempts waiting to be recorded: one UPDATE for all of them, not one per request. */
  private completions: Completion[] = [];
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    schema: string,
  ) {
    this.table = `${quoteIdent(schema)}.deliveries`;
  }

  /** After a crash, what this relay had in flight is pending again (sent at least once, maybe twice). */
  async releaseInFlight(): Promise<number> {
    const result = await this.pool.query(`update ${this.table} set status = 'pending', updated_at = now() where status = 'in_flight'`);
    return result.rowCount ?? 0;
  }

  /**
   * Claims up to `limit` due deliveries in log order. Only a bounded window of due rows is examined (the
   * per-record check then costs one index lookup each), at most `perSubscription` rows per subscription
   * are taken, and `saturated` subscriptions are skipped, so one slow receiver's backlog cannot take
   * every slot from the others.
   */
  async claim(limit: number, ordering: 'record' | 'none', perSubscription: number, saturated: string[]): Promise<ClaimedDelivery[]> {
    const { rows } = await this.pool.query<ClaimedDelivery & { seq: string }>(
      `with candidates as materialized (
         select d.id, d.subscription_id, d.seq, d.record_ids from ${this.table} d
          where d.status = 'pending' and d.next_attempt_at <= now() and not (d.subscription_id = any($3::text[]))
          order by d.seq
          limit $4
          for update skip locked),
       -- LATERAL … LIMIT 1 keeps this one index probe per candidate: as NOT EXISTS, a freshly filled table's
       -- stale statistics led the planner to a hash anti-join comparing every open row with every candidate.
       eligible as (
         select c.id, c.seq, row_number() over (partition by c.subscription_id order by c.seq) as n
           from candidates c
           left join lateral (
                  select 1 as blocked from ${this.table} e
                   where $2 = 'record' and e.record_ids && c.record_ids and e.status in ('pending', 'in_flight')
                     and e.subscription_id = c.subscription_id and e.seq < c.seq
                   limit 1) earlier on true
          where earlier.blocked is null),
       due as (select id from eligible where n <= $5 order by seq limit $1)
       update ${this.table} d set status = 'in_flight', updated_at = now()
         from due where d.id = due.id
       returning d.id::text as "id", d.event_id::text as "eventId", d.subscription_id as "subscriptionId",
                 d.event_name as "eventName", d.body, d.attempts, d.seq::text as seq`,
      [limit, ordering, saturated, Math.max(limit * 4, 512), perSubscription],
    );
    return rows.sort((a, b) => Number(a.seq) - Number(b.seq));
  }

  /** Records a success; resolves once it is committed (several successes share one statement). */
  delivered(id: string, attempts: number, status: number): Promise<void> {
    return new Promise((done, failed) => {
      this.completions.push({ id, attempts, status, done, failed });
      this.flushing ??= this.flushCompletions();
    });
  }

  private async flushCompletions(): Promise<void> {
    while (this.completions.length) {
      const batch = this.completions;
      this.completions = [];
      try {
        await this.pool.query(
          `update ${this.table} d set status = 'delivered', attempts = v.attempts, last_status = v.status, last_error = null,
                  delivered_at = now(), updated_at = now()
             from unnest($1::uuid[], $2::int[], $3::int[]) as v(id, attempts, status) where d.id = v.id`,
          [batch.map((c) => c.id), batch.map((c) => c.attempts), batch.map((c) => c.status)],
        );
        for (const completion of batch) completion.done();
      } catch (error) {
        for (const completion of batch) completion.failed(error as Error);
      }
    }
    this.flushing = undefined;
  }

  async retry(id: string, attempts: number, nextAttemptAt: Date, status: number | null, error: string | null): Promise<void> {
    await this.pool.query(
      `update ${this.table} set status = 'pending', attempts = $2, next_attempt_at = $3, last_status = $4,
              last_error = $5, updated_at = now() where id = $1`,
      [id, attempts, nextAttemptAt, status, error],
    );
  }

  /** Back to pending without counting an attempt (open circuit, paused subscription). */
  async postpone(id: string, nextAttemptAt: Date, reason: string): Promise<void> {
    await this.pool.query(
      `update ${this.table} set status = 'pending', next_attempt_at = $2, last_error = $3, updated_at = now() where id = $1`,
      [id, nextAttemptAt, reason],
    );
  }

  async dead(id: string, attempts: number, status: number | null, error: string): Promise<void> {
    await this.pool.query(
      `update ${this.table} set status = 'dead', attempts = $2, last_status = $3, last_error = $4, updated_at = now() where id = $1`,
      [id, attempts, status, error],
    );
  }

  async list(filter: { failed?: boolean; subscription?: string; limit?: number }): Promise<DeliveryRow[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    if (filter.failed) where.push(`(status = 'dead' or (status = 'pending' and attempts > 0))`);
    if (filter.subscription) where.push(`subscription_id = $${values.push(filter.subscription)}`);
    const { rows } = await this.pool.query<DeliveryRow>(
      `select id::text, event_id::text, subscription_id, event_name, table_id, record_ids, status, attempts,
              next_attempt_at, last_status, last_error, created_at, delivered_at
         from ${this.table} ${where.length ? `where ${where.join(' and ')}` : ''}
        order by seq desc limit $${values.push(filter.limit ?? 50)}`,
      values,
    );
    return rows;
  }

  /** Puts deliveries back on the queue with a fresh attempt budget; the body (and event id) is unchanged. */
  async redeliver(selector: { ids?: string[]; subscription?: string; since?: Date; dead?: boolean }): Promise<number> {
    const where: string[] = [`status <> 'in_flight'`];
    const values: unknown[] = [];
    if (selector.ids?.length) where.push(`(id::text = any($${values.push(selector.ids)}) or event_id::text = any($${values.length}))`);
    if (selector.subscription) where.push(`subscription_id = $${values.push(selector.subscription)}`);
    if (selector.since) where.push(`created_at >= $${values.push(selector.since)}`);
    if (selector.dead) where.push(`status = 'dead'`);
    if (values.length === 0 && !selector.dead) throw new Error('redeliver needs ids, --subscription, --since or --dead');
    const result = await this.pool.query(
      `update ${this.table} set status = 'pending', attempts = 0, next_attempt_at = now(), delivered_at = null,
              updated_at = now() where ${where.join(' and ')}`,
      values,
    );
    return result.rowCount ?? 0;
  }

  /**
   * Deletes delivered deliveries and events older than `hours`; dead and pending ones stay. Returns how
   * many rows of each went.
   */
  async prune(hours: number, eventsTable: string): Promise<{ deliveries: number; events: number }> {
    const deliveries = await this.pool.query(
      `delete from ${this.table} where status = 'delivered' and delivered_at < now() - make_interval(hours => $1)`,
      [hours],
    );
    const events = await this.pool.query(
      `delete from ${eventsTable} e where e.created_at < now() - make_interval(hours => $1)
          and not exists (select 1 from ${this.table} d where d.event_id = e.id)`,
      [hours],
    );
    return { deliveries: deliveries.rowCount ?? 0, events: events.rowCount ?? 0 };
  }

  async counts(): Promise<Array<{ subscription_id: string; status: string; count: number }>> {
    const { rows } = await this.pool.query(
      `select subscription_id, status, count(*)::int as count from ${this.table}
        where status <> 'delivered' group by 1, 2 order by 1, 2`,
    );
    return rows;
  }
}
