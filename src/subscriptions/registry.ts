/**
 * The subscriptions in force, from every source, checked against Undb's current schema. A subscription
 * with a problem (bad shape, unknown table, field or option) is left out and reported with its id and the
 * fix; every other subscription keeps being served. A schema change in Undb re-checks them all, so one
 * whose field was deleted is reported the same way.
 */
import type { Logger } from '../ops/log.js';
import type { UndbMetadata } from '../undb/metadata.js';
import { resolveCondition } from './conditions.js';
import { parseSubscription, type ParseDefaults } from './parse.js';
import type { ResolvedSubscription, Subscription, SubscriptionProblem, SubscriptionSource } from './types.js';

export interface RawEntry {
  raw: unknown;
  /** Where it came from, for messages: `subscriptions[2]`, a row id… */
  where: string;
}

export class SubscriptionRegistry {
  private readonly parsed = new Map<SubscriptionSource, Subscription[]>();
  private readonly parseProblems = new Map<SubscriptionSource, SubscriptionProblem[]>();
  /** Table ids resolved once per subscription, so a rename in Undb keeps the subscription. */
  private readonly tableIds = new Map<string, string>();
  private resolved: ResolvedSubscription[] = [];
  private problemList: SubscriptionProblem[] = [];
  private reported = new Set<string>();
  /** Turned off at run time (410 Gone) where the source cannot record it. */
  private readonly disabledIds = new Set<string>();

  constructor(
    private readonly metadata: UndbMetadata,
    private readonly defaults: ParseDefaults,
    private readonly log: Logger,
  ) {}

  get active(): readonly ResolvedSubscription[] {
    return this.resolved;
  }

  get problems(): readonly SubscriptionProblem[] {
    return this.problemList;
  }

  find(id: string): ResolvedSubscription | undefined {
    return this.resolved.find((subscription) => subscription.id === id);
  }

  /** Stops matching a subscription now; a table row also records it (enabled = false), see relay.ts. */
  disable(id: string): void {
    const subscription = this.find(id);
    if (!subscription) return;
    subscription.enabled = false;
    if (subscription.source !== 'table') this.disabledIds.add(id);
  }

  /** Replaces everything one source provides. */
  setSource(source: SubscriptionSource, entries: RawEntry[]): void {
    const subscriptions: Subscription[] = [];
    const problems: SubscriptionProblem[] = [];
    for (const { raw, where } of entries) {
      const result = parseSubscription(raw, source, this.defaults, where);
      if (result.ok) subscriptions.push(result.subscription);
      else for (const problem of result.problems) problems.push({ id: result.id, source, problem });
    }
    this.parsed.set(source, subscriptions);
    this.parseProblems.set(source, problems);
    this.revalidate();
  }

  /** Re-checks every subscription against the current schema (call after Undb metadata changed). */
  revalidate(): void {
    const resolved: ResolvedSubscription[] = [];
    const problems: SubscriptionProblem[] = [...this.parseProblems.values()].flat();
    const seen = new Set<string>();
    for (const subscription of [...this.parsed.values()].flat()) {
      const report = (problem: string) => problems.push({ id: subscription.id, source: subscription.source, problem });
      if (seen.has(subscription.id)) {
        report(`subscription "${subscription.id}": the id is used twice; give each subscription its own id`);
        continue;
      }
      seen.add(subscription.id);
      const table = this.tableFor(subscription);
      if (!table) {
        report(`subscription "${subscription.id}": Undb has no table \`${subscription.table}\` (give its id, tbl…, or its exact name)`);
        continue;
      }
      const conditionProblems: string[] = [];
      const resolvedCondition = subscription.condition ? resolveCondition(subscription.condition, table, conditionProblems) : null;
      if (conditionProblems.length) {
        for (const problem of conditionProblems) report(`subscription "${subscription.id}": ${problem}`);
        continue;
      }
      this.tableIds.set(subscription.id, table.id);
      const enabled = subscription.enabled && !this.disabledIds.has(subscription.id);
      resolved.push({ ...subscription, enabled, tableId: table.id, resolvedCondition });
    }
    this.resolved = resolved;
    this.problemList = problems;
    this.reportNew(problems);
  }

  private tableFor(subscription: Subscription) {
    const known = this.tableIds.get(subscription.id);
    const byKnownId = known ? this.metadata.table(known) : undefined;
    // The table as first resolved, unless the operator since pointed the subscription elsewhere.
    if (byKnownId && (byKnownId.id === subscription.table || !this.metadata.tableByName(subscription.table))) return byKnownId;
    return this.metadata.table(subscription.table) ?? this.metadata.tableByName(subscription.table);
  }

  private reportNew(problems: SubscriptionProblem[]): void {
    const now = new Set<string>();
    for (const { id, source, problem } of problems) {
      const key = `${source}\u0000${problem}`;
      now.add(key);
      if (!this.reported.has(key)) this.log.error({ subscription: id, source }, `${problem}; it is not served until fixed, the others are`);
    }
    this.reported = now;
  }
}
