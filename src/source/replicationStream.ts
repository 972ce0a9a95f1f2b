/**
 * One pgoutput replication connection. We own this part instead of pg-logical-replication's service class
 * (whose parser we use), because that class loses data in ways a relay cannot accept
 * (shared/notes/replication.md §1): it acknowledges received (not durable) LSNs from a timer, adds 1 to
 * every acknowledged LSN, restarts from the last *received* LSN, and throws parse errors inside the socket
 * callback. Here:
 * - the only LSN ever reported is the one `confirm()` was given (durable work), exactly, never +1;
 * - every run starts at an explicit LSN the caller chose;
 * - messages are handled strictly in order, keepalives included, with the socket paused while a backlog
 *   waits, so memory stays bounded and a keepalive never overtakes the data before it;
 * - a parse or handler error ends the run (the caller restarts from its durable LSN), never skips.
 */
import pg from 'pg';
import { PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { formatLsn, type Lsn } from './lsn.js';

export type PgoutputMessage = Pgoutput.Message;

export interface StreamHandlers {
  /** Called for every XLogData message in WAL order; a returned promise holds back the next message. */
  onMessage(message: PgoutputMessage): void | Promise<void>;
  /** Called, in order with the data, for each keepalive: everything before `walEnd` has been handled. */
  onKeepalive(walEnd: Lsn): void;
}

export interface ReplicationStreamOptions {
  connectionString: string;
  slot: string;
  publications: string[];
  /** How often a status update goes out even when nothing new is confirmed (walsender timeout guard). */
  statusIntervalMs?: number;
}

const PAUSE_AT = 2_000;
const RESUME_AT = 200;
// Microseconds between the Unix epoch and Postgres' epoch (2000-01-01).
const PG_EPOCH_OFFSET_US = 946_684_800_000_000n;
const identity = (value: unknown) => value;

export class ReplicationStream {
  private client: pg.Client | undefined;
  private confirmed: Lsn = 0n;
  private queue: QueuedItem[] = [];
  private draining = false;
  private paused = false;
  private stopped = false;
  private connected = false;
  private timer: NodeJS.Timeout | undefined;
  private fail: (error: Error) => void = () => undefined;

  constructor(private readonly options: ReplicationStreamOptions) {}

  /** The LSN last reported to Postgres as flushed. */
  get confirmedLsn(): Lsn {
    return this.confirmed;
  }

  /**
   * Streams from `startLsn` until `stop()` (resolves) or an error (rejects). Postgres replays every
   * transaction that commits at or after max(startLsn, the slot's confirmed_flush_lsn).
   */
  async run(startLsn: Lsn, handlers: StreamHandlers): Promise<void> {
    this.confirmed = startLsn;
    // Used for its parser only: a fresh one per connection, since Relation messages are re-sent per session.
    const parser = new PgoutputPlugin({ protoVersion: 1, publicationNames: this.options.publications });
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      replication: 'database',
      keepAlive: true,
    } as pg.ClientConfig);
    this.client = client;
    const failed = new Promise<never>((_, reject) => {
      this.fail = reject;
    });
    failed.catch(() => undefined);
    client.on('error', (error) => this.fail(error));
    await client.connect();
    this.connected = true;
    if (this.stopped) {
      this.close();
      return;
    }
    // pg's Client keeps its protocol connection private; replication needs its copy stream.
    const connection = (client as unknown as { connection: PgConnection }).connection;
    connection.on('copyData', ({ chunk }: { chunk: Buffer }) => {
      // Parse now: pg-protocol's chunk is a view into a socket buffer it reuses, so a chunk kept for later
      // can be overwritten by the next read (seen as "unexpected end of message" under backlog).
      let item: QueuedItem;
      try {
        item = this.decode(parser, chunk);
      } catch (error) {
        this.fail(error as Error);
        return;
      }
      if (item.kind === 'keepalive' && item.replyRequested) this.sendStatus();
      this.queue.push(item);
      if (!this.paused && this.queue.length >= PAUSE_AT) {
        this.paused = true;
        connection.stream.pause();
      }
      void this.drain(handlers, connection);
    });
    this.timer = setInterval(() => this.sendStatus(), this.options.statusIntervalMs ?? 10_000);
    const publications = this.options.publications.map((name) => `"${name.replace(/"/g, '""')}"`).join(',');
    const sql =
      `START_REPLICATION SLOT "${this.options.slot}" LOGICAL ${formatLsn(startLsn)} ` +
      `(proto_version '1', publication_names '${publications.replace(/'/g, "''")}')`;
    try {
      await Promise.race([client.query(sql), failed]);
    } catch (error) {
      if (!this.stopped) throw error;
    } finally {
      this.close();
    }
  }

  /** Reports `lsn` as durable. Monotonic: an older LSN is ignored. */
  confirm(lsn: Lsn): void {
    if (lsn <= this.confirmed) return;
    this.confirmed = lsn;
    this.sendStatus();
  }

  /** Ends the current run with `error`: the caller restarts from its durable LSN. */
  abort(error: Error): void {
    this.fail(error);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.close();
  }

  private close(): void {
    clearInterval(this.timer);
    this.queue = [];
    // Ending a client that is still connecting can hang its connect(): run() closes it once connected.
    if (!this.connected) return;
    const client = this.client;
    this.client = undefined;
    client?.end().catch(() => undefined);
  }

  private decode(parser: PgoutputPlugin, chunk: Buffer): QueuedItem {
    if (chunk[0] === 0x77 /* w: XLogData */) {
      const message = parser.parse(chunk.subarray(25));
      if (message.tag === 'relation') {
        // Keep every value as the server's text: no Date/timezone, int8 or JSON round trips.
        for (const column of message.columns) column.parser = identity;
      }
      return { kind: 'data', message };
    }
    if (chunk[0] === 0x6b /* k: keepalive */) {
      return { kind: 'keepalive', walEnd: chunk.readBigUInt64BE(1), replyRequested: chunk[17] === 1 };
    }
    throw new Error(`unexpected replication message type 0x${chunk[0]?.toString(16)}`);
  }

  private async drain(handlers: StreamHandlers, connection: PgConnection) {
    if (this.draining) return;
    this.draining = true;
    try {
      for (let item = this.queue.shift(); item; item = this.queue.shift()) {
        if (this.paused && this.queue.length <= RESUME_AT) {
          this.paused = false;
          connection.stream.resume();
        }
        if (item.kind === 'data') {
          const pending = handlers.onMessage(item.message);
          if (pending) await pending;
        } else {
          handlers.onKeepalive(item.walEnd);
        }
      }
    } catch (error) {
      this.fail(error as Error);
    } finally {
      this.draining = false;
    }
  }

  private sendStatus(): void {
    const connection = (this.client as unknown as { connection?: PgConnection } | undefined)?.connection;
    if (!connection || this.stopped) return;
    connection.sendCopyFromChunk(standbyStatusUpdate(this.confirmed, Date.now()));
  }
}

/**
 * The 'r' message. Written, flushed and applied are all the durable LSN, exactly: Postgres' own apply
 * worker reports the commit end LSN unchanged, and +1 can skip a transaction whose commit record starts
 * right there. The clock is microseconds since 2000-01-01.
 */
export function standbyStatusUpdate(durable: Lsn, nowMs: number, replyRequested = false): Buffer {
  const message = Buffer.alloc(34);
  message[0] = 0x72;
  message.writeBigUInt64BE(durable, 1);
  message.writeBigUInt64BE(durable, 9);
  message.writeBigUInt64BE(durable, 17);
  message.writeBigInt64BE(BigInt(nowMs) * 1000n - PG_EPOCH_OFFSET_US, 25);
  message[33] = replyRequested ? 1 : 0;
  return message;
}

type QueuedItem =
  | { kind: 'data'; message: PgoutputMessage }
  | { kind: 'keepalive'; walEnd: Lsn; replyRequested: boolean };

interface PgConnection {
  on(event: 'copyData', listener: (message: { chunk: Buffer }) => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
  stream: { pause(): void; resume(): void };
}

