/**
 * Publications and slot, laid out so that the relay can never make an Undb write fail
 * (undb-storage.md §2):
 * - `<publication>` publishes INSERT and TRUNCATE for every table of Undb's schema, so a table Undb creates
 *   later is captured from its first row, and a table without a replica identity is never a problem
 *   (Postgres only demands one for published UPDATE/DELETE). Postgres 15+: `FOR TABLES IN SCHEMA`;
 *   Postgres 14: `FOR ALL TABLES` (the relay's own schema then filters out in `events/`).
 * - `<publication>_changes` publishes UPDATE and DELETE for an explicit list: record tables and join tables
 *   (given REPLICA IDENTITY FULL first) and the metadata tables that have a primary key.
 */
import type pg from 'pg';
import { parseLsn, type Lsn } from './lsn.js';

export interface SourceNames {
  slot: string;
  publication: string;
  undbSchema: string;
}

export type Queryable = Pick<pg.Pool, 'query'>;

/** Metadata tables whose UPDATE/DELETE the relay reads (all have a primary key in Undb). */
const METADATA_TABLES = ['undb_table', 'undb_user', 'undb_webhook'];

export const changesPublication = (names: SourceNames) => `${names.publication}_changes`;
export const publicationNames = (names: SourceNames) => [names.publication, changesPublication(names)];

export const isRecordTableName = (name: string) => /^tbl[0-9A-Za-z]+$/.test(name);
export const isJoinTableName = (name: string) => /^\$tbl[0-9A-Za-z]+_tbl[0-9A-Za-z]+_fld[0-9A-Za-z]+_join_table$/.test(name);

export const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
const quoteLiteral = (text: string) => `'${text.replace(/'/g, "''")}'`;

export async function serverVersion(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ v: string }>(`select current_setting('server_version_num') as v`);
  return Number(rows[0]?.v);
}

export async function ensurePublications(db: Queryable, names: SourceNames): Promise<void> {
  const existing = await db.query<{ pubname: string }>(
    'select pubname from pg_publication where pubname = any($1)',
    [publicationNames(names)],
  );
  const have = new Set(existing.rows.map((row) => row.pubname));
  const version = await serverVersion(db);
  // Postgres 18 can publish stored generated columns: Undb's formula fields then come from the WAL.
  const generated = version >= 180000 ? ', publish_generated_columns = stored' : '';
  if (!have.has(names.publication)) {
    const scope = version >= 150000 ? `FOR TABLES IN SCHEMA ${quoteIdent(names.undbSchema)}` : 'FOR ALL TABLES';
    await db.query(
      `CREATE PUBLICATION ${quoteIdent(names.publication)} ${scope} WITH (publish = 'insert, truncate'${generated})`,
    );
  }
  if (!have.has(changesPublication(names))) {
    await db.query(
      `CREATE PUBLICATION ${quoteIdent(changesPublication(names))} WITH (publish = 'update, delete'${generated})`,
    );
  }
}

export interface SlotState {
  confirmedFlushLsn: Lsn;
  active: boolean;
  activePid: number | null;
  walStatus: string | null;
}

export async function readSlot(db: Queryable, slot: string): Promise<SlotState | undefined> {
  const { rows } = await db.query<{
    confirmed_flush_lsn: string | null;
    active: boolean;
    active_pid: number | null;
    wal_status: string | null;
  }>(
    `select confirmed_flush_lsn::text, active, active_pid, wal_status
       from pg_replication_slots where slot_name = $1 and database = current_database()`,
    [slot],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    confirmedFlushLsn: parseLsn(row.confirmed_flush_lsn ?? '0/0'),
    active: row.active,
    activePid: row.active_pid,
    walStatus: row.wal_status,
  };
}

/** Creates the slot after the publications, so decoding from its first LSN finds them. */
export async function ensureSlot(db: Queryable, slot: string): Promise<SlotState> {
  const existing = await readSlot(db, slot);
  if (existing) return existing;
  const other = await db.query('select database from pg_replication_slots where slot_name = $1', [slot]);
  if (other.rowCount) {
    throw new Error(
      `Replication slot "${slot}" belongs to database "${other.rows[0].database}". ` +
        'Set database.slot to another name for this database.',
    );
  }
  await db.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
  const created = await readSlot(db, slot);
  if (!created) throw new Error(`Replication slot "${slot}" vanished right after it was created.`);
  return created;
}

/** Record and join tables that exist in Undb's schema now. */
export async function listUndbDataTables(db: Queryable, names: SourceNames): Promise<string[]> {
  const { rows } = await db.query<{ relname: string }>(
    `select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relkind in ('r', 'p')`,
    [names.undbSchema],
  );
  return rows.map((row) => row.relname).filter((name) => isRecordTableName(name) || isJoinTableName(name));
}

/**
 * Gives each table REPLICA IDENTITY FULL (deletes then carry the record id, updates their old values) and
 * adds it to the update/delete publication. Idempotent; tables that vanished meanwhile are skipped.
 */
export async function coverTables(db: Queryable, names: SourceNames, tables: string[]): Promise<string[]> {
  if (tables.length === 0) return [];
  const { rows } = await db.query<{ relname: string; relreplident: string; published: boolean }>(
    `select c.relname, c.relreplident,
            exists (select 1 from pg_publication_tables p
                     where p.pubname = $3 and p.schemaname = $1 and p.tablename = c.relname) as published
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relname = any($2) and c.relkind in ('r', 'p')`,
    [names.undbSchema, tables, changesPublication(names)],
  );
  const covered: string[] = [];
  for (const row of rows) {
    const table = `${quoteIdent(names.undbSchema)}.${quoteIdent(row.relname)}`;
    if (row.relreplident !== 'f') await db.query(`ALTER TABLE ${table} REPLICA IDENTITY FULL`);
    if (!row.published) {
      await db.query(`ALTER PUBLICATION ${quoteIdent(changesPublication(names))} ADD TABLE ${table}`).catch((error) => {
        // Another relay instance (or a retry) added it first.
        if ((error as { code?: string }).code !== '42710') throw error;
      });
      covered.push(row.relname);
    }
  }
  return covered;
}

/** Adds the metadata tables that have a primary key; a table without one is never added. */
export async function coverMetadataTables(db: Queryable, names: SourceNames): Promise<void> {
  const { rows } = await db.query<{ relname: string }>(
    `select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relname = any($2)
        and exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisprimary)
        and not exists (select 1 from pg_publication_tables p
                         where p.pubname = $3 and p.schemaname = $1 and p.tablename = c.relname)`,
    [names.undbSchema, METADATA_TABLES, changesPublication(names)],
  );
  for (const row of rows) {
    await db.query(
      `ALTER PUBLICATION ${quoteIdent(changesPublication(names))} ADD TABLE ${quoteIdent(names.undbSchema)}.${quoteIdent(row.relname)}`,
    );
  }
}

export const coverageTriggerName = (names: SourceNames) => `${names.slot}_cover_new_tables`;

/**
 * A table Undb creates must be in the update/delete publication before its first UPDATE, or that UPDATE
 * is never published. Covering it when its creation shows up in the WAL leaves a window (a record edited
 * right after its table was created is lost), so where we may (superuser), an event trigger covers record
 * and join tables inside Undb's own CREATE TABLE transaction. It can never fail Undb's DDL: any error is
 * downgraded to a warning, and the WAL-driven coverage in capture.ts remains as the fallback.
 * Returns false when the role may not create event triggers.
 */
export async function installCoverageTrigger(db: Queryable, names: SourceNames, functionSchema: string): Promise<boolean> {
  const { rows } = await db.query<{ rolsuper: boolean }>('select rolsuper from pg_roles where rolname = current_user');
  if (!rows[0]?.rolsuper) return false;
  const fn = `${quoteIdent(functionSchema)}.${quoteIdent(coverageTriggerName(names))}`;
  await db.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(functionSchema)}`);
  await db.query(`
    CREATE OR REPLACE FUNCTION ${fn}() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $body$
    DECLARE
      created record;
      relation text;
    BEGIN
      FOR created IN SELECT objid, object_identity FROM pg_event_trigger_ddl_commands()
                      WHERE object_type = 'table' AND schema_name = ${quoteLiteral(names.undbSchema)} LOOP
        SELECT relname INTO relation FROM pg_class WHERE oid = created.objid;
        CONTINUE WHEN relation IS NULL
          OR NOT (relation ~ '^tbl[0-9A-Za-z]+$' OR relation ~ '^[$]tbl[0-9A-Za-z]+_tbl[0-9A-Za-z]+_fld[0-9A-Za-z]+_join_table$');
        BEGIN
          EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', created.object_identity);
          EXECUTE format('ALTER PUBLICATION %I ADD TABLE %s', ${quoteLiteral(changesPublication(names))}, created.object_identity);
        EXCEPTION WHEN OTHERS THEN
          RAISE WARNING 'undb-relay could not cover table %: %', created.object_identity, SQLERRM;
        END;
      END LOOP;
    END
    $body$`);
  const exists = await db.query('select 1 from pg_event_trigger where evtname = $1', [coverageTriggerName(names)]);
  if (!exists.rowCount) {
    await db.query(
      `CREATE EVENT TRIGGER ${quoteIdent(coverageTriggerName(names))} ON ddl_command_end
         WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO') EXECUTE FUNCTION ${fn}()`,
    );
  }
  return true;
}

export interface SourceSetup {
  slot: SlotState;
  /** Whether new tables are covered inside Undb's own transaction (see installCoverageTrigger). */
  coverageTrigger: boolean;
}

/** Everything `setup` does on the source database, idempotently. */
export async function setUpSource(db: Queryable, names: SourceNames, functionSchema: string): Promise<SourceSetup> {
  await ensurePublications(db, names);
  await coverMetadataTables(db, names);
  const coverageTrigger = await installCoverageTrigger(db, names, functionSchema);
  await coverTables(db, names, await listUndbDataTables(db, names));
  return { slot: await ensureSlot(db, names.slot), coverageTrigger };
}

export async function tearDownSource(db: Queryable, names: SourceNames): Promise<string[]> {
  const dropped: string[] = [];
  const trigger = await db.query('select 1 from pg_event_trigger where evtname = $1', [coverageTriggerName(names)]);
  if (trigger.rowCount) {
    await db.query(`DROP EVENT TRIGGER ${quoteIdent(coverageTriggerName(names))}`);
    dropped.push(`event trigger ${coverageTriggerName(names)}`);
  }
  if (await readSlot(db, names.slot)) {
    await db.query('select pg_drop_replication_slot($1)', [names.slot]);
    dropped.push(`slot ${names.slot}`);
  }
  for (const publication of publicationNames(names)) {
    const result = await db.query(`select 1 from pg_publication where pubname = ${quoteLiteral(publication)}`);
    if (result.rowCount) {
      await db.query(`DROP PUBLICATION ${quoteIdent(publication)}`);
      dropped.push(`publication ${publication}`);
    }
  }
  return dropped;
}
