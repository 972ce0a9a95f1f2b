/**
 * `undb-relay demo`, run as a newcomer runs it (non-interactively, to completion).
 */
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { RelayProcess } from '../harness/relayProcess.js';

describe('undb-relay demo', () => {
  it('plays all six events to its built-in receiver, which verifies every signature, then cleans up', { timeout: 120_000 }, async () => {
    const before = new Set(readdirSync(tmpdir()).filter((name) => name.startsWith('undb-relay-pg-')));
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
    const left = readdirSync(tmpdir()).filter((name) => name.startsWith('undb-relay-pg-') && !before.has(name));
    expect(left.filter((name) => existsSync(`${tmpdir()}/${name}`))).toEqual([]);
  });
});
