/**
 * A webhook receiver on 127.0.0.1 for tests: records every request, and can fail, delay or throttle.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
  at: number;
}

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  delayMs?: number;
}

export class Receiver {
  readonly requests: Received[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** Decides each reply; default 200. */
  reply: (request: Received, all: Received[]) => Reply = () => ({ status: 200 });
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<Receiver> {
    let receiver!: Receiver;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', async () => {
        receiver.inFlight += 1;
        receiver.maxInFlight = Math.max(receiver.maxInFlight, receiver.inFlight);
        const body = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        const request: Received = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, json, at: Date.now() };
        const reply = receiver.reply(request, receiver.requests);
        receiver.requests.push(request);
        if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
        receiver.inFlight -= 1;
        res.writeHead(reply.status ?? 200, reply.headers ?? {});
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    receiver = new Receiver(server, `http://127.0.0.1:${port}`);
    return receiver;
  }

  /** Requests so far that answered 2xx, by event id (webhook-id). */
  attemptsFor(eventId: string): Received[] {
    return this.requests.filter((request) => request.headers['webhook-id'] === eventId);
  }

  async until(predicate: (requests: Received[]) => boolean, timeoutMs = 20_000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.requests)) {
      if (Date.now() > deadline) {
        throw new Error(`receiver timed out with ${this.requests.length} requests: ${JSON.stringify(this.requests.map((r) => [r.headers['x-undb-event'], r.headers['x-undb-attempt']]).slice(-10))}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    return this.requests;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
