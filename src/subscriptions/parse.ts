/**
 * A subscription as written (YAML entry, state-table row, Undb webhook row) → a checked Subscription, or
 * every problem with it, each naming the subscription and the fix.
 */
import { EVENT_NAMES } from '../events/types.js';
import type { ConditionGroup, FieldCondition, Subscription, SubscriptionSource } from './types.js';

export type Parsed = { ok: true; subscription: Subscription } | { ok: false; id: string; problems: string[] };

const EVENTS = new Set<string>([...EVENT_NAMES, 'record.*']);
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export interface ParseDefaults {
  /** signing.secrets: used by subscriptions that name none. */
  secrets: string[];
}

export function parseSubscription(raw: unknown, source: SubscriptionSource, defaults: ParseDefaults, where = ''): Parsed {
  const problems: string[] = [];
  const entry = (raw && typeof raw === 'object' && !Array.isArray(raw) ? raw : {}) as Record<string, unknown>;
  const id = typeof entry.id === 'string' ? entry.id : '';
  const label = id ? `subscription "${id}"` : `subscription ${where || '(no id)'}`;
  const problem = (text: string) => problems.push(`${label}: ${text}`);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) problem('expected a mapping with id, table, events and url');
  if (!ID_PATTERN.test(id)) problem('needs an `id` (letters, digits, . _ : -), unique among subscriptions');

  const known = new Set(['id', 'table', 'events', 'url', 'method', 'headers', 'secrets', 'unsigned', 'enabled', 'format', 'condition']);
  for (const key of Object.keys(entry)) if (!known.has(key)) problem(`unknown key \`${key}\` (known: ${[...known].join(', ')})`);

  const table = typeof entry.table === 'string' ? entry.table.trim() : '';
  if (!table) problem('needs `table`: the Undb table id (tbl…) or name');

  const events = Array.isArray(entry.events) ? entry.events.map(String) : typeof entry.events === 'string' ? [entry.events] : [];
  if (events.length === 0) problem('needs `events`: a list of event names, or [record.*]');
  for (const name of events) if (!EVENTS.has(name)) problem(`unknown event \`${name}\` (use ${[...EVENTS].join(', ')})`);

  const url = typeof entry.url === 'string' ? entry.url : '';
  if (!url) problem('needs `url`: the receiver, http:// or https://');
  else if (!isHttpUrl(url)) problem(`url \`${url}\` is not an http:// or https:// URL`);

  const method = String(entry.method ?? 'POST').toUpperCase();
  if (method !== 'POST' && method !== 'PATCH') problem(`method \`${String(entry.method)}\` is not POST or PATCH`);

  const headers: Record<string, string> = {};
  if (entry.headers !== undefined && entry.headers !== null) {
    if (typeof entry.headers !== 'object' || Array.isArray(entry.headers)) problem('headers must be a mapping of name: value');
    else for (const [name, value] of Object.entries(entry.headers)) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) problem(`header name \`${name}\` is not a valid HTTP header name`);
      else headers[name.toLowerCase()] = String(value);
    }
  }

  const unsigned = entry.unsigned === true || entry.unsigned === 'true';
  const ownSecrets = Array.isArray(entry.secrets) ? entry.secrets.map(String).filter(Boolean) : [];
  const secrets = ownSecrets.length ? ownSecrets : defaults.secrets.filter(Boolean);
  if (!unsigned && secrets.length === 0) {
    problem('has no secret: set `secrets` (or signing.secrets for all), or `unsigned: true` to send without a keyed signature');
  }

  const enabled = entry.enabled === undefined ? true : entry.enabled === true || entry.enabled === 'true';
  const format = String(entry.format ?? 'undb');
  if (format !== 'undb' && format !== 'undb-v1') problem(`format \`${format}\` is not undb or undb-v1`);

  let condition: ConditionGroup | null = null;
  if (entry.condition !== undefined && entry.condition !== null) {
    const conditionProblems: string[] = [];
    condition = parseGroup(entry.condition, 'condition', conditionProblems, 1);
    for (const text of conditionProblems) problem(text);
  }

  if (problems.length) return { ok: false, id: id || where, problems };
  return {
    ok: true,
    subscription: {
      id,
      source,
      table,
      events,
      url,
      method: method as 'POST' | 'PATCH',
      headers,
      secrets: unsigned ? ownSecrets : secrets,
      unsigned,
      enabled,
      format: format as 'undb' | 'undb-v1',
      condition,
    },
  };
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && Boolean(url.hostname);
  } catch {
    return false;
  }
}

/** Undb allows three levels of nesting. */
const MAX_DEPTH = 3;

function parseGroup(raw: unknown, path: string, problems: string[], depth: number): ConditionGroup {
  const group = (raw ?? {}) as Record<string, unknown>;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push(`${path} must be { conjunction: and|or, children: [...] }`);
    return { conjunction: 'and', children: [] };
  }
  const conjunction = String(group.conjunction ?? 'and');
  if (conjunction !== 'and' && conjunction !== 'or') problems.push(`${path}.conjunction must be and or or, not \`${conjunction}\``);
  if (depth > MAX_DEPTH) problems.push(`${path} nests deeper than ${MAX_DEPTH} levels`);
  const children = Array.isArray(group.children) ? group.children : [];
  if (!Array.isArray(group.children)) problems.push(`${path}.children must be a list`);
  return {
    conjunction: conjunction as 'and' | 'or',
    disabled: group.disabled === true,
    children: children.map((child, index) => {
      const childPath = `${path}.children[${index}]`;
      const node = (child ?? {}) as Record<string, unknown>;
      if (node.conjunction !== undefined || node.children !== undefined) return parseGroup(child, childPath, problems, depth + 1);
      const field = typeof node.field === 'string' ? node.field : '';
      const op = typeof node.op === 'string' ? node.op : '';
      if (!field) problems.push(`${childPath} needs \`field\` (a field id or name)`);
      if (!op) problems.push(`${childPath} needs \`op\``);
      const condition: FieldCondition = { field, op, value: node.value, disabled: node.disabled === true };
      if (node.option && typeof node.option === 'object') condition.option = node.option as FieldCondition['option'];
      return condition;
    }),
  };
}
