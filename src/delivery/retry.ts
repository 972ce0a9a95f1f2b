/**
 * What an attempt's outcome means, and when to try again.
 *   2xx: delivered. 429/503: retry, not before Retry-After. 408, 425, other 5xx, network errors and
 *   timeouts: retry with backoff. 410: dead, and the subscription is disabled. Other 3xx/4xx: dead (the
 *   receiver rejected this request; repeating it will not help). After maxAttempts: dead.
 */
export type Outcome =
  | { kind: 'delivered' }
  | { kind: 'retry'; notBeforeMs?: number }
  | { kind: 'dead'; disableSubscription?: boolean };

export function classify(status: number | undefined, retryAfter: string | undefined, nowMs: number): Outcome {
  if (status === undefined) return { kind: 'retry' };
  if (status >= 200 && status < 300) return { kind: 'delivered' };
  if (status === 410) return { kind: 'dead', disableSubscription: true };
  if (status === 429 || status === 503) {
    const notBeforeMs = retryAfterMs(retryAfter, nowMs);
    return notBeforeMs === undefined ? { kind: 'retry' } : { kind: 'retry', notBeforeMs };
  }
  if (status === 408 || status === 425 || status >= 500) return { kind: 'retry' };
  return { kind: 'dead' };
}

/** Retry-After as seconds or an HTTP date → an absolute time. */
export function retryAfterMs(header: string | undefined, nowMs: number): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return nowMs + Number(header.trim()) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : date;
}

/** Exponential backoff with full jitter: uniform in [initial, min(max, initial·2^(attempt-1))]. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(initialMs + random() * Math.max(0, ceiling - initialMs));
}
