import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { DEFAULTS } from '../../src/config/schema.js';

const problemsOf = (yaml: string, env: NodeJS.ProcessEnv = {}) => {
  try {
    parseConfig(yaml, 'relay.yaml', env);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems;
  }
};

describe('configuration', () => {
  it('needs only DATABASE_URL; everything else has its documented default', () => {
    const config = parseConfig('database:\n  url: ${DATABASE_URL}\n', 'relay.yaml', { DATABASE_URL: 'postgres://h/db' });
    expect(config.database).toEqual({ ...DEFAULTS.database, url: 'postgres://h/db' });
    expect(config.state.url).toBe('postgres://h/db');
    expect(config.events.maxBulkSize).toBe(1000);
    expect(config.delivery.retry).toEqual({ maxAttempts: 12, initialDelayMs: 1000, maxDelayMs: 3_600_000 });
  });

  it('reads ${VAR:-default} and drops list entries that expand to nothing', () => {
    const config = parseConfig('database:\n  url: postgres://h/db\n  slot: ${SLOT:-relay_a}\nsigning:\n  secrets: [${S1:-}]\n', 'f', {});
    expect(config.database.slot).toBe('relay_a');
    expect(config.signing.secrets).toEqual([]);
  });

  it('reports every problem at once, each with its path and line', () => {
    const problems = problemsOf(
      ['database:', '  url: postgres://h/db', '  slott: x', 'events:', '  maxBulkSize: 0', '  schemaMigrations: maybe', 'http:', '  port: ${NOPE}'].join('\n'),
    );
    expect(problems).toEqual([
      'line 8: environment variable NOPE is not set (write ${NOPE:-default} for a default)',
      'database.slott: unknown key (did you mean slot?) (line 3)',
      'events.maxBulkSize: expected a whole number ≥ 1, got 0 (line 5)',
      'events.schemaMigrations: expected one of skip, emit, got "maybe" (line 6)',
    ]);
  });

  it('says how to fix a missing database URL', () => {
    expect(problemsOf('http:\n  port: 0\n')).toEqual([
      'database.url is empty: set DATABASE_URL or database.url to the Undb database (postgres://…)',
    ]);
  });
});
