/**
 * Begin … Commit → one committed transaction, with its row changes in WAL order.
 * Values stay as the server's text (see replicationStream.ts); `undefined` marks an unchanged TOASTed value
 * that no old image could fill in.
 */
import type { PgoutputMessage } from './replicationStream.js';
import { parseLsn, type Lsn } from './lsn.js';

type MessageRelation = Extract<PgoutputMessage, { tag: 'relation' }>;

export type RowImage = Record<string, string | null | undefined>;

export interface RelationInfo {
  oid: number;
  schema: string;
  name: string;
  columns: Array<{ name: string; typeOid: number }>;
}

export type RowChange =
  | { kind: 'insert'; relation: RelationInfo; new: RowImage }
  /** `old` is the whole old row under REPLICA IDENTITY FULL, the key columns otherwise, or null. */
  | { kind: 'update'; relation: RelationInfo; old: RowImage | null; new: RowImage }
  | { kind: 'delete'; relation: RelationInfo; old: RowImage }
  | { kind: 'truncate'; relations: RelationInfo[] };

export interface CommittedTransaction {
  xid: number;
  /** Start of the commit record. */
  commitLsn: Lsn;
  /** End of the commit record: the LSN acknowledged once the transaction is durable downstream. */
  commitEndLsn: Lsn;
  commitTime: Date;
  changes: RowChange[];
}

interface OpenTransaction {
  xid: number;
  commitTimeUs: bigint;
  changes: RowChange[];
}

export class TransactionAssembler {
  private open: OpenTransaction | undefined;

  get inTransaction(): boolean {
    return this.open !== undefined;
  }

  /** Returns the transaction when `message` commits it. */
  push(message: PgoutputMessage): CommittedTransaction | undefined {
    switch (message.tag) {
      case 'begin':
        this.open = { xid: message.xid, commitTimeUs: message.commitTime as bigint, changes: [] };
        return undefined;
      case 'insert':
        this.current(message.tag).changes.push({
          kind: 'insert',
          relation: relationInfo(message.relation),
          new: message.new,
        });
        return undefined;
      case 'update':
        this.current(message.tag).changes.push({
          kind: 'update',
          relation: relationInfo(message.relation),
          old: message.old ?? message.key,
          new: message.new,
        });
        return undefined;
      case 'delete': {
        const old = message.old ?? message.key;
        if (!old) throw new Error(`DELETE on ${message.relation.name} carries no row image`);
        this.current(message.tag).changes.push({ kind: 'delete', relation: relationInfo(message.relation), old });
        return undefined;
      }
      case 'truncate':
        this.current(message.tag).changes.push({
          kind: 'truncate',
          relations: message.relations.map(relationInfo),
        });
        return undefined;
      case 'commit': {
        const open = this.current(message.tag);
        this.open = undefined;
        return {
          xid: open.xid,
          commitLsn: parseLsn(message.commitLsn ?? '0/0'),
          commitEndLsn: parseLsn(message.commitEndLsn ?? '0/0'),
          commitTime: new Date(Number((message.commitTime as bigint) / 1000n)),
          changes: open.changes,
        };
      }
      default:
        // relation, type, origin, message: nothing to assemble.
        return undefined;
    }
  }

  /** Drops a partly received transaction: after a reconnect it is sent again from its Begin. */
  reset(): void {
    this.open = undefined;
  }

  private current(tag: string): OpenTransaction {
    if (!this.open) throw new Error(`pgoutput sent ${tag} outside a transaction`);
    return this.open;
  }
}

const relationInfos = new WeakMap<MessageRelation, RelationInfo>();

/** One RelationInfo per Relation message, so rows share it instead of carrying the parser's object. */
function relationInfo(relation: MessageRelation): RelationInfo {
  let info = relationInfos.get(relation);
  if (!info) {
    info = {
      oid: relation.relationOid >>> 0,
      schema: relation.schema,
      name: relation.name,
      columns: relation.columns.map((column) => ({ name: column.name, typeOid: column.typeOid >>> 0 })),
    };
    relationInfos.set(relation, info);
  }
  return info;
}
