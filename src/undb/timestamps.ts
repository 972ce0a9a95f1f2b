/**
 * Undb's timestamps are `timestamp without time zone`: wall-clock text in the server's TimeZone
 * (CURRENT_TIMESTAMP for createdAt/updatedAt; user dates are sent as timestamptz and cast). We read them
 * in that zone and emit ISO 8601 UTC with milliseconds.
 */
const UTC_NAMES = new Set(['UTC', 'ETC/UTC', 'GMT', 'ETC/GMT', 'Z', 'UCT', 'ETC/UCT', 'ZULU', 'UNIVERSAL']);
const PATTERN = /^(\d{4,})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?( BC)?$/;

export function timestampToIso(text: string, timeZone: string): string {
  const match = PATTERN.exec(text);
  if (!match || match[8]) return text; // infinity, BC dates: pass through as Postgres wrote them
  const [, y, mo, d, h, mi, s, frac] = match;
  const ms = frac ? Number(frac.padEnd(3, '0').slice(0, 3)) : 0;
  const wallClock = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  return new Date(wallClock - offsetMs(wallClock, timeZone)).toISOString();
}

/** The zone's UTC offset at the instant whose local wall clock reads `wallClock` (DST-aware). */
function offsetMs(wallClock: number, timeZone: string): number {
  if (UTC_NAMES.has(timeZone.toUpperCase())) return 0;
  const first = zoneOffsetAt(wallClock, timeZone);
  const second = zoneOffsetAt(wallClock - first, timeZone);
  return second;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function zoneOffsetAt(instant: number, timeZone: string): number {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, formatter);
  }
  const parts: Record<string, number> = {};
  for (const part of formatter.formatToParts(new Date(instant))) parts[part.type] = Number(part.value);
  const asUtc = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return asUtc - Math.floor(instant / 1000) * 1000;
}

/** Whether this runtime can convert from the zone; the relay checks the server's TimeZone once at start. */
export function isSupportedTimeZone(timeZone: string): boolean {
  if (UTC_NAMES.has(timeZone.toUpperCase())) return true;
  try {
    zoneOffsetAt(Date.now(), timeZone);
    return true;
  } catch {
    return false;
  }
}
