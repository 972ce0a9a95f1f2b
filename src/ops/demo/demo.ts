/**
 * `undb-relay demo`: the whole relay on a throwaway embedded Postgres, with no setup. An Undb database laid
 * out as Undb does it, a built-in receiver that checks signatures, the relay with config/demo.yaml, and a
 * scripted series of edits producing each of the six events. Ctrl-C stops everything and removes the files.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../config/load.js';
import { embeddedBinDir, LocalPostgres } from '../localPostgres.js';
import { createLogger } from '../log.js';
import { Relay } from '../relay.js';
import { DemoReceiver } from './receiver.js';
import { UndbDatabase, type TableHandle } from './undbDatabase.js';

const DEMO_CONFIG = fileURLToPath(new URL('../../../config/demo.yaml', import.meta.url));

export interface DemoOptions {
  keepRunning: boolean;
  print?: (line: string) => void;
}

export async function demo({ keepRunning, print = (line) => console.log(line) }: DemoOptions): Promise<number> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const cleanUp = async () => {
    for (const step of cleanups.splice(0).reverse()) await step().catch(() => undefined);
  };
  const interrupted = new Promise<'interrupted'>((resolve) => {
    process.once('SIGINT', () => resolve('interrupted'));
    process.once('SIGTERM', () => resolve('interrupted'));
  });
  try {
    print('undb-relay demo: Undb on an embedded Postgres → undb-relay → a built-in webhook receiver\n');
    const server = await LocalPostgres.start({ binDir: await embeddedBinDir() });
    cleanups.push(() => server.stop());
    print(`• started an embedded Postgres (wal_level=logical) in ${server.dataDir}`);
    const undb = await UndbDatabase.create(server.url());
    cleanups.push(() => undb.close());
    print('• creating an Undb database: tables "Contacts" and "Deal Tracker", laid out exactly as Undb does');
    const { deals, contacts, alice, bob } = await createDemoTables(undb);

    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    const receiver = await DemoReceiver.start(secret, print);
    cleanups.push(() => receiver.stop());
    print(`• receiver listening on ${receiver.url}: it checks x-undb-signature and webhook-signature`);
    const config = loadConfig(DEMO_CONFIG, { ...process.env, DATABASE_URL: server.url(), DEMO_RECEIVER_URL: receiver.url, DEMO_SECRET: secret });
    const relay = await Relay.start(config, createLogger({ level: process.env.LOG_LEVEL ?? 'warn' }));
    cleanups.push(() => relay.stop());
    print(`• undb-relay running (config/demo.yaml): slot "${config.database.slot}", subscription "demo-receiver"\n`);

    const steps = script(undb, deals, contacts, alice, bob);
    for (const [index, step] of steps.entries()) {
      print(`→ ${index + 1}/${steps.length} ${step.says}`);
      const before = receiver.events.length;
      await step.run();
      const arrived = await Promise.race([waitFor(() => receiver.events.length > before, 30_000), interrupted]);
      if (arrived === 'interrupted') return 0;
      if (!arrived) throw new Error(`no event arrived for step ${index + 1} within 30 s`);
    }
    const names = new Set(receiver.events.map((event) => event.name));
    const allVerified = receiver.events.every((event) => event.verified);
    print(
      `\n✓ ${receiver.events.length} events received, ${names.size} kinds (${[...names].join(', ')}); ` +
        `${allVerified ? 'every signature verified' : 'SOME SIGNATURES FAILED'}.`,
    );
    if (!keepRunning) {
      print('Point it at your own Undb: DATABASE_URL=postgres://… npm start (README: "Connecting to an existing Undb").');
      return allVerified ? 0 : 1;
    }
    print(`\nStill running. Edit the Undb database yourself and watch events arrive:\n  psql ${server.url()}\nCtrl-C stops everything and removes the temporary files.`);
    await interrupted;
    return 0;
  } finally {
    print('\nstopping: relay, receiver, Postgres; removing temporary files');
    await cleanUp();
  }
}

async function createDemoTables(undb: UndbDatabase) {
  const alice = await undb.addUser('alice');
  const bob = await undb.addUser('bob');
  const contacts = await undb.createTable('Contacts', [
    { name: 'Name', type: 'string', display: true },
    { name: 'Email', type: 'email' },
  ]);
  const deals = await undb.createTable('Deal Tracker', [
    { name: 'Deal', type: 'string', display: true },
    { name: 'Stage', type: 'select', single: true, options: ['Discovery', 'Proposal', 'Won', 'Lost'] },
    { name: 'Tags', type: 'select', options: ['enterprise', 'renewal', 'urgent'] },
    { name: 'Owner', type: 'user', single: true },
    { name: 'Deal Value', type: 'currency' },
    { name: 'Deal Length', type: 'dateRange' },
    { name: 'Contacts', type: 'reference', references: contacts, symmetricName: 'Deals' },
    { name: 'Files', type: 'attachment' },
    { name: 'Details', type: 'json' },
  ]);
  return { deals, contacts, alice, bob };
}

function script(undb: UndbDatabase, deals: TableHandle, contacts: TableHandle, alice: string, bob: string) {
  let first = '';
  let batch: string[] = [];
  const deal = (name: string, stage: string, value: number) => ({
    Deal: name,
    Stage: stage,
    Tags: ['enterprise'],
    Owner: alice,
    'Deal Value': value,
    'Deal Length': [new Date('2026-12-01T00:00:00Z'), new Date('2027-03-01T00:00:00Z')],
    Files: [{ id: 'att1', url: '/files/proposal.pdf', name: 'proposal.pdf', token: 't', size: 48213, type: 'application/pdf' }],
    Details: { source: 'demo' },
  });
  return [
    {
      says: 'alice creates the deal "Acme renewal", linked to the contact Carol (one record: record.created)',
      run: async () => {
        const carol = await undb.createRecord(contacts, { Name: 'Carol', Email: 'carol@acme.test' }, { userId: alice });
        first = await undb.createRecord(deals, { ...deal('Acme renewal', 'Discovery', 12500), Contacts: [carol] }, { userId: alice });
      },
    },
    {
      says: 'bob moves it to Proposal (record.updated, with the previous values and changedFields)',
      run: () => undb.updateRecords(deals, [first], { Stage: 'Proposal' }, { userId: bob }),
    },
    {
      says: 'alice imports three deals in one transaction (record.bulk_created)',
      run: async () => {
        batch = await undb.insertRecords(
          deals,
          [deal('Globex pilot', 'Discovery', 8000), deal('Initech upgrade', 'Discovery', 4200), deal('Umbrella audit', 'Discovery', 15000)],
          { userId: alice },
        );
      },
    },
    {
      says: 'bob marks all three Won in one update (record.bulk_updated)',
      run: () => undb.updateRecords(deals, batch, { Stage: 'Won' }, { userId: bob }),
    },
    {
      says: 'alice deletes "Acme renewal" (record.deleted, carrying the values it had)',
      run: () => undb.deleteRecords(deals, [first], { userId: alice }),
    },
    {
      says: 'bob deletes the three imported deals at once (record.bulk_deleted)',
      run: () => undb.deleteRecords(deals, batch, { userId: bob }),
    },
  ];
}

async function waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}
