/**
 * In-order acknowledgement. Transactions are handed downstream one by one and become durable later,
 * possibly batched; the slot may only be told about a transaction once it *and every one before it* is
 * durable, or a crash would skip the earlier one (confirmed_flush_lsn means "everything before is done").
 */
import type { Lsn } from './lsn.js';

interface Pending {
  lsn: Lsn;
  done: boolean;
  settled: Promise<void>;
}

export class AckPipeline {
  private pending: Pending[] = [];

  constructor(
    private readonly confirm: (lsn: Lsn) => void,
    private readonly onFailure: (error: Error) => void,
  ) {}

  get size(): number {
    return this.pending.length;
  }

  /** True when nothing handed downstream is still waiting to become durable. */
  get idle(): boolean {
    return this.pending.length === 0;
  }

  add(lsn: Lsn, durable: Promise<void>): void {
    const entry: Pending = { lsn, done: false, settled: Promise.resolve() };
    entry.settled = durable.then(
      () => {
        entry.done = true;
        this.release();
      },
      (error: Error) => {
        this.onFailure(error);
        throw error;
      },
    );
    entry.settled.catch(() => undefined);
    this.pending.push(entry);
  }

  /**
   * Waits until fewer than `max` transactions are in flight: backpressure on the stream.
   * Throws when one of them failed to become durable.
   */
  async waitForRoom(max: number): Promise<void> {
    while (this.pending.length >= max) await this.pending[0]!.settled;
  }

  /** Waits for everything handed downstream so far, successful or not. */
  async settled(): Promise<void> {
    await Promise.allSettled(this.pending.map((entry) => entry.settled));
  }

  /** Forgets what is in flight: after a failure the stream replays it from the last confirmed LSN. */
  clear(): void {
    this.pending = [];
  }

  private release(): void {
    let last: Lsn | undefined;
    while (this.pending[0]?.done) last = this.pending.shift()!.lsn;
    if (last !== undefined) this.confirm(last);
  }
}
