/**
 * Per-test helpers: a fresh database on one of the harness's servers, and a relay running in this process
 * whose built events the test can wait for.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { parseConfig } from '../../src/config/load.js';
import type { RelayConfig } from '../../src/config/schema.js';
import type { RelayEvent } from '../../src/events/types.js';
import { silentLogger } from '../../src/ops/log.js';
import { Relay } from '../../src/ops/relay.js';
import { tearDownSource } from '../../src/source/setup.js';
import type { TestServer } from './globalSetup.js';
import { UndbDatabase } from './undb.js';

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

export async function createDatabase(server: TestServer): Promise<TestDatabase> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = server.url.replace(/\/[^/]*$/, `/${name}`);
  return {
    url,
    name,
    async drop() {
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      try {
        // A slot pins its database: drop it (waiting out a walsender that is still closing).
        for (let attempt = 0; attempt < 50; attempt++) {
          const { rows } = await client.query('select slot_name, active from pg_replication_slots where database = $1', [name]);
          if (rows.length === 0) break;
          for (const row of rows) {
            if (!row.active) await client.query('select pg_drop_replication_slot($1)', [row.slot_name]).catch(() => undefined);
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** Slots are cluster-wide: each test database gets its own, named after it. */
export function testConfig(url: string, yaml = ''): RelayConfig {
  const slot = url.slice(url.lastIndexOf('/') + 1);
  // The operations endpoints stay off unless a test asks for them.
  const http = /^http:/m.test(yaml) ? '' : 'http:\n  port: 0\n';
  return parseConfig(`database:\n  url: ${url}\n  slot: ${slot}\n${http}${yaml}`, 'test.yaml', {});
}

export class EventCollector {
  readonly events: RelayEvent[] = [];
  private waiters: Array<() => void> = [];

  push = (events: RelayEvent[]) => {
    this.events.push(...events);
    for (const wake of this.waiters.splice(0)) wake();
  };

  /** Waits until `predicate` holds over the events so far; fails with what arrived after `timeoutMs`. */
  async until(predicate: (events: RelayEvent[]) => boolean, timeoutMs = 20_000): Promise<RelayEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.events)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out; events so far: ${JSON.stringify(this.events.map((e) => [e.name, e.tableName, e.items.length]))}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.events;
  }

  /** Waits for `count` events in total and returns the ones after `from`. */
  async next(count: number, from = 0): Promise<RelayEvent[]> {
    await this.until((events) => events.length >= from + count);
    return this.events.slice(from, from + count);
  }
}

export interface RelayUnderTest {
  relay: Relay;
  collector: EventCollector;
  stop(): Promise<void>;
}

export async function startRelay(config: RelayConfig): Promise<RelayUnderTest> {
  const collector = new EventCollector();
  const relay = await Relay.start(config, silentLogger(), { onEvents: collector.push });
  return { relay, collector, stop: () => relay.stop() };
}

/** An Undb database with the relay set up and running; `cleanup` stops and drops everything. */
export async function undbWithRelay(server: TestServer, yaml = '') {
  const database = await createDatabase(server);
  const undb = await UndbDatabase.create(database.url);
  const config = testConfig(database.url, yaml);
  const running = await startRelay(config);
  let cleaned: Promise<void> | undefined;
  return {
    database,
    undb,
    config,
    ...running,
    cleanup: () => (cleaned ??= (async () => {
      await running.stop();
      const pool = new pg.Pool({ connectionString: database.url });
      await tearDownSource(pool, { slot: config.database.slot, publication: config.database.publication, undbSchema: 'public' }).catch(() => undefined);
      await pool.end();
      await undb.close();
      await database.drop();
    })()),
  };
}
