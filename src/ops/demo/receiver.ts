/**
 * The demo's built-in receiver: checks both signatures of each request the way a real receiver should,
 * and prints the event readably.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyStandardWebhooks, verifyUndbSignature } from '../../delivery/signing.js';

export interface ReceivedEvent {
  name: string;
  verified: boolean;
}

export class DemoReceiver {
  readonly events: ReceivedEvent[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(secret: string, print: (line: string) => void): Promise<DemoReceiver> {
    let receiver!: DemoReceiver;
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const header = (name: string) => request.headers[name] as string | undefined;
        let envelope: Envelope;
        try {
          envelope = JSON.parse(body) as Envelope;
        } catch {
          response.writeHead(400).end('not JSON');
          return;
        }
        const undbOk = verifyUndbSignature(envelope.timestamp, body, header('x-undb-signature'), secret);
        const standardOk = verifyStandardWebhooks(header('webhook-id') ?? '', header('webhook-timestamp') ?? '', body, header('webhook-signature'), [secret]);
        const verified = undbOk && standardOk;
        receiver.events.push({ name: envelope.name, verified });
        print(describe(envelope, undbOk, standardOk, header('x-undb-attempt')));
        response.writeHead(verified ? 200 : 401).end(verified ? 'ok' : 'bad signature');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    receiver = new DemoReceiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/undb`);
    return receiver;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface Envelope {
  id: string;
  name: string;
  timestamp: string;
  operatorId: string | null;
  event: {
    tableName: string;
    record?: Record<string, unknown>;
    records?: Array<Record<string, unknown>>;
    updates?: Array<{ record: Record<string, unknown>; changedFields: string[] }>;
    changedFields?: string[];
    ids?: string[];
  };
}

function describe(envelope: Envelope, undbOk: boolean, standardOk: boolean, attempt: string | undefined): string {
  const { event } = envelope;
  const title = (record: Record<string, unknown> | undefined) => JSON.stringify(record?.Deal ?? record?.id ?? '?');
  let summary: string;
  if (event.updates) {
    summary = `${event.updates.length} records: ${event.updates.map((u) => `${title(u.record)} (${u.changedFields.join(', ')})`).join(', ')}`;
  } else if (event.records) {
    summary = `${event.records.length} records: ${event.records.map(title).join(', ')}`;
  } else if (event.changedFields) {
    const stage = (event.record?.Stage as { name?: string } | null)?.name;
    summary = `${title(event.record)} changed ${event.changedFields.join(', ')}${stage ? ` (Stage is now ${stage})` : ''}`;
  } else {
    summary = title(event.record);
  }
  const mark = (ok: boolean) => (ok ? 'ok' : 'FAILED');
  return (
    `  ⇐ ${envelope.name.padEnd(20)} ${event.tableName}: ${summary}\n` +
    `    id ${envelope.id}, attempt ${attempt ?? '?'}; x-undb-signature ${mark(undbOk)}, webhook-signature ${mark(standardOk)}`
  );
}
