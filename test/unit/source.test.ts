import { describe, expect, it } from 'vitest';
import { AckPipeline } from '../../src/source/acknowledgement.js';
import { formatLsn, parseLsn } from '../../src/source/lsn.js';
import { standbyStatusUpdate } from '../../src/source/replicationStream.js';

describe('LSNs', () => {
  it('parse padded and unpadded forms to the same number, and format back', () => {
    expect(parseLsn('00000001/016B3748')).toBe(parseLsn('1/16B3748'));
    expect(formatLsn(parseLsn('1/16B3748'))).toBe('1/16B3748');
    expect(parseLsn('0/FFFFFFFF') + 1n).toBe(parseLsn('1/0'));
  });
});

describe('standby status update', () => {
  it('reports exactly the durable LSN as written, flushed and applied: never +1', () => {
    const lsn = parseLsn('2/ABCDEF00');
    const message = standbyStatusUpdate(lsn, Date.UTC(2026, 0, 1));
    expect(message[0]).toBe(0x72);
    expect([message.readBigUInt64BE(1), message.readBigUInt64BE(9), message.readBigUInt64BE(17)]).toEqual([lsn, lsn, lsn]);
  });

  it('stamps microseconds since 2000-01-01 (Postgres’ epoch)', () => {
    const message = standbyStatusUpdate(0n, Date.UTC(2000, 0, 2));
    expect(message.readBigInt64BE(25)).toBe(86_400_000_000n);
  });
});

describe('in-order acknowledgement', () => {
  const deferred = () => {
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    return { promise, resolve, reject };
  };

  it('confirms a transaction only once it and every earlier one are durable', async () => {
    const confirmed: bigint[] = [];
    const acks = new AckPipeline((lsn) => confirmed.push(lsn), () => undefined);
    const [a, b, c] = [deferred(), deferred(), deferred()];
    acks.add(10n, a.promise);
    acks.add(20n, b.promise);
    acks.add(30n, c.promise);
    b.resolve();
    c.resolve();
    await Promise.resolve();
    await new Promise((r) => setTimeout(r, 0));
    expect(confirmed).toEqual([]);
    a.resolve();
    await acks.settled();
    expect(confirmed).toEqual([30n]);
    expect(acks.idle).toBe(true);
  });

  it('never confirms past a failed transaction, and reports the failure', async () => {
    const confirmed: bigint[] = [];
    const failures: Error[] = [];
    const acks = new AckPipeline((lsn) => confirmed.push(lsn), (error) => failures.push(error));
    const [a, b] = [deferred(), deferred()];
    acks.add(10n, a.promise);
    acks.add(20n, b.promise);
    a.reject(new Error('state database down'));
    b.resolve();
    await acks.settled();
    expect(confirmed).toEqual([]);
    expect(failures.map((e) => e.message)).toEqual(['state database down']);
    await expect(acks.waitForRoom(1)).rejects.toThrow('state database down');
  });
});
