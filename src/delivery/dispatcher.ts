/**
 * Takes due deliveries from the log and sends them, never holding back the replication slot: capture only
 * writes the log, this reads it. At most `concurrency` requests are in flight overall and `perEndpoint`
 * per origin (a per-origin queue feeds the global one, so a slow origin can hold at most its own share).
 * Memory is bounded: no more than twice `concurrency` deliveries are claimed at once; the rest of a backlog
 * waits in the table and is paged in as room frees up.
 *
 * A claimed delivery: pending → in_flight → delivered | pending (retry at next_attempt_at) | dead.
 */
import { randomUUID } from 'node:crypto';
import PQueue from 'p-queue';
import type { RelayConfig } from '../config/schema.js';
import type { Logger } from '../ops/log.js';
import type { SubscriptionRegistry } from '../subscriptions/registry.js';
import type { ResolvedSubscription } from '../subscriptions/types.js';
import { CircuitBreaker } from './circuitBreaker.js';
import { HttpSender, type HttpResult } from './http.js';
import { backoffMs, classify, type Outcome } from './retry.js';
import { requestHeaders } from './signing.js';
import type { ClaimedDelivery, DeliveryStore } from './store.js';

export interface DispatcherHooks {
  /** A subscription answered 410 Gone: stop matching it. */
  disableSubscription(subscription: ResolvedSubscription, reason: string): Promise<void>;
}

export interface DeliveryStats {
  inFlight: number;
  delivered: number;
  failedAttempts: number;
  dead: number;
}

const POLL_MS = 200;

export class Dispatcher {
  private readonly global: PQueue;
  private readonly origins = new Map<string, PQueue>();
  private readonly breakers = new Map<string, CircuitBreaker>();
  private readonly http: HttpSender;
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  /** Set by a wake() that came while no one was waiting, so the next wait returns at once. */
  private woken = false;
  private claimed = 0;
  private readonly claimedBySubscription = new Map<string, number>();
  readonly stats: DeliveryStats = { inFlight: 0, delivered: 0, failedAttempts: 0, dead: 0 };

  constructor(
    private readonly store: DeliveryStore,
    private readonly registry: SubscriptionRegistry,
    private readonly config: RelayConfig['delivery'],
    private readonly log: Logger,
    private readonly hooks: DispatcherHooks,
  ) {
    this.global = new PQueue({ concurrency: config.concurrency });
    this.http = new HttpSender(config);
  }

  async start(): Promise<void> {
    const released = await this.store.releaseInFlight();
    if (released) this.log.info({ deliveries: released }, 'deliveries in flight when the relay stopped are queued again');
    this.running = true;
    this.loop = this.run();
  }

  /** New deliveries were committed: look now rather than at the next poll. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  circuitStates(nowMs = Date.now()): Record<string, string> {
    return Object.fromEntries([...this.breakers].map(([origin, breaker]) => [origin, breaker.state(nowMs)]));
  }

  /** Stops claiming; lets requests in flight finish (their outcome is recorded), then closes connections. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
    await this.global.onIdle();
    await Promise.all([...this.origins.values()].map((queue) => queue.onIdle()));
    await this.http.close();
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        const room = this.config.concurrency * 2 - this.claimed;
        // Enough claimed per subscription to keep perEndpoint requests busy between two claims.
        const perSubscription = this.config.perEndpoint * 4;
        const saturated = [...this.claimedBySubscription].filter(([, count]) => count >= perSubscription).map(([id]) => id);
        if (room > 0) {
          const batch = await this.store.claim(room, this.config.ordering, perSubscription, saturated);
          for (const delivery of batch) this.schedule(delivery);
          if (batch.length === room) continue;
        }
      } catch (error) {
        this.log.warn({ err: error }, 'cannot read due deliveries; trying again');
      }
      if (this.woken) {
        this.woken = false;
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, POLL_MS);
        this.wakeUp = () => {
          clearTimeout(timer);
          this.wakeUp = undefined;
          resolve();
        };
      });
      this.woken = false;
    }
  }

  private schedule(delivery: ClaimedDelivery): void {
    this.claimed += 1;
    const counts = this.claimedBySubscription;
    counts.set(delivery.subscriptionId, (counts.get(delivery.subscriptionId) ?? 0) + 1);
    const subscription = this.registry.find(delivery.subscriptionId);
    const origin = subscription ? new URL(subscription.url).origin : 'unknown';
    let queue = this.origins.get(origin);
    if (!queue) {
      queue = new PQueue({ concurrency: this.config.perEndpoint });
      this.origins.set(origin, queue);
    }
    // The origin and global slots cover the request only; its outcome is recorded after they are free.
    void queue
      .add(() => this.global.add(() => this.attempt(delivery, subscription, origin)))
      .then((record) => record?.())
      .catch((error) => this.log.error({ err: error, delivery: delivery.id }, 'delivery bookkeeping failed; it is retried after a restart'))
      .finally(() => {
        this.claimed -= 1;
        const left = (counts.get(delivery.subscriptionId) ?? 1) - 1;
        if (left > 0) counts.set(delivery.subscriptionId, left);
        else counts.delete(delivery.subscriptionId);
        if (this.running) this.wake();
      });
  }

  /** Sends one attempt; returns how to record its outcome (nothing when there was no request). */
  private async attempt(
    delivery: ClaimedDelivery,
    subscription: ResolvedSubscription | undefined,
    origin: string,
  ): Promise<(() => Promise<void>) | undefined> {
    const now = Date.now();
    if (!subscription) {
      this.stats.dead += 1;
      await this.store.dead(delivery.id, delivery.attempts, null, `subscription "${delivery.subscriptionId}" no longer exists (or is invalid: see status)`);
      return;
    }
    if (!subscription.enabled) {
      await this.store.postpone(delivery.id, new Date(now + 10_000), 'subscription is disabled: waiting until it is enabled again');
      return;
    }
    const breaker = this.breakerFor(origin);
    if (!breaker.tryAcquire(now)) {
      await this.store.postpone(delivery.id, new Date(breaker.retryAt(now)), `circuit open for ${origin}: too many failures in a row`);
      return;
    }
    const attempt = delivery.attempts + 1;
    const headers = requestHeaders({
      eventId: delivery.eventId,
      eventName: delivery.eventName,
      envelopeTimestamp: envelopeTimestamp(delivery.body),
      body: delivery.body,
      secrets: subscription.secrets,
      unsigned: subscription.unsigned,
      customHeaders: subscription.headers,
      attemptId: randomUUID(),
      attempt,
      nowMs: now,
    });
    this.stats.inFlight += 1;
    const result = await this.http.send(subscription.url, subscription.method, headers, delivery.body, subscription.source === 'yaml');
    this.stats.inFlight -= 1;
    return () => this.record(delivery, subscription, breaker, attempt, result);
  }

  private breakerFor(origin: string): CircuitBreaker {
    let breaker = this.breakers.get(origin);
    if (!breaker) {
      breaker = new CircuitBreaker(this.config.circuitBreaker.failureThreshold, this.config.circuitBreaker.cooldownMs);
      this.breakers.set(origin, breaker);
    }
    return breaker;
  }

  private async record(
    delivery: ClaimedDelivery,
    subscription: ResolvedSubscription,
    breaker: CircuitBreaker,
    attempt: number,
    result: HttpResult,
  ): Promise<void> {
    const outcome: Outcome = result.error?.startsWith('refused:') ? { kind: 'dead' } : classify(result.status, result.retryAfter, Date.now());
    const error = result.error ?? (outcome.kind === 'delivered' ? null : `HTTP ${result.status}`);
    if (outcome.kind === 'delivered') {
      breaker.success();
      this.stats.delivered += 1;
      await this.store.delivered(delivery.id, attempt, result.status!);
      return;
    }
    this.stats.failedAttempts += 1;
    if (outcome.kind === 'retry' || result.status === undefined) breaker.failure(Date.now());
    else breaker.success(); // the origin answered: a 4xx is about this request, not the origin's health
    if (outcome.kind === 'retry' && attempt < this.config.retry.maxAttempts) {
      const backoff = Date.now() + backoffMs(attempt, this.config.retry.initialDelayMs, this.config.retry.maxDelayMs);
      const next = Math.max(backoff, outcome.notBeforeMs ?? 0);
      await this.store.retry(delivery.id, attempt, new Date(next), result.status ?? null, error);
      return;
    }
    this.stats.dead += 1;
    const reason = outcome.kind === 'retry' ? `${error}; gave up after ${attempt} attempts (delivery.retry.maxAttempts)` : error!;
    await this.store.dead(delivery.id, attempt, result.status ?? null, reason);
    this.log.warn({ delivery: delivery.id, subscription: subscription.id, status: result.status, error: reason }, 'delivery is dead: `undb-relay redeliver` sends it again');
    if (outcome.kind === 'dead' && outcome.disableSubscription) {
      await this.hooks.disableSubscription(subscription, `${subscription.url} answered 410 Gone`);
    }
  }
}

/** The envelope's own timestamp: part of what x-undb-signature signs. */
function envelopeTimestamp(body: string): string {
  const match = /"timestamp":"([^"]+)"/.exec(body);
  return match?.[1] ?? '';
}
