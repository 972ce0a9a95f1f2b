import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../src/delivery/circuitBreaker.js';
import { isPrivateAddress } from '../../src/delivery/http.js';
import { backoffMs, classify, retryAfterMs } from '../../src/delivery/retry.js';
import { undbSignature, verifyStandardWebhooks, verifyUndbSignature, requestHeaders } from '../../src/delivery/signing.js';

describe('what an attempt’s outcome means', () => {
  const now = Date.UTC(2026, 10, 27, 12);
  it.each([
    [200, undefined, { kind: 'delivered' }],
    [204, undefined, { kind: 'delivered' }],
    [500, undefined, { kind: 'retry' }],
    [502, undefined, { kind: 'retry' }],
    [408, undefined, { kind: 'retry' }],
    [429, '2', { kind: 'retry', notBeforeMs: now + 2000 }],
    [503, 'Fri, 27 Nov 2026 12:01:00 GMT', { kind: 'retry', notBeforeMs: now + 60_000 }],
    [undefined, undefined, { kind: 'retry' }],
    [301, undefined, { kind: 'dead' }],
    [400, undefined, { kind: 'dead' }],
    [404, undefined, { kind: 'dead' }],
    [410, undefined, { kind: 'dead', disableSubscription: true }],
  ])('HTTP %s (Retry-After %s) → %j', (status, retryAfter, outcome) => {
    expect(classify(status, retryAfter, now)).toEqual(outcome);
  });

  it('reads Retry-After as seconds or an HTTP date, and ignores nonsense', () => {
    expect(retryAfterMs('120', 0)).toBe(120_000);
    expect(retryAfterMs('soon', 0)).toBeUndefined();
  });

  it('backs off exponentially with full jitter between the initial and the capped delay', () => {
    expect(backoffMs(1, 1000, 60_000, () => 1)).toBe(1000);
    expect(backoffMs(4, 1000, 60_000, () => 1)).toBe(8000);
    expect(backoffMs(4, 1000, 60_000, () => 0)).toBe(1000);
    expect(backoffMs(30, 1000, 60_000, () => 1)).toBe(60_000);
  });
});

describe('circuit breaker per origin', () => {
  it('opens after the threshold, lets one probe through after the cooldown, and closes on its success', () => {
    const breaker = new CircuitBreaker(3, 30_000);
    for (let i = 0; i < 3; i++) {
      expect(breaker.tryAcquire(i)).toBe(true);
      breaker.failure(i);
    }
    expect(breaker.state(10)).toBe('open');
    expect(breaker.tryAcquire(10)).toBe(false);
    expect(breaker.retryAt(10)).toBe(30_002);
    expect(breaker.tryAcquire(30_003)).toBe(true); // the probe
    expect(breaker.tryAcquire(30_004)).toBe(false); // only one
    breaker.success();
    expect(breaker.state(30_005)).toBe('closed');
  });

  it('opens again when the probe fails', () => {
    const breaker = new CircuitBreaker(1, 1000);
    breaker.failure(0);
    expect(breaker.tryAcquire(1000)).toBe(true);
    breaker.failure(1000);
    expect(breaker.tryAcquire(1500)).toBe(false);
  });
});

describe('private targets', () => {
  it.each([
    ['127.0.0.1', true], ['10.1.2.3', true], ['172.20.0.1', true], ['192.168.1.1', true], ['169.254.169.254', true],
    ['100.64.0.1', true], ['0.0.0.0', true], ['::1', true], ['fd00::1', true], ['fe80::1', true], ['::ffff:127.0.0.1', true],
    ['93.184.216.34', false], ['172.32.0.1', false], ['2606:4700::1111', false],
  ])('%s is private: %s', (address, expected) => {
    expect(isPrivateAddress(address)).toBe(expected);
  });
});

describe('signatures', () => {
  const body = '{"id":"e1","timestamp":"2026-11-27T12:00:00.000Z"}';
  it('verifies what it signs, and rejects a changed body or another secret', () => {
    const headers = requestHeaders({
      eventId: 'e1', eventName: 'record.created', envelopeTimestamp: '2026-11-27T12:00:00.000Z', body, secrets: ['new', 'old'],
      unsigned: false, customHeaders: { 'x-undb-signature': 'forged', 'x-team': 'a' }, attemptId: 'a1', attempt: 1, nowMs: 1_800_000_000_000,
    });
    expect(headers['x-team']).toBe('a');
    expect(verifyUndbSignature('2026-11-27T12:00:00.000Z', body, headers['x-undb-signature'], 'new')).toBe(true);
    expect(verifyUndbSignature('2026-11-27T12:00:00.000Z', `${body} `, headers['x-undb-signature'], 'new')).toBe(false);
    expect(verifyStandardWebhooks('e1', headers['webhook-timestamp']!, body, headers['webhook-signature'], ['old'])).toBe(true);
    expect(verifyStandardWebhooks('e1', headers['webhook-timestamp']!, body, headers['webhook-signature'], ['other'])).toBe(false);
  });

  it('signs an unsigned subscription with Undb 1.x’s unkeyed hash and no webhook-signature', () => {
    const headers = requestHeaders({
      eventId: 'e1', eventName: 'record.created', envelopeTimestamp: 't', body, secrets: [], unsigned: true,
      customHeaders: {}, attemptId: 'a1', attempt: 1, nowMs: 0,
    });
    expect(headers['x-undb-signature']).toBe(undbSignature('t', body, undefined));
    expect(headers['webhook-signature']).toBeUndefined();
  });
});
