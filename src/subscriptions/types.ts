export type SubscriptionSource = 'yaml' | 'table' | 'undbWebhook';

export interface FieldCondition {
  /** Field id or name. */
  field: string;
  op: string;
  value?: unknown;
  option?: { scope?: 'start' | 'end' } & Record<string, unknown>;
  disabled?: boolean;
}

export interface ConditionGroup {
  conjunction: 'and' | 'or';
  children: Array<FieldCondition | ConditionGroup>;
  disabled?: boolean;
}

export interface Subscription {
  id: string;
  source: SubscriptionSource;
  /** Undb table id or name, as written. */
  table: string;
  /** Event names, or `record.*`. */
  events: string[];
  url: string;
  method: 'POST' | 'PATCH';
  headers: Record<string, string>;
  /** The first signs x-undb-signature; all sign webhook-signature (rotation). */
  secrets: string[];
  unsigned: boolean;
  enabled: boolean;
  format: 'undb' | 'undb-v1';
  condition: ConditionGroup | null;
}

/** A subscription checked against Undb's current schema: table, fields and options resolved to ids. */
export interface ResolvedSubscription extends Subscription {
  tableId: string;
  resolvedCondition: ConditionGroup | null;
}

export interface SubscriptionProblem {
  id: string;
  source: SubscriptionSource;
  problem: string;
}

export const isGroup = (node: FieldCondition | ConditionGroup): node is ConditionGroup =>
  typeof (node as ConditionGroup).conjunction === 'string';
