import { postgresAvailable, terminateConnections, TestDatabase } from '../support/postgres.js';
import { clusterSuite } from './cluster.suite.js';

/** A database of its own per test on the shared server, dropped afterwards. */
let db: TestDatabase | undefined;

clusterSuite(
  {
    name: 'PostgreSQL',
    async prepare() {
      db = await TestDatabase.create('cluster');
      return ['--store', db.url];
    },
    async cleanup() {
      await db?.drop();
      db = undefined;
    },
    cutFanOut() {
      return terminateConnections(db!.url, 'rungate-listener');
    },
    // The change log lets a listener read on from the last change it saw: no resync needed.
    recoveredLine: 'change log listener reconnected; catching up',
  },
  await postgresAvailable(),
);
