import { describe, expect, it } from 'vitest';
import { eventId } from '../../src/events/eventId.js';
import { timestampToIso } from '../../src/undb/timestamps.js';

describe('timestamps without time zone', () => {
  it.each([
    ['2024-03-01 10:20:30.456789', 'UTC', '2024-03-01T10:20:30.456Z'],
    ['2024-03-01 10:20:30', 'Etc/UTC', '2024-03-01T10:20:30.000Z'],
    ['2024-01-15 12:00:00', 'Europe/Berlin', '2024-01-15T11:00:00.000Z'],
    ['2024-07-15 12:00:00', 'Europe/Berlin', '2024-07-15T10:00:00.000Z'],
    ['2024-07-15 12:00:00.5', 'America/New_York', '2024-07-15T16:00:00.500Z'],
    ['infinity', 'UTC', 'infinity'],
  ])('%s in %s is %s', (text, zone, iso) => {
    expect(timestampToIso(text, zone)).toBe(iso);
  });
});

describe('event ids', () => {
  it('are the same for the same slot, commit and position, and differ otherwise', () => {
    const id = eventId('undb_relay', 0x16b3748n, 0);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(eventId('undb_relay', 0x16b3748n, 0)).toBe(id);
    expect(new Set([id, eventId('undb_relay', 0x16b3748n, 1), eventId('undb_relay', 0x16b3749n, 0), eventId('other', 0x16b3748n, 0)]).size).toBe(4);
  });
});
