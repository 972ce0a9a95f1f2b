/**
 * Event ids are name-based UUIDs (RFC 9562 version 5) of the slot, the transaction's commit end LSN and the
 * event's position in the transaction: a retry, a replay after a crash or a redelivery carries the same id.
 */
import { createHash } from 'node:crypto';
import { formatLsn } from '../source/lsn.js';

// A fixed namespace of our own (a random v4 UUID chosen once for undb-relay).
const NAMESPACE = Buffer.from('6f1d2c3a9b7e4d5f8a0c1e2b3d4f5a6b', 'hex');

export function eventId(slot: string, commitEndLsn: bigint, ordinal: number): string {
  return nameBasedUuid(`${slot}/${formatLsn(commitEndLsn)}/${ordinal}`);
}

/** A stable id derived from another (a per-record undb-v1 event, a delivery). */
export function derivedId(parentId: string, key: string): string {
  return nameBasedUuid(`${parentId}/${key}`);
}

function nameBasedUuid(name: string): string {
  const hash = createHash('sha1').update(NAMESPACE).update(name).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
