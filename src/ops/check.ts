/**
 * `undb-relay check`: every prerequisite, each a pass/fail line with the fix. A finding is about the
 * database or the configuration; a check that cannot even run is reported as a failure that says why.
 */
import type pg from 'pg';
import type { RelayConfig } from '../config/schema.js';
import { changesPublication, isJoinTableName, isRecordTableName, listUndbDataTables, readSlot } from '../source/setup.js';
import { loadMigrations } from './migrate.js';
import { sourceNames } from './relay.js';
import { statusReport } from './status.js';

export interface Finding {
  ok: boolean;
  /** A warning: reported, but not a failure. */
  warning?: boolean;
  what: string;
  detail: string;
  fix?: string;
}

export async function runChecks(source: pg.Pool, state: pg.Pool, config: RelayConfig): Promise<Finding[]> {
  const findings: Finding[] = [];
  const add = (finding: Finding) => findings.push(finding);
  const setting = async (name: string) => (await source.query<{ v: string }>(`select current_setting($1) as v`, [name])).rows[0]!.v;

  const version = Number(await setting('server_version_num'));
  add({
    ok: version >= 140000,
    what: 'server version',
    detail: `Postgres ${Math.floor(version / 10000)}`,
    fix: 'undb-relay needs Postgres 14 or later (15+ recommended)',
  });
  const walLevel = await setting('wal_level');
  add({ ok: walLevel === 'logical', what: 'wal_level', detail: walLevel, fix: 'set wal_level = logical in postgresql.conf and restart Postgres' });

  const role = (await source.query(`select rolname, rolsuper, rolreplication from pg_roles where rolname = current_user`)).rows[0];
  add({
    ok: role.rolsuper || role.rolreplication,
    what: 'replication privilege',
    detail: `role ${role.rolname}: ${role.rolsuper ? 'superuser' : role.rolreplication ? 'REPLICATION' : 'neither superuser nor REPLICATION'}`,
    fix: `ALTER ROLE ${role.rolname} REPLICATION (as a superuser)`,
  });
  add({
    ok: true,
    warning: !role.rolsuper,
    what: 'new tables covered in their own transaction',
    detail: role.rolsuper ? 'yes (event trigger)' : 'no: not a superuser, so new tables are covered when seen in the WAL',
    fix: 'grant superuser to the relay role, or accept that an edit in the first instant after a table is created can be missed',
  });

  const slots = (await source.query(`select count(*)::int as used, current_setting('max_replication_slots')::int as max from pg_replication_slots`)).rows[0];
  const slot = await readSlot(source, config.database.slot);
  add({
    ok: Boolean(slot) || slots.used < slots.max,
    what: 'max_replication_slots',
    detail: `${slots.used} of ${slots.max} in use`,
    fix: 'raise max_replication_slots (restart), or drop an unused slot',
  });
  const senders = (await source.query(`select count(*)::int as used, current_setting('max_wal_senders')::int as max from pg_stat_replication`)).rows[0];
  add({ ok: senders.used < senders.max || Boolean(slot?.active), what: 'max_wal_senders', detail: `${senders.used} of ${senders.max} in use`, fix: 'raise max_wal_senders (restart)' });

  add({
    ok: Boolean(slot) && slot!.walStatus !== 'lost',
    what: `slot ${config.database.slot}`,
    detail: slot ? `${slot.active ? 'active' : 'inactive'}, wal_status ${slot.walStatus ?? 'unknown'}` : 'missing',
    fix: slot ? 'the slot lost WAL it needed: `undb-relay teardown` then `undb-relay setup` (events in the gap are lost)' : 'run `undb-relay setup`',
  });
  const report = await statusReport(source, state, config);
  if (report.slot) {
    add({
      ok: report.slot.retained_bytes <= config.slot.maxRetainedWalBytes,
      what: 'retained WAL',
      detail: `${report.slot.retained_bytes} bytes (limit slot.maxRetainedWalBytes ${config.slot.maxRetainedWalBytes})`,
      fix: 'start the relay so it catches up; if it is running, see `undb-relay status` for what holds it back',
    });
  }

  const names = sourceNames(config);
  const tables = await listUndbDataTables(source, names);
  const published = new Set(
    (await source.query<{ tablename: string }>(`select tablename from pg_publication_tables where pubname = $1 and schemaname = $2`, [changesPublication(names), names.undbSchema])).rows.map((r) => r.tablename),
  );
  const insertPublication = (await source.query(`select 1 from pg_publication where pubname = $1`, [names.publication])).rowCount;
  const uncovered = tables.filter((table) => !published.has(table));
  add({
    ok: Boolean(insertPublication) && uncovered.length === 0,
    what: 'publication coverage',
    detail: insertPublication
      ? `${tables.length - uncovered.length} of ${tables.length} record and join tables publish updates and deletes${uncovered.length ? ` (missing: ${uncovered.slice(0, 5).join(', ')}${uncovered.length > 5 ? ', …' : ''})` : ''}`
      : `publication ${names.publication} is missing`,
    fix: 'run `undb-relay setup` (the relay also does it when it starts)',
  });
  const identities = (
    await source.query<{ relname: string; relreplident: string }>(
      `select c.relname, c.relreplident from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relkind in ('r', 'p')`,
      [names.undbSchema],
    )
  ).rows.filter((row) => isRecordTableName(row.relname) || isJoinTableName(row.relname));
  const notFull = identities.filter((row) => row.relreplident !== 'f').map((row) => row.relname);
  add({
    ok: notFull.length === 0,
    what: 'REPLICA IDENTITY FULL',
    detail: notFull.length ? `missing on ${notFull.length} tables: ${notFull.slice(0, 5).join(', ')}` : `set on all ${identities.length} record and join tables`,
    fix: 'run `undb-relay setup`; without it deletes carry no record id and updates no old values',
  });

  const migrations = await loadMigrations();
  const applied = await state
    .query<{ count: number }>(`select count(*)::int as count from "${config.state.schema.replace(/"/g, '""')}".migrations`)
    .then((result) => result.rows[0]!.count)
    .catch(() => 0);
  add({
    ok: applied >= migrations.length,
    what: `state schema ${config.state.schema}`,
    detail: `${applied} of ${migrations.length} migrations applied`,
    fix: 'run `undb-relay setup` (or start the relay: it migrates on start)',
  });
  add({
    ok: report.subscriptions.problems.length === 0,
    what: 'subscriptions',
    detail: `${report.subscriptions.active} valid${report.subscriptions.problems.map((p) => `\n      ${p.problem}`).join('')}`,
    fix: 'fix the subscriptions named above; the others are served meanwhile',
  });
  return findings;
}

export function printFindings(findings: Finding[], print: (line: string) => void = console.log): boolean {
  for (const finding of findings) {
    const mark = finding.ok ? (finding.warning ? 'warn' : 'pass') : 'FAIL';
    print(`${mark}  ${finding.what}: ${finding.detail}${!finding.ok || finding.warning ? `\n      fix: ${finding.fix}` : ''}`);
  }
  return findings.every((finding) => finding.ok);
}
