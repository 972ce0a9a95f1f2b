/**
 * Applies the numbered files in sql/ to the state schema, in order, each in its own transaction, under an
 * advisory lock so that two relays starting together do not race. A file already applied is never re-run.
 */
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { quoteIdent } from '../source/setup.js';

const SQL_DIR = fileURLToPath(new URL('../../sql/', import.meta.url));
// Arbitrary, fixed: "undb-relay migrations".
const LOCK_KEY = 0x756e6462;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export async function loadMigrations(): Promise<Migration[]> {
  const files = (await readdir(SQL_DIR)).filter((file) => /^\d+_.+\.sql$/.test(file)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number(file.split('_')[0]),
      name: file,
      sql: await readFile(`${SQL_DIR}${file}`, 'utf8'),
    })),
  );
}

export async function migrate(pool: pg.Pool, schema: string): Promise<string[]> {
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('select pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${quoteIdent(schema)}.migrations (
         version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = new Set(
      (await client.query<{ version: number }>(`select version from ${quoteIdent(schema)}.migrations`)).rows.map((r) => r.version),
    );
    for (const migration of await loadMigrations()) {
      if (done.has(migration.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql.replaceAll(':SCHEMA', quoteIdent(schema)));
        await client.query(`insert into ${quoteIdent(schema)}.migrations (version, name) values ($1, $2)`, [
          migration.version,
          migration.name,
        ]);
        await client.query('COMMIT');
        applied.push(migration.name);
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`State migration ${migration.name} failed: ${(error as Error).message}`, { cause: error });
      }
    }
  } finally {
    await client.query('select pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
    client.release();
  }
  return applied;
}
