/**
 * The capture loop: stream → transactions → handler → in-order acknowledgement, reconnecting with backoff.
 * Every (re)connection starts at the slot's confirmed_flush_lsn, which only ever holds durable work, so a
 * crash or a dropped connection replays (never skips) whatever was not yet durable.
 */
import type { Logger } from '../ops/log.js';
import { AckPipeline } from './acknowledgement.js';
import { maxLsn, type Lsn } from './lsn.js';
import { ReplicationStream, type PgoutputMessage } from './replicationStream.js';
import {
  coverTables,
  isJoinTableName,
  isRecordTableName,
  listUndbDataTables,
  publicationNames,
  readSlot,
  type Queryable,
  type SourceNames,
} from './setup.js';
import { TransactionAssembler, type CommittedTransaction } from './transactions.js';

/** What a handler returns once it has taken a transaction: `durable` settles when it is safe downstream. */
export interface Accepted {
  durable: Promise<void>;
}
export type TransactionHandler = (tx: CommittedTransaction) => Promise<Accepted>;

export interface CaptureOptions {
  connectionString: string;
  db: Queryable;
  names: SourceNames;
  handle: TransactionHandler;
  log: Logger;
  /** Transactions handed downstream but not yet durable, at most. */
  maxPendingTransactions?: number;
  backoff?: { initialMs: number; maxMs: number };
}

export interface CaptureStatus {
  connected: boolean;
  confirmedLsn: Lsn;
  lastError: string | undefined;
  transactions: number;
}

export class Capture {
  private stopping = false;
  private signalStop: () => void = () => undefined;
  private readonly stopSignal = new Promise<void>((resolve) => (this.signalStop = resolve));
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private covered = new Set<string>();
  readonly status: CaptureStatus = { connected: false, confirmedLsn: 0n, lastError: undefined, transactions: 0 };

  constructor(private readonly options: CaptureOptions) {}

  start(): void {
    this.running ??= this.loop();
  }

  /** Stops reading, lets what is in flight become durable and be confirmed, then disconnects. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.signalStop();
    this.wake?.();
    await this.running;
  }

  private async loop(): Promise<void> {
    const { initialMs, maxMs } = this.options.backoff ?? { initialMs: 200, maxMs: 10_000 };
    let delay = initialMs;
    while (!this.stopping) {
      const started = Date.now();
      try {
        await this.runOnce();
      } catch (error) {
        this.status.lastError = describeError(error, this.options.names.slot);
        this.options.log.warn({ err: error }, `replication stream stopped: ${this.status.lastError}; retrying`);
      }
      this.status.connected = false;
      if (this.stopping) break;
      if (Date.now() - started > 60_000) delay = initialMs;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, delay);
      });
      delay = Math.min(delay * 2, maxMs);
    }
  }

  private async runOnce(): Promise<void> {
    const { db, names, log } = this.options;
    const slot = await readSlot(db, names.slot);
    if (!slot) throw new Error(`Replication slot "${names.slot}" does not exist. Run \`undb-relay setup\`.`);
    if (this.covered.size === 0) for (const table of await listUndbDataTables(db, names)) this.covered.add(table);
    const startLsn = maxLsn(slot.confirmedFlushLsn, this.status.confirmedLsn);
    const stream = new ReplicationStream({
      connectionString: this.options.connectionString,
      slot: names.slot,
      publications: publicationNames(names),
    });
    const assembler = new TransactionAssembler();
    const acks = new AckPipeline(
      (lsn) => {
        stream.confirm(lsn);
        this.status.confirmedLsn = lsn;
      },
      (error) => stream.abort(error),
    );
    const maxPending = this.options.maxPendingTransactions ?? 256;
    const stopWatch = this.watchStop(stream, acks);
    log.info({ slot: names.slot, startLsn: startLsn.toString(16) }, 'streaming from the replication slot');
    try {
      await stream.run(startLsn, {
        onMessage: async (message: PgoutputMessage) => {
          if (this.stopping) return; // not confirmed, so replayed after the restart
          this.status.connected = true;
          const tx = assembler.push(message);
          if (!tx) return;
          await acks.waitForRoom(maxPending);
          await this.coverNewTables(tx);
          const { durable } = await this.options.handle(tx);
          this.status.transactions += 1;
          acks.add(tx.commitEndLsn, durable);
        },
        onKeepalive: (walEnd) => {
          this.status.connected = true;
          // Everything before walEnd has been handled; with nothing open or in flight it is all durable,
          // so the slot may move on (an idle publication must not pin WAL forever).
          if (!this.stopping && !assembler.inTransaction && acks.idle) {
            stream.confirm(walEnd);
            this.status.confirmedLsn = maxLsn(this.status.confirmedLsn, walEnd);
          }
        },
      });
    } finally {
      await acks.settled();
      acks.clear();
      await stopWatch.cancel();
    }
  }

  /** On stop: wait for what is in flight to be confirmed while the connection is still open, then close. */
  private watchStop(stream: ReplicationStream, acks: AckPipeline) {
    let cancel: () => void = () => undefined;
    const cancelled = new Promise<'cancelled'>((resolve) => (cancel = () => resolve('cancelled')));
    const watcher = (async () => {
      if ((await Promise.race([this.stopSignal, cancelled])) === 'cancelled') return;
      await acks.settled();
      await stream.stop();
    })();
    return {
      cancel: async () => {
        cancel();
        await watcher;
      },
    };
  }

  /**
   * Record and join tables Undb created since we last looked get REPLICA IDENTITY FULL and join the
   * update/delete publication as soon as their creation commits. Their inserts are already published.
   */
  private async coverNewTables(tx: CommittedTransaction): Promise<void> {
    let lookAgain = false;
    for (const change of tx.changes) {
      if (change.kind === 'truncate') continue;
      const name = change.relation.name;
      if (name === 'undb_table' || ((isRecordTableName(name) || isJoinTableName(name)) && !this.covered.has(name))) {
        lookAgain = true;
        break;
      }
    }
    if (!lookAgain) return;
    const { db, names, log } = this.options;
    const tables = (await listUndbDataTables(db, names)).filter((table) => !this.covered.has(table));
    const added = await coverTables(db, names, tables);
    for (const table of tables) this.covered.add(table);
    if (added.length) log.info({ tables: added }, 'covering new Undb tables (REPLICA IDENTITY FULL, update/delete publication)');
  }
}

function describeError(error: unknown, slot: string): string {
  const message = (error as Error)?.message ?? String(error);
  if (/is active for PID/.test(message)) {
    return `slot "${slot}" is still held by another connection (${message}); a crashed relay's connection is released after wal_sender_timeout`;
  }
  return message;
}
