/**
 * Starts the Postgres servers every integration test file uses: the embedded Postgres 18 from npm, and
 * Debian's Postgres 15 when its server binaries are installed. Each test creates its own database in them.
 * Teardown stops both, whatever the tests did.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { DEBIAN_PG15_BIN, embeddedBinDir, LocalPostgres } from '../../src/ops/localPostgres.js';

export interface TestServer {
  name: string;
  url: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    servers: TestServer[];
  }
}

export default async function setup(project: TestProject) {
  const binDirs: Array<[string, string]> = [['pg18', await embeddedBinDir()]];
  if (existsSync(join(DEBIAN_PG15_BIN, 'postgres'))) binDirs.push(['pg15', DEBIAN_PG15_BIN]);
  const started = await Promise.all(
    binDirs.map(async ([name, binDir]) => {
      const server = await LocalPostgres.start({
        binDir,
        // fsync off: these clusters are thrown away; crash tests kill the relay, never Postgres.
        settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: 300 },
      });
      return { name, server };
    }),
  );
  project.provide(
    'servers',
    started.map(({ name, server }) => ({ name, url: server.url() })),
  );
  return async () => {
    await Promise.all(started.map(({ server }) => server.stop()));
  };
}
