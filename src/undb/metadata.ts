/**
 * Undb's tables, fields and users as the relay knows them. Loaded once at start, then kept current from
 * the WAL itself, in commit order (`undb_table` and `undb_user` changes), so that a field renamed in
 * transaction N is named anew from transaction N+1 on, without a query racing the stream.
 */
import type { Queryable } from '../source/setup.js';
import type { CommittedTransaction, RowImage } from '../source/transactions.js';

export interface UndbField {
  id: string;
  name: string;
  type: string;
  display?: boolean;
  constraint?: { max?: number } & Record<string, unknown>;
  option?: Record<string, unknown>;
  metadata?: { returnType?: string } & Record<string, unknown>;
}

export interface UndbTable {
  id: string;
  name: string;
  spaceId: string | null;
  baseId: string | null;
  fields: UndbField[];
}

export interface UndbUser {
  id: string;
  username: string | null;
  email: string | null;
  avatar: string | null;
}

export interface MetadataChange {
  tablesChanged: string[];
  usersChanged: boolean;
}

export class UndbMetadata {
  private readonly tables = new Map<string, UndbTable>();
  private readonly users = new Map<string, UndbUser>();

  constructor(readonly schema: string) {}

  static async load(db: Queryable, schema: string): Promise<UndbMetadata> {
    const metadata = new UndbMetadata(schema);
    const tables = await db.query<RowImage>(
      `select id, name, base_id, space_id, schema::text as schema from ${qualified(schema, 'undb_table')}`,
    );
    for (const row of tables.rows) metadata.putTable(row);
    const users = await db.query<RowImage>(
      `select id, username, email, avatar from ${qualified(schema, 'undb_user')}`,
    );
    for (const row of users.rows) metadata.putUser(row);
    return metadata;
  }

  table(id: string): UndbTable | undefined {
    return this.tables.get(id);
  }

  tableByName(name: string): UndbTable | undefined {
    for (const table of this.tables.values()) if (table.name === name) return table;
    return undefined;
  }

  allTables(): IterableIterator<UndbTable> {
    return this.tables.values();
  }

  user(id: string): UndbUser | undefined {
    return this.users.get(id);
  }

  /** Applies the transaction's metadata writes. Call after its events are built, in commit order. */
  apply(tx: CommittedTransaction): MetadataChange {
    const change: MetadataChange = { tablesChanged: [], usersChanged: false };
    for (const row of tx.changes) {
      if (row.kind === 'truncate' || row.relation.schema !== this.schema) continue;
      if (row.relation.name === 'undb_table') {
        const id = (row.kind === 'delete' ? row.old.id : row.new.id) ?? undefined;
        if (!id) continue;
        if (row.kind === 'delete') this.tables.delete(id);
        else this.putTable(row.new);
        change.tablesChanged.push(id);
      } else if (row.relation.name === 'undb_user') {
        if (row.kind === 'delete') this.users.delete(row.old.id ?? '');
        else this.putUser(row.new);
        change.usersChanged = true;
      }
    }
    return change;
  }

  /** New tables written by `tx` (for a transaction that creates a table and fills it at once). */
  tablesCreatedBy(tx: CommittedTransaction): UndbTable[] {
    const created: UndbTable[] = [];
    for (const row of tx.changes) {
      if (row.kind === 'insert' && row.relation.name === 'undb_table' && row.relation.schema === this.schema) {
        const table = parseTable(row.new, undefined);
        if (table) created.push(table);
      }
    }
    return created;
  }

  private putTable(row: RowImage): void {
    const id = row.id;
    if (!id) return;
    const table = parseTable(row, this.tables.get(id));
    if (table) this.tables.set(id, table);
  }

  private putUser(row: RowImage): void {
    const id = row.id;
    if (!id) return;
    const previous = this.users.get(id);
    // An unchanged TOASTed column arrives as undefined: keep what we had.
    const pick = (key: 'username' | 'email' | 'avatar') => (row[key] === undefined ? previous?.[key] ?? null : row[key] ?? null);
    this.users.set(id, { id, username: pick('username'), email: pick('email'), avatar: pick('avatar') });
  }
}

function parseTable(row: RowImage, previous: UndbTable | undefined): UndbTable | undefined {
  const id = row.id;
  if (!id) return undefined;
  let fields = previous?.fields ?? [];
  if (row.schema !== undefined && row.schema !== null) {
    const parsed = JSON.parse(row.schema) as unknown;
    if (Array.isArray(parsed)) fields = parsed as UndbField[];
  }
  const keep = (value: string | null | undefined, old: string | null | undefined) => (value === undefined ? old ?? null : value);
  return {
    id,
    name: keep(row.name, previous?.name) ?? id,
    spaceId: keep(row.space_id, previous?.spaceId),
    baseId: keep(row.base_id, previous?.baseId),
    fields,
  };
}

export function qualified(schema: string, table: string): string {
  return `"${schema.replace(/"/g, '""')}"."${table.replace(/"/g, '""')}"`;
}
