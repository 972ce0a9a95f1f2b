/**
 * /metrics (Prometheus), /healthz (the process answers) and /readyz (streaming, and the slot retains less
 * WAL than slot.maxRetainedWalBytes) on http.port; 0 turns them off.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import { Counter, Gauge, Registry } from 'prom-client';
import type { RelayConfig } from '../config/schema.js';
import type { Logger } from './log.js';
import type { Relay } from './relay.js';
import { statusReport } from './status.js';

export class OpsServer {
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(relay: Relay, config: RelayConfig, source: pg.Pool, state: pg.Pool, log: Logger): Promise<OpsServer | undefined> {
    if (config.http.port === 0) return undefined;
    const registry = metrics(relay, config, source, state);
    const server = createServer((request, response) => {
      void (async () => {
        try {
          if (request.url === '/metrics') {
            response.writeHead(200, { 'content-type': registry.contentType });
            response.end(await registry.metrics());
          } else if (request.url === '/healthz') {
            response.writeHead(200, { 'content-type': 'application/json' });
            response.end('{"status":"ok"}');
          } else if (request.url === '/readyz') {
            const reasons = await notReady(relay, config, source);
            response.writeHead(reasons.length ? 503 : 200, { 'content-type': 'application/json' });
            response.end(JSON.stringify({ status: reasons.length ? 'not ready' : 'ready', reasons }));
          } else {
            response.writeHead(404).end();
          }
        } catch (error) {
          response.writeHead(500, { 'content-type': 'text/plain' }).end((error as Error).message);
        }
      })();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'EADDRINUSE' ? new Error(`http.port ${config.http.port} is taken: set another port, or 0 to turn the endpoints off`) : error),
      );
      server.listen(config.http.port, resolve);
    });
    const { port } = server.address() as AddressInfo;
    log.info({ port }, 'serving /metrics, /healthz and /readyz');
    return new OpsServer(server, port);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

async function notReady(relay: Relay, config: RelayConfig, source: pg.Pool): Promise<string[]> {
  const reasons: string[] = [];
  if (!relay.capture.status.connected) reasons.push(`not streaming from the slot${relay.capture.status.lastError ? `: ${relay.capture.status.lastError}` : ''}`);
  const { rows } = await source.query(
    `select coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint as retained from pg_replication_slots where slot_name = $1`,
    [config.database.slot],
  );
  const retained = Number(rows[0]?.retained ?? 0);
  if (retained > config.slot.maxRetainedWalBytes) {
    reasons.push(`the slot retains ${retained} bytes of WAL, more than slot.maxRetainedWalBytes (${config.slot.maxRetainedWalBytes})`);
  }
  return reasons;
}

function metrics(relay: Relay, config: RelayConfig, source: pg.Pool, state: pg.Pool): Registry {
  const registry = new Registry();
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(read()); } });
  counter('undb_relay_transactions_total', 'Transactions read from the slot', () => relay.activity.transactions);
  counter('undb_relay_events_total', 'Events built', () => relay.activity.events);
  counter('undb_relay_deliveries_queued_total', 'Deliveries written to the outbox', () => relay.activity.deliveriesQueued);
  counter('undb_relay_deliveries_delivered_total', 'Deliveries a receiver accepted', () => relay.dispatcher.stats.delivered);
  counter('undb_relay_delivery_attempts_failed_total', 'Failed delivery attempts', () => relay.dispatcher.stats.failedAttempts);
  counter('undb_relay_deliveries_dead_total', 'Deliveries given up on (redeliverable)', () => relay.dispatcher.stats.dead);
  new Gauge({ name: 'undb_relay_requests_in_flight', help: 'Requests in flight', registers: [registry], collect() { this.set(relay.dispatcher.stats.inFlight); } });
  new Gauge({
    name: 'undb_relay_up',
    help: '1 while streaming from the slot',
    registers: [registry],
    collect() {
      this.set(relay.capture.status.connected ? 1 : 0);
    },
  });
  const outbox = new Gauge({ name: 'undb_relay_outbox_deliveries', help: 'Deliveries not yet delivered', labelNames: ['subscription', 'status'], registers: [registry] });
  const problems = new Gauge({ name: 'undb_relay_subscription_problems', help: 'Subscriptions left out because of a problem', registers: [registry] });
  const circuits = new Gauge({ name: 'undb_relay_circuit_open', help: '1 when the origin circuit is open or half-open', labelNames: ['origin'], registers: [registry] });
  // Database-backed figures are read when Prometheus scrapes.
  new Gauge({
    name: 'undb_relay_slot_bytes',
    help: 'Slot lag and retained WAL, bytes',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      const report = await statusReport(source, state, config, { subscriptions: false });
      this.set({ kind: 'lag' }, report.slot?.lag_bytes ?? 0);
      this.set({ kind: 'retained' }, report.slot?.retained_bytes ?? 0);
      outbox.reset();
      for (const row of report.bySubscription) outbox.set({ subscription: row.subscription_id, status: row.status }, row.count);
      problems.set(relay.registry.problems.length);
      circuits.reset();
      for (const [origin, circuit] of Object.entries(relay.dispatcher.circuitStates())) circuits.set({ origin }, circuit === 'closed' ? 0 : 1);
    },
  });
  return registry;
}
