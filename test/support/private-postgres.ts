import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { answersQuery, POSTGRES_HOST, postgresUrl } from './postgres.js';

/** Debian's PostgreSQL binaries (initdb, pg_ctl), newest version first; undefined when none. */
function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((name) => existsSync(join(root, name, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

/**
 * Whether initdb and pg_ctl can be run. Under CI=true missing ones throw, so suites that start
 * their own server fail instead of being skipped (the same rule as postgresAvailable).
 */
export function postgresServerInstalled(): boolean {
  const installed = binDir() !== undefined;
  if (!installed && process.env.CI === 'true') {
    throw new Error('PostgreSQL (initdb, pg_ctl) is not installed, and under CI=true its tests must run (.ci/run installs it)');
  }
  return installed;
}

/** The uid and gid to run the server as: PostgreSQL refuses to run as root, so root hands it to `postgres`. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  const gid = id('-g');
  if (!Number.isInteger(uid) || uid <= 0) throw new Error('running as root, but there is no `postgres` user to run a private PostgreSQL as');
  return { uid, gid };
}

/**
 * A PostgreSQL server of the test's own: `initdb` into a fresh directory, `pg_ctl` on `port` of
 * 127.0.0.1, trust auth for `postgres`. As root (this machine, CI) the binaries run as the
 * `postgres` user through `setpriv` and the directory is handed to that user; as anyone else
 * they run as the caller. Never the shared server on 5432.
 */
export class PrivatePostgres {
  readonly dir: string;
  private readonly bin: string;
  private readonly user: { uid: number; gid: number } | undefined;

  constructor(readonly port: number) {
    const bin = binDir();
    if (!bin) throw new Error('PostgreSQL binaries not found under /usr/lib/postgresql');
    this.bin = bin;
    this.user = serverUser();
    this.dir = mkdtempSync(join(tmpdir(), 'rungate-private-pg-'));
    if (this.user) chownSync(this.dir, this.user.uid, this.user.gid);
  }

  /** `postgres://postgres@127.0.0.1:<port>/<database>`. */
  url(database = 'postgres'): string {
    return postgresUrl(database, this.port);
  }

  /** Creates the cluster (once) with settings for a small, quick test server. */
  init(): void {
    this.run('initdb', ['-D', this.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  }

  /** Starts the server and waits until it answers queries. */
  async start(timeoutMs = 20_000): Promise<void> {
    this.run('pg_ctl', [
      '-D', this.dataDir, '-l', this.logFile, '-w', '-t', String(Math.ceil(timeoutMs / 1000)),
      '-o', `-p ${this.port} -c listen_addresses=${POSTGRES_HOST} -k ${this.dir} -c max_connections=60 -c shared_buffers=16MB -c fsync=on`,
      'start',
    ]);
    const deadline = Date.now() + timeoutMs;
    while (!(await answersQuery(this.port, 500))) {
      if (Date.now() > deadline) throw new Error(`private PostgreSQL on ${this.port} does not answer: ${this.log().slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /**
   * Stops the server: `immediate` is a crash (no checkpoint, recovery from the WAL at the next
   * start), `fast` a clean shutdown. Both cut every client connection at once.
   */
  stop(mode: 'fast' | 'immediate' = 'fast'): void {
    if (!existsSync(join(this.dataDir, 'postmaster.pid'))) return;
    this.run('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', 'stop']);
  }

  /** Stops the server (if running) and removes its directory. */
  destroy(): void {
    try {
      this.stop('immediate');
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  /** The server's log so far (for failure messages). */
  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  private get dataDir(): string {
    return join(this.dir, 'data');
  }

  private get logFile(): string {
    return join(this.dir, 'server.log');
  }

  private run(program: string, args: string[]): void {
    const path = join(this.bin, program);
    const [command, argv] = this.user
      ? ['setpriv', [`--reuid=${this.user.uid}`, `--regid=${this.user.gid}`, '--clear-groups', '--', path, ...args]]
      : [path, args];
    const result = spawnSync(command, argv, { encoding: 'utf8', cwd: this.dir, env: { ...process.env, LC_ALL: 'C' } });
    if (result.status !== 0) {
      throw new Error(`${program} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stderr}${result.stdout} ${this.log().slice(-2000)}`);
    }
  }
}
