import { SignJWT } from 'jose';
import { parseDurationSeconds } from '../config/duration.js';
import { describeOptions, parseOptions, type OptionTable } from '../config/option-parser.js';
import { ConfigError } from '../errors.js';
import { ID_PATTERN } from '../runs/run.js';

/** What the gateway's authenticator accepts (src/auth/authenticator.ts): checked here, not found out there. */
const MAX_SUBJECT_LENGTH = 256;
const MAX_RUNS_CLAIM = 10_000;
const MAX_TTL_SECONDS = 3650 * 86_400;
/** Below this the gateway warns that tokens are easy to forge. */
const SHORT_SECRET_LENGTH = 32;

const TOKEN_OPTIONS = {
  sub: {
    flag: 'sub', kind: 'string',
    check: (v: string) => (v.trim() === '' ? 'must not be empty' : v.length > MAX_SUBJECT_LENGTH ? `must be at most ${MAX_SUBJECT_LENGTH} characters` : undefined),
    help: 'the owner the token speaks for (its `sub` claim): runs it starts are its own',
  },
  admin: { flag: 'admin', kind: 'boolean', default: false, help: 'an admin token: reads and cancels every run, may subscribe to every flow' },
  runs: {
    flag: 'runs', kind: 'list',
    check: (v: string[]) => {
      if (v.length > MAX_RUNS_CLAIM) return `at most ${MAX_RUNS_CLAIM} run ids`;
      const bad = v.find((id) => !ID_PATTERN.test(id));
      return bad === undefined ? undefined : `'${bad}' is not a run id`;
    },
    help: "run ids the token may also read (comma-separated or repeated): its `runs` claim",
  },
  ttlSeconds: {
    flag: 'ttl', kind: 'string', default: '1h',
    check: (v: string) => {
      const seconds = parseDurationSeconds(v);
      if (seconds === undefined) return 'expected seconds or a number with a unit: 90s, 30m, 12h, 7d';
      return seconds < 1 || seconds > MAX_TTL_SECONDS ? 'must be between 1s and 3650d' : undefined;
    },
    to: (v: string): number => parseDurationSeconds(v) ?? 0,
    help: 'how long the token is valid: seconds, or with a unit (90s, 30m, 12h, 7d)',
  },
  jwtSecret: {
    flag: 'jwt-secret', env: 'RUNGATE_JWT_SECRET', kind: 'string',
    // The gateway refuses such a secret too; a token signed with it would open nothing.
    check: (v: string) => (v.trim() === '' ? 'must not be empty or only whitespace' : undefined),
    help: "the gateway's --jwt-secret; prefer the variable, which stays out of the shell's history and of ps",
  },
} satisfies OptionTable;

const HELP = `Usage: rungate token --sub OWNER [--admin] [--runs ID,…] [--ttl DURATION] [--jwt-secret S]

Prints an HS256 JWT on stdout for a gateway started with the same --jwt-secret (also read from
RUNGATE_JWT_SECRET). Example:

  export RUNGATE_JWT_SECRET=…          # the gateway's secret
  export RUNGATE_TOKEN=$(npx rungate token --sub alice --ttl 12h)
  curl -H "authorization: Bearer $RUNGATE_TOKEN" http://127.0.0.1:8080/api/v1/runs

Exit status: 0 printed, 64 usage error (no --sub, no secret, a bad value).

Flags:
${describeOptions(TOKEN_OPTIONS)}`;

/** Signs the token the gateway's authenticator accepts: `sub`, `iat`, `exp`, and `admin`/`runs` when given. */
export async function mintToken(options: { sub: string; admin: boolean; runs: readonly string[]; ttlSeconds: number; secret: string; nowMs?: number }): Promise<string> {
  const now = Math.floor((options.nowMs ?? Date.now()) / 1000);
  return new SignJWT({ ...(options.admin ? { admin: true } : {}), ...(options.runs.length > 0 ? { runs: [...options.runs] } : {}) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + options.ttlSeconds)
    .sign(new TextEncoder().encode(options.secret));
}

/** `rungate token`: mints a JWT for the gateway; a usage error throws ConfigError (exit 64). */
export async function tokenCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const { values } = parseOptions(TOKEN_OPTIONS, argv, process.env);
  if (values.sub === undefined) throw new ConfigError('--sub: required (the owner the token is for)');
  if (values.jwtSecret === undefined) throw new ConfigError("--jwt-secret: required (or RUNGATE_JWT_SECRET): the gateway's secret");
  if (values.jwtSecret.length < SHORT_SECRET_LENGTH) {
    process.stderr.write(`rungate token: the secret is shorter than ${SHORT_SECRET_LENGTH} characters; tokens signed with it are easier to forge\n`);
  }
  const token = await mintToken({ sub: values.sub, admin: values.admin, runs: values.runs, ttlSeconds: values.ttlSeconds, secret: values.jwtSecret });
  process.stdout.write(`${token}\n`);
  return 0;
}
