/**
 * An Undb-shaped database for the demo and the tests, built from shared/spec/undb-storage.md: Undb's metadata tables, one
 * record table per Undb table, join tables for links, and writes made with the statements and transaction
 * shapes Undb uses (bulk inserts in chunks of 500, one UPDATE/DELETE … WHERE id IN (…) for bulk edits, link
 * edits as DELETE + INSERT on the join table plus an UPDATE of updatedBy, an undb_outbox row per record
 * event in the same transaction).
 */
import { randomInt } from 'node:crypto';
import pg from 'pg';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
export const undbId = (prefix: string, length: number) =>
  prefix + Array.from({ length }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');

export interface FieldSpec {
  name: string;
  type: string;
  /** select: option names. */
  options?: string[];
  /** select/user: constraint.max === 1. */
  single?: boolean;
  display?: boolean;
  /** reference: the linked table; symmetric adds the field on the other side too. */
  references?: TableHandle;
  symmetricName?: string;
  /** formula: SQL over field ids and its return type. */
  formula?: { sql: (fieldId: (name: string) => string) => string; returnType: 'number' | 'boolean' | 'date' | 'string' };
  /** rollup: reference field name (same table), rolled field name (foreign table), fn. */
  rollup?: { reference: string; field: string; fn: string };
}

export interface UndbFieldJson {
  id: string;
  name: string;
  type: string;
  display?: boolean;
  constraint?: Record<string, unknown>;
  option?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
}

export interface TableHandle {
  id: string;
  name: string;
  fields: UndbFieldJson[];
  field(name: string): UndbFieldJson;
  optionId(fieldName: string, optionName: string): string;
}

export interface WriteOptions {
  /** The operator. Omitted: an API-token write (createdBy NULL on insert, updatedBy untouched, outbox user_id NULL). */
  userId?: string;
  /** Write no undb_outbox rows: a write that did not come through Undb. */
  bypassUndb?: boolean;
}

export type Values = Record<string, unknown>;

const METADATA_DDL = `
CREATE TABLE undb_space (id text PRIMARY KEY, name text NOT NULL, is_personal boolean NOT NULL DEFAULT false,
  avatar text, created_at text, created_by text, updated_at text, updated_by text, deleted_at bigint, deleted_by text);
CREATE TABLE undb_base (id text PRIMARY KEY, name text NOT NULL, space_id text NOT NULL, created_at text,
  created_by text, updated_at text, updated_by text);
CREATE TABLE undb_user (id text PRIMARY KEY, username text NOT NULL, email text NOT NULL UNIQUE,
  email_verified boolean NOT NULL DEFAULT false, password text, avatar text, otp_secret text);
CREATE TABLE undb_table (id text PRIMARY KEY, name text NOT NULL, base_id text NOT NULL, space_id text NOT NULL,
  schema jsonb NOT NULL, views jsonb, forms jsonb, rls jsonb, widgets jsonb, created_at text, created_by text,
  updated_at text, updated_by text, UNIQUE (name, base_id));
CREATE TABLE undb_webhook (id text PRIMARY KEY, name text NOT NULL, url text NOT NULL, method text NOT NULL,
  enabled boolean NOT NULL, table_id text NOT NULL REFERENCES undb_table(id), headers jsonb NOT NULL,
  condition jsonb, event text NOT NULL, space_id text NOT NULL);
CREATE TABLE undb_outbox (id text PRIMARY KEY, payload jsonb NOT NULL, meta jsonb, timestamp bigint NOT NULL,
  user_id text, name text NOT NULL, space_id text NOT NULL);
CREATE TABLE undb_reference_id_mapping (field_id text NOT NULL, table_id text NOT NULL,
  symmetric_field_id text, foreign_table_id text NOT NULL, UNIQUE (field_id, table_id));
CREATE TABLE undb_rollup_id_mapping (field_id text NOT NULL, table_id text NOT NULL, rollup_id text NOT NULL,
  rollup_table_id text NOT NULL, PRIMARY KEY (field_id, rollup_id));
CREATE OR REPLACE FUNCTION update_modified_column() RETURNS TRIGGER AS $$
BEGIN NEW."updatedAt" = now(); RETURN NEW; END; $$ language 'plpgsql';
`;

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

function columnsFor(field: UndbFieldJson, fieldId: (name: string) => string, formulaSql?: string): string[] {
  const id = q(field.id);
  switch (field.type) {
    case 'string':
    case 'email':
    case 'url':
      return [`${id} varchar(255)`];
    case 'longText':
      return [`${id} text`];
    case 'number':
    case 'rating':
    case 'percentage':
      return [`${id} real`];
    case 'currency':
    case 'duration':
      return [`${id} integer`];
    case 'checkbox':
      return [`${id} boolean NOT NULL DEFAULT false`];
    case 'select':
      return [field.constraint?.max === 1 ? `${id} varchar(255)` : `${id} json`];
    case 'user':
      return [field.constraint?.max === 1 ? `${id} text` : `${id} json`];
    case 'date':
      return [`${id} timestamp`];
    case 'dateRange':
      return [`${q(`${field.id}_start`)} timestamp`, `${q(`${field.id}_end`)} timestamp`];
    case 'attachment':
    case 'json':
      return [`${id} json`];
    case 'formula': {
      const type = { number: 'real', boolean: 'integer', date: 'timestamp', string: 'text' }[
        String(field.metadata?.returnType) as 'number'
      ];
      return [`${id} ${type} GENERATED ALWAYS AS (${formulaSql ?? 'NULL'}) STORED`];
    }
    default:
      void fieldId;
      return [];
  }
}

const SYSTEM_BEFORE: UndbFieldJson[] = [{ id: 'id', name: 'id', type: 'id' }];
const SYSTEM_AFTER: UndbFieldJson[] = [
  { id: 'createdAt', name: 'createdAt', type: 'createdAt' },
  { id: 'createdBy', name: 'createdBy', type: 'createdBy' },
  { id: 'updatedAt', name: 'updatedAt', type: 'updatedAt' },
  { id: 'updatedBy', name: 'updatedBy', type: 'updatedBy' },
  { id: 'autoIncrement', name: 'autoIncrement', type: 'autoIncrement' },
];

function handle(id: string, name: string, fields: UndbFieldJson[]): TableHandle {
  return {
    id,
    name,
    fields,
    field(fieldName) {
      const found = fields.find((field) => field.name === fieldName);
      if (!found) throw new Error(`no field ${fieldName} in ${name}`);
      return found;
    },
    optionId(fieldName, optionName) {
      const options = (this.field(fieldName).option?.options ?? []) as Array<{ id: string; name: string }>;
      const found = options.find((option) => option.name === optionName);
      if (!found) throw new Error(`no option ${optionName} in ${fieldName}`);
      return found.id;
    },
  };
}

export class UndbDatabase {
  readonly spaceId = undbId('spa', 5);
  readonly baseId = undbId('bas', 8);
  private readonly tables = new Map<string, TableHandle>();

  private constructor(readonly pool: pg.Pool) {}

  static async create(url: string): Promise<UndbDatabase> {
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    pool.on('error', () => undefined); // idle clients cut off when a test drops its database
    await pool.query(METADATA_DDL);
    const db = new UndbDatabase(pool);
    await pool.query(`insert into undb_space (id, name) values ($1, 'Space')`, [db.spaceId]);
    await pool.query(`insert into undb_base (id, name, space_id) values ($1, 'Base', $2)`, [db.baseId, db.spaceId]);
    return db;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  table(id: string): TableHandle {
    const table = this.tables.get(id);
    if (!table) throw new Error(`unknown table ${id}`);
    return table;
  }

  async addUser(username: string, avatar: string | null = null): Promise<string> {
    const id = undbId('', 16);
    await this.pool.query('insert into undb_user (id, username, email, avatar) values ($1, $2, $3, $4)', [
      id,
      username,
      `${username}@example.com`,
      avatar,
    ]);
    return id;
  }

  async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** Undb's create-table command: undb_table row, record table, trigger, join tables, in one transaction. */
  async createTable(name: string, specs: FieldSpec[]): Promise<TableHandle> {
    const id = undbId('tbl', 10);
    const userFields = specs.map((spec) => this.fieldJson(id, spec));
    const fields = [...SYSTEM_BEFORE, ...userFields, ...SYSTEM_AFTER];
    const table = handle(id, name, fields);
    await this.transaction(async (client) => {
      await client.query(
        `insert into undb_table (id, name, base_id, space_id, schema) values ($1, $2, $3, $4, $5)`,
        [id, name, this.baseId, this.spaceId, JSON.stringify(fields)],
      );
      const fieldId = (fieldName: string) => table.field(fieldName).id;
      const columns = userFields.flatMap((field, i) => columnsFor(field, fieldId, specs[i]!.formula?.sql(fieldId)));
      await client.query(`CREATE TABLE IF NOT EXISTS ${q(id)} (
        "id" varchar(50) NOT NULL UNIQUE,
        ${columns.map((column) => `${column},`).join('\n')}
        "createdAt" timestamp DEFAULT CURRENT_TIMESTAMP NOT NULL,
        "createdBy" text,
        "updatedAt" timestamp DEFAULT (CURRENT_TIMESTAMP) NOT NULL,
        "updatedBy" text,
        "autoIncrement" bigserial PRIMARY KEY)`);
      await client.query(
        `CREATE TRIGGER ${q(`update_customer_modtime_${id}`)} BEFORE UPDATE ON ${q(id)} FOR EACH ROW EXECUTE PROCEDURE update_modified_column()`,
      );
      for (const [i, field] of userFields.entries()) {
        const spec = specs[i]!;
        if (field.type === 'reference' && spec.references) await this.createLink(client, table, field, spec);
      }
    });
    this.tables.set(id, table);
    return table;
  }

  private fieldJson(tableId: string, spec: FieldSpec): UndbFieldJson {
    const field: UndbFieldJson = { id: undbId('fld', 6), name: spec.name, type: spec.type, display: spec.display ?? false };
    if (spec.type === 'select') {
      field.option = { options: (spec.options ?? []).map((name) => ({ id: undbId('opt', 6), name, color: 'blue' })) };
      if (spec.single) field.constraint = { max: 1 };
    }
    if (spec.type === 'user' && spec.single) field.constraint = { max: 1 };
    if (spec.type === 'currency') field.option = { symbol: '$' };
    if (spec.type === 'date' || spec.type === 'dateRange') field.option = { includeTime: true };
    if (spec.type === 'reference' && spec.references) {
      field.option = { isOwner: true, foreignTableId: spec.references.id };
    }
    if (spec.type === 'formula' && spec.formula) {
      field.option = { fn: 'custom' };
      field.metadata = { returnType: spec.formula.returnType };
    }
    if (spec.type === 'rollup' && spec.rollup) {
      const table = [...this.tables.values()].find((t) => t.id === tableId);
      void table;
      field.option = { referenceFieldId: spec.rollup.reference, rollupFieldId: spec.rollup.field, fn: spec.rollup.fn };
    }
    return field;
  }

  /** Reference field f on A → B: join table "$B_A_f_join_table", mapping row, symmetric field on B. */
  private async createLink(client: pg.PoolClient, table: TableHandle, field: UndbFieldJson, spec: FieldSpec) {
    const foreign = spec.references!;
    const join = `$${foreign.id}_${table.id}_${field.id}_join_table`;
    await client.query(
      `CREATE TABLE ${q(join)} (${q(field.id)} varchar(255) NOT NULL, ${q(foreign.id)} varchar(255) NOT NULL, PRIMARY KEY (${q(field.id)}, ${q(foreign.id)}))`,
    );
    let symmetricId: string | null = null;
    if (spec.symmetricName) {
      const symmetric: UndbFieldJson = {
        id: undbId('fld', 6),
        name: spec.symmetricName,
        type: 'reference',
        display: false,
        option: { isOwner: false, foreignTableId: table.id, symmetricFieldId: field.id },
      };
      symmetricId = symmetric.id;
      field.option = { ...field.option, symmetricFieldId: symmetric.id };
      foreign.fields.splice(foreign.fields.length - SYSTEM_AFTER.length, 0, symmetric);
      await client.query('update undb_table set schema = $2 where id = $1', [foreign.id, JSON.stringify(foreign.fields)]);
      await client.query('update undb_table set schema = $2 where id = $1', [table.id, JSON.stringify(table.fields)]);
    }
    await client.query(
      `insert into undb_reference_id_mapping (field_id, table_id, symmetric_field_id, foreign_table_id) values ($1, $2, $3, $4)`,
      [field.id, table.id, symmetricId, foreign.id],
    );
  }

  /** Resolves rollup option ids given by name (field names are only known once both tables exist). */
  async resolveRollups(table: TableHandle): Promise<void> {
    for (const field of table.fields) {
      if (field.type !== 'rollup') continue;
      const option = field.option as { referenceFieldId: string; rollupFieldId: string; fn: string };
      const reference = table.fields.find((f) => f.name === option.referenceFieldId || f.id === option.referenceFieldId)!;
      const foreign = this.table(String(reference.option?.foreignTableId));
      const rolled = foreign.fields.find((f) => f.name === option.rollupFieldId || f.id === option.rollupFieldId)!;
      field.option = { ...option, referenceFieldId: reference.id, rollupFieldId: rolled.id };
    }
    await this.pool.query('update undb_table set schema = $2 where id = $1', [table.id, JSON.stringify(table.fields)]);
  }

  /** Column values for a record, as Undb's mutate visitor writes them. */
  private columnValues(table: TableHandle, values: Values): Array<[string, unknown, string?]> {
    const columns: Array<[string, unknown, string?]> = [];
    for (const [name, value] of Object.entries(values)) {
      const field = table.field(name);
      switch (field.type) {
        case 'string':
        case 'longText':
        case 'email':
        case 'url':
          columns.push([field.id, value || null]);
          break;
        case 'number':
        case 'rating':
        case 'duration':
          columns.push([field.id, value || null]);
          break;
        case 'percentage':
          columns.push([field.id, value]);
          break;
        case 'currency':
          columns.push([field.id, value === null ? null : Math.round(Number(value) * 100)]);
          break;
        case 'checkbox':
          columns.push([field.id, Boolean(value)]);
          break;
        case 'select': {
          const ids = (Array.isArray(value) ? value : value === null ? [] : [value]).map((n) => table.optionId(name, String(n)));
          if (field.constraint?.max === 1) columns.push([field.id, ids[0] ?? null]);
          else columns.push([field.id, ids.length ? JSON.stringify(ids) : null]);
          break;
        }
        case 'user':
          if (field.constraint?.max === 1) columns.push([field.id, value ?? null]);
          else columns.push([field.id, Array.isArray(value) && value.length ? JSON.stringify([...new Set(value)]) : null]);
          break;
        case 'date':
          // postgres.js sends a JS Date as timestamptz; the timestamp column takes it in the session TimeZone.
          columns.push([field.id, value === null ? null : (value as Date).toISOString(), 'timestamptz']);
          break;
        case 'dateRange': {
          const [start, end] = (value as [Date | null, Date | null] | null) ?? [null, null];
          columns.push([`${field.id}_start`, start?.toISOString() ?? null, 'timestamptz']);
          columns.push([`${field.id}_end`, end?.toISOString() ?? null, 'timestamptz']);
          break;
        }
        case 'attachment':
        case 'json':
          columns.push([field.id, value === null ? null : JSON.stringify(value)]);
          break;
        default:
          break; // reference (join table), rollup, formula, system fields: no column written
      }
    }
    return columns;
  }

  /** Undb's bulk create: INSERTs in chunks of 500 rows, link rows, one outbox row per record; one transaction. */
  async insertRecords(table: TableHandle, records: Values[], options: WriteOptions = {}): Promise<string[]> {
    const ids = records.map(() => undbId('rec', 8));
    await this.transaction(async (client) => {
      for (let start = 0; start < records.length; start += 500) {
        const chunk = records.slice(start, start + 500);
        const rows = chunk.map((values, i) => ({ id: ids[start + i]!, columns: this.columnValues(table, values) }));
        const names = ['id', ...rows[0]!.columns.map(([column]) => column), 'createdBy', 'updatedBy'];
        const params: unknown[] = [];
        const tuples = rows.map((row) => {
          const cells = [[row.id], ...row.columns.map(([, value, cast]) => [value, cast]), [options.userId ?? null], [options.userId ?? null]];
          return `(${cells.map(([value, cast]) => `$${params.push(value)}${cast ? `::${cast}` : ''}`).join(', ')})`;
        });
        await client.query(`insert into ${q(table.id)} (${names.map(q).join(', ')}) values ${tuples.join(', ')}`, params);
        for (const [i, values] of chunk.entries()) await this.writeLinks(client, table, ids[start + i]!, values, false);
        if (!options.bypassUndb) {
          await this.writeOutbox(client, table, 'record.created', chunk.map((values, i) => ({ id: ids[start + i]!, values })), options);
        }
      }
    });
    return ids;
  }

  async createRecord(table: TableHandle, values: Values, options: WriteOptions = {}): Promise<string> {
    return (await this.insertRecords(table, [values], options))[0]!;
  }

  /** Undb's (bulk) update: one UPDATE … WHERE id IN (…), link edits, outbox rows; one transaction. */
  async updateRecords(table: TableHandle, ids: string[], values: Values, options: WriteOptions = {}): Promise<void> {
    await this.transaction(async (client) => {
      const columns = this.columnValues(table, values);
      const params: unknown[] = [];
      const sets = columns.map(([column, value, cast]) => `${q(column)} = $${params.push(value)}${cast ? `::${cast}` : ''}`);
      if (options.userId) sets.push(`"updatedBy" = $${params.push(options.userId)}`);
      if (sets.length === 0) sets.push('"updatedBy" = "updatedBy"');
      await client.query(`update ${q(table.id)} set ${sets.join(', ')} where id = any($${params.push(ids)})`, params);
      for (const id of ids) await this.writeLinks(client, table, id, values, true);
      if (!options.bypassUndb) {
        await this.writeOutbox(client, table, 'record.updated', ids.map((id) => ({ id, values })), options);
      }
    });
  }

  /** Undb's (bulk) delete: one DELETE … WHERE id IN (…) and outbox rows; one transaction. */
  async deleteRecords(table: TableHandle, ids: string[], options: WriteOptions = {}): Promise<void> {
    await this.transaction(async (client) => {
      await client.query(`delete from ${q(table.id)} where id = any($1)`, [ids]);
      if (!options.bypassUndb) {
        await this.writeOutbox(client, table, 'record.deleted', ids.map((id) => ({ id, values: {} })), options);
      }
    });
  }

  /** referenceEqual: DELETE FROM join WHERE <this side> = id, then INSERT the new pairs. */
  private async writeLinks(client: pg.PoolClient, table: TableHandle, id: string, values: Values, clearFirst: boolean) {
    for (const [name, value] of Object.entries(values)) {
      const field = table.field(name);
      if (field.type !== 'reference') continue;
      const option = field.option as { isOwner: boolean; foreignTableId: string; symmetricFieldId?: string };
      const join = option.isOwner
        ? `$${option.foreignTableId}_${table.id}_${field.id}_join_table`
        : `$${table.id}_${option.foreignTableId}_${option.symmetricFieldId}_join_table`;
      const own = option.isOwner ? field.id : table.id;
      const other = option.isOwner ? option.foreignTableId : option.symmetricFieldId!;
      if (clearFirst) await client.query(`delete from ${q(join)} where ${q(own)} = $1`, [id]);
      for (const foreignId of value as string[]) {
        await client.query(`insert into ${q(join)} (${q(own)}, ${q(other)}) values ($1, $2) on conflict do nothing`, [id, foreignId]);
      }
    }
  }

  private async writeOutbox(
    client: pg.PoolClient,
    table: TableHandle,
    name: string,
    records: Array<{ id: string; values: Values }>,
    options: WriteOptions,
  ) {
    const params: unknown[] = [];
    const tuples = records.map(({ id, values }) => {
      const payload =
        name === 'record.deleted'
          ? { tableId: table.id, id }
          : name === 'record.created'
            ? { id, tableId: table.id, record: { id, values, displayValues: {} } }
            : { id, tableId: table.id, previous: { id, values: {}, displayValues: {} }, record: { id, values, displayValues: {} } };
      const meta = { table: { name: table.name, fields: {} }, record: { id, values: {} } };
      const cells = [crypto.randomUUID(), JSON.stringify(payload), JSON.stringify(meta), Date.now(), options.userId ?? null, name, this.spaceId];
      return `(${cells.map((cell) => `$${params.push(cell)}`).join(', ')})`;
    });
    await client.query(
      `insert into undb_outbox (id, payload, meta, timestamp, user_id, name, space_id) values ${tuples.join(', ')}`,
      params,
    );
  }

  private async saveSchema(client: pg.PoolClient | pg.Pool, table: TableHandle) {
    await client.query('update undb_table set schema = $2 where id = $1', [table.id, JSON.stringify(table.fields)]);
  }

  async renameField(table: TableHandle, from: string, to: string): Promise<void> {
    table.field(from).name = to;
    await this.saveSchema(this.pool, table);
  }

  async addField(table: TableHandle, spec: FieldSpec): Promise<UndbFieldJson> {
    const field = this.fieldJson(table.id, spec);
    await this.transaction(async (client) => {
      table.fields.splice(table.fields.length - SYSTEM_AFTER.length, 0, field);
      await this.saveSchema(client, table);
      for (const column of columnsFor(field, (name) => table.field(name).id)) {
        await client.query(`ALTER TABLE ${q(table.id)} ADD COLUMN ${column}`);
      }
    });
    return field;
  }

  async dropField(table: TableHandle, name: string): Promise<void> {
    const field = table.field(name);
    await this.transaction(async (client) => {
      table.fields.splice(table.fields.indexOf(field), 1);
      await this.saveSchema(client, table);
      const columns = field.type === 'dateRange' ? [`${field.id}_start`, `${field.id}_end`] : [field.id];
      for (const column of columns) await client.query(`ALTER TABLE ${q(table.id)} DROP COLUMN ${q(column)}`);
    });
  }

  /** Select option deletion: schema update plus UPDATE … SET fld = NULL, no outbox rows (a schema migration). */
  async deleteOption(table: TableHandle, fieldName: string, optionName: string): Promise<void> {
    const field = table.field(fieldName);
    const optionId = table.optionId(fieldName, optionName);
    await this.transaction(async (client) => {
      const options = (field.option!.options as Array<{ id: string }>).filter((option) => option.id !== optionId);
      field.option = { ...field.option, options };
      await this.saveSchema(client, table);
      await client.query(`update ${q(table.id)} set ${q(field.id)} = NULL where ${q(field.id)} = $1`, [optionId]);
    });
  }

  /** Deleting a reference field: mapping row deleted (a table without a primary key), join table dropped. */
  async deleteReferenceField(table: TableHandle, name: string): Promise<void> {
    const field = table.field(name);
    const option = field.option as { foreignTableId: string };
    await this.transaction(async (client) => {
      await client.query('delete from undb_reference_id_mapping where field_id = $1 and table_id = $2', [field.id, table.id]);
      await client.query(`DROP TABLE IF EXISTS ${q(`$${option.foreignTableId}_${table.id}_${field.id}_join_table`)}`);
      table.fields.splice(table.fields.indexOf(field), 1);
      await this.saveSchema(client, table);
    });
  }
}
