/**
 * `undb-relay demo`, run as a newcomer runs it (non-interactively, to completion).
 */
import { existsSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../src/ops/cli.js';
import { RelayProcess } from '../harness/relayProcess.js';

describe('undb-relay demo', () => {
  it('plays all six events to its built-in receiver, which verifies every signature, then cleans up', { timeout: 120_000 }, async () => {
    const demo = RelayProcess.start(['demo'], { DATABASE_URL: '', UNDB_RELAY_CONFIG: '' });
    const code = await demo.exit();
    const output = demo.lines.map((line) => line.msg ?? '').join('\n');
    expect(code, `${output}\n${demo.stderr}`).toBe(0);
    for (const name of ['record.created', 'record.updated', 'record.bulk_created', 'record.bulk_updated', 'record.deleted', 'record.bulk_deleted']) {
      expect(output).toMatch(new RegExp(`⇐ ${name.replace('.', '\\.')}\\s+Deal Tracker: `));
    }
    expect(output.match(/x-undb-signature ok, webhook-signature ok/g)).toHaveLength(6);
    expect(output).toContain('✓ 6 events received, 6 kinds');
    expect(output).toContain('every signature verified');
    const dataDir = /started an embedded Postgres \(wal_level=logical\) in (\S+)/.exec(output)?.[1];
    expect(dataDir).toBeDefined();
    expect(existsSync(dataDir!)).toBe(false);
  });

  it('says what is wrong, without a stack trace, when the embedded Postgres cannot start', async () => {
    const tmp = process.env.TMPDIR;
    process.env.TMPDIR = '/proc/no-such-folder';
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      expect(await main(['demo'])).toBe(1);
    } finally {
      if (tmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = tmp;
      log.mockRestore();
    }
    const printed = errors.mock.calls.map((call) => String(call[0])).join('\n');
    errors.mockRestore();
    expect(printed).toMatch(/^undb-relay demo: the embedded Postgres could not start\. Cannot create a data folder under \/proc\/no-such-folder .*Set TMPDIR to a folder you can write to\.$/);
  });
});
