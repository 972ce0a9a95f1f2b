/**
 * The documented example configuration and the README's reference table, both generated from the schema
 * (DEFAULTS + DOCS), so they cannot drift from what the relay accepts. `npm run gen:docs` rewrites them;
 * a test fails when they are stale.
 */
import { DEFAULTS, DOCS, EXAMPLE_VALUES } from './schema.js';

const SAMPLE_SUBSCRIPTION = `  - id: crm-deals
    table: Deal Tracker           # Undb table id or name
    events: [record.created, record.bulk_created]   # or [record.*]
    url: https://crm.example.com/hooks/undb
    method: POST                  # POST | PATCH
    headers: { x-team: sales }
    secrets: [\${CRM_SECRET:-change-me}]   # first signs x-undb-signature; all sign webhook-signature
    format: undb                  # undb | undb-v1
    condition:                    # Undb's condition format; fields and options by id or name
      conjunction: and
      children:
        - { field: Stage, op: eq, value: Won }`;

function scalar(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(scalar).join(', ')}]`;
  return typeof value === 'string' ? (value === '' ? "''" : value) : String(value);
}

export function renderExample(): string {
  const lines = [
    '# undb-relay configuration: every key, with its default. Generated from src/config/schema.ts (npm run gen:docs).',
    '# Copy to config/relay.yaml, or pass --config FILE, or set UNDB_RELAY_CONFIG.',
    '# ${VAR} and ${VAR:-default} are read from the environment. DATABASE_URL alone is enough to run.',
    '',
  ];
  const walk = (node: Record<string, unknown>, path: string[], indent: string) => {
    for (const [key, value] of Object.entries(node)) {
      const full = [...path, key].join('.');
      const doc = DOCS[full];
      if (full === 'subscriptions') {
        lines.push(`# ${doc}`, 'subscriptions:', SAMPLE_SUBSCRIPTION);
        continue;
      }
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        if (doc) lines.push(`${indent}# ${doc}`);
        lines.push(`${indent}${key}:`);
        walk(value as Record<string, unknown>, [...path, key], `${indent}  `);
      } else {
        if (doc) lines.push(`${indent}# ${doc}`);
        lines.push(`${indent}${key}: ${EXAMPLE_VALUES[full] ?? scalar(value)}`);
      }
    }
  };
  walk(DEFAULTS as unknown as Record<string, unknown>, [], '');
  return `${lines.join('\n')}\n`;
}

export function renderReference(): string {
  const rows = ['| key | default | meaning |', '|---|---|---|'];
  const walk = (node: Record<string, unknown>, path: string[]) => {
    for (const [key, value] of Object.entries(node)) {
      const full = [...path, key].join('.');
      if (value && typeof value === 'object' && !Array.isArray(value)) walk(value as Record<string, unknown>, [...path, key]);
      else rows.push(`| \`${full}\` | \`${EXAMPLE_VALUES[full] ?? scalar(value)}\` | ${(DOCS[full] ?? '').replace(/\|/g, '\\|')} |`);
    }
  };
  walk(DEFAULTS as unknown as Record<string, unknown>, []);
  return rows.join('\n');
}
