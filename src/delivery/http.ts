/**
 * Sending one request: undici with keep-alive pools and a timeout. Subscriptions read from the database
 * are untrusted input, so their requests go through an agent that refuses loopback, private, link-local
 * and other internal addresses (checked on the resolved address, so DNS cannot smuggle them in) unless
 * `delivery.allowPrivateNetworks` or `delivery.allowHosts` permit them. YAML subscriptions are trusted.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { Agent, request } from 'undici';

export interface HttpResult {
  status?: number;
  retryAfter?: string;
  error?: string;
}

export interface HttpOptions {
  timeoutMs: number;
  perEndpoint: number;
  allowPrivateNetworks: boolean;
  allowHosts: string[];
}

export class PrivateAddressError extends Error {}

export function isPrivateAddress(address: string): boolean {
  const mapped = address.toLowerCase().startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(mapped) === 4) {
    const [a, b] = mapped.split('.').map(Number) as [number, number];
    return (
      a === 0 || a === 10 || a === 127 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || a >= 224
    );
  }
  const v6 = mapped.toLowerCase();
  return v6 === '::' || v6 === '::1' || /^f[cd]/.test(v6) || /^fe[89ab]/.test(v6) || v6.startsWith('ff');
}

export class HttpSender {
  private readonly trusted: Agent;
  private readonly guarded: Agent;

  constructor(private readonly options: HttpOptions) {
    const common = { keepAliveTimeout: 30_000, connections: options.perEndpoint, connect: { timeout: options.timeoutMs } };
    this.trusted = new Agent(common);
    this.guarded = new Agent({ ...common, connect: { ...common.connect, lookup: this.guardedLookup } });
  }

  async send(url: string, method: string, headers: Record<string, string>, body: string, trusted: boolean): Promise<HttpResult> {
    if (!trusted) {
      const refusal = this.refusal(url);
      if (refusal) return { error: refusal };
    }
    try {
      const response = await request(url, {
        method: method as 'POST',
        headers,
        body,
        dispatcher: trusted ? this.trusted : this.guarded,
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      const retryAfter = response.headers['retry-after'];
      return { status: response.statusCode, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter };
    } catch (error) {
      const err = error as Error & { code?: string; cause?: Error };
      if (err instanceof PrivateAddressError || err.cause instanceof PrivateAddressError) return { error: (err.cause ?? err).message };
      if (err.name === 'TimeoutError' || err.code === 'UND_ERR_HEADERS_TIMEOUT' || err.code === 'UND_ERR_BODY_TIMEOUT') {
        return { error: `no answer within ${this.options.timeoutMs} ms (delivery.timeoutMs)` };
      }
      return { error: `${err.code ? `${err.code}: ` : ''}${err.message}` };
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.trusted.close(), this.guarded.close()]);
  }

  /** For URLs whose host is a literal address (no lookup happens for those). */
  private refusal(url: string): string | undefined {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    if (this.allowed(host) || !isIP(host) || !isPrivateAddress(host)) return undefined;
    return refusalMessage(host, host);
  }

  private allowed(host: string): boolean {
    return this.options.allowPrivateNetworks || this.options.allowHosts.includes(host);
  }

  private readonly guardedLookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const list = addresses as LookupAddress[];
      const blocked = list.find((entry) => isPrivateAddress(entry.address));
      if (blocked && !this.allowed(hostname)) {
        return callback(new PrivateAddressError(refusalMessage(hostname, blocked.address)), '', 0);
      }
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      return callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

function refusalMessage(host: string, address: string): string {
  return (
    `refused: ${host} resolves to ${address}, a loopback/private/link-local address, and this subscription comes from ` +
    'the database. Allow it with delivery.allowHosts or delivery.allowPrivateNetworks: true'
  );
}
