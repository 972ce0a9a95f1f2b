/**
 * Request headers and signatures (events.md §5):
 * - x-undb-signature: `undb_` + HMAC-SHA256, keyed with the first secret, over JSON.stringify(timestamp +
 *   "." + body) — Undb 0.x's algorithm; for an `unsigned` subscription the unkeyed SHA-256 of the same
 *   text, which is what Undb 1.x sends. Verifiers written for either Undb keep working.
 * - Standard Webhooks: webhook-id, webhook-timestamp (this attempt), webhook-signature with one `v1,…`
 *   per secret (rotation); none for an unsigned subscription.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const USER_AGENT = `undb-relay/${process.env.npm_package_version ?? '0.1.0'}`;

export function undbSignature(envelopeTimestamp: string, body: string, secret: string | undefined): string {
  const input = JSON.stringify(`${envelopeTimestamp}.${body}`);
  const digest = secret === undefined ? createHash('sha256').update(input) : createHmac('sha256', Buffer.from(secret, 'utf8')).update(input);
  return `undb_${digest.digest('hex')}`;
}

/** The key of a Standard Webhooks secret: base64 after `whsec_`, else the secret's UTF-8 bytes. */
export function standardWebhooksKey(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
}

export function standardWebhooksSignature(id: string, timestampSeconds: number, body: string, secrets: string[]): string {
  return secrets
    .map((secret) => `v1,${createHmac('sha256', standardWebhooksKey(secret)).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`)
    .join(' ');
}

export interface SignedRequest {
  eventId: string;
  eventName: string;
  envelopeTimestamp: string;
  body: string;
  secrets: string[];
  unsigned: boolean;
  customHeaders: Record<string, string>;
  attemptId: string;
  attempt: number;
  nowMs: number;
}

/** Custom headers first; ours are set after, so a subscription cannot override them. */
export function requestHeaders(request: SignedRequest): Record<string, string> {
  const headers: Record<string, string> = { ...request.customHeaders };
  const timestamp = Math.floor(request.nowMs / 1000);
  Object.assign(headers, {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'x-undb-signature': undbSignature(request.envelopeTimestamp, request.body, request.unsigned ? undefined : request.secrets[0]),
    'webhook-id': request.eventId,
    'webhook-timestamp': String(timestamp),
    'x-undb-event': request.eventName,
    'x-undb-delivery': request.attemptId,
    'x-undb-attempt': String(request.attempt),
  });
  if (!request.unsigned && request.secrets.length) {
    headers['webhook-signature'] = standardWebhooksSignature(request.eventId, timestamp, request.body, request.secrets);
  }
  return headers;
}

/** For receivers (the demo's among them): whether x-undb-signature matches, in constant time. */
export function verifyUndbSignature(envelopeTimestamp: string, body: string, header: string | undefined, secret: string | undefined): boolean {
  return constantTimeEqual(header ?? '', undbSignature(envelopeTimestamp, body, secret));
}

/** Whether any `v1,` signature in webhook-signature matches one of the secrets. */
export function verifyStandardWebhooks(id: string, timestamp: string, body: string, header: string | undefined, secrets: string[]): boolean {
  const offered = (header ?? '').split(' ').filter(Boolean);
  return secrets.some((secret) => {
    const expected = standardWebhooksSignature(id, Number(timestamp), body, [secret]);
    return offered.some((signature) => constantTimeEqual(signature, expected));
  });
}

function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
