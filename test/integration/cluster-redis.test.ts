import { deletePrefix, killClientsNamed, redisAvailable, redisUrl, testRedis, uniquePrefix } from '../support/redis.js';
import { clusterSuite } from './cluster.suite.js';

/** Not db 0, so the URL's database number is exercised. */
const DB = 2;
let prefix = '';

clusterSuite(
  {
    name: 'Redis',
    prepare() {
      prefix = uniquePrefix('cluster');
      return Promise.resolve(['--store', redisUrl(DB), '--redis-prefix', prefix]);
    },
    async cleanup() {
      // Only this test's keys: an empty prefix would match everyone's.
      if (prefix === '') return;
      const admin = testRedis(DB);
      try {
        await deletePrefix(admin, prefix);
      } finally {
        await admin.quit();
        prefix = '';
      }
    },
    async cutFanOut() {
      const admin = testRedis(DB);
      try {
        return await killClientsNamed(admin, `${prefix}subscriber`);
      } finally {
        await admin.quit();
      }
    },
    recoveredLine: 'resynchronised subscribers from the store',
  },
  await redisAvailable(),
);
