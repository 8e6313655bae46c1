// One measurement of the scale scenarios in a process of its own (so nothing else shares its
// event loop), `node bench/scale-worker.js '<json spec>'`, forked by bench-lib's startWorker:
//   { job: 'restart', store, args?: [...], secret, afterMs? }  start a gateway on a store that
//        holds unfinished runs: ms until startGateway resolved (it logs `listening` last), the
//        longest event-loop stall while it resumed (from its "resuming" debug line to
//        `listening`) and over the whole start (modules are loaded before the clock starts), how
//        many runs it resumed, and the longest stall in the `afterMs` that follow (first polls).
//   { job: 'prune', store, beforeMs }  open the store as the gateway does and prune finished
//        runs: how many went, how long it took, the longest stall meanwhile.
// The result comes as the `ready` message; the worker then waits for `stop`.
/* global process, setInterval, clearInterval */ // a Node script; the lint config has no Node globals for plain JS
import { fromDist, now, serveParent, sleep, startStallMonitor } from './bench-lib.js';

const spec = JSON.parse(process.argv[2] ?? '{}');
const DEAD_UPSTREAM = 'http://127.0.0.1:9/api/v1'; // discard port: nothing answers

/** Every lateness of a 5-ms interval timer, with when it fired (so stalls can be put in phases). */
function stallLog(periodMs = 5) {
  const events = [];
  let last = now();
  const timer = setInterval(() => {
    const at = now();
    events.push({ from: last + periodMs, at });
    last = at;
  }, periodMs);
  return {
    /** The longest stall within [fromMs, toMs] (a stall that began before fromMs counts from fromMs). */
    maxBetween: (fromMs, toMs) => events.reduce((max, e) => Math.max(max, Math.min(e.at, toMs) - Math.max(e.from, fromMs)), 0),
    stop: () => clearInterval(timer),
  };
}

async function restart() {
  const [{ pino }, { loadServeConfig }, { startGateway }] = await Promise.all([import('pino'), fromDist('config/serve-config.js'), fromDist('gateway.js')]);
  // The drivers are imported lazily by the gateway: load them too before the clock starts.
  await Promise.all([fromDist('store/sqlite-run-store.js'), fromDist('store/postgres-run-store.js'), fromDist('drivers.js')]);
  let resumed = 0;
  let resumingAt;
  let resumedAt;
  const lines = {
    write(line) {
      const entry = JSON.parse(line);
      if (entry.msg === 'resuming polling of unfinished runs') resumingAt = now();
      if (entry.msg === 'resumed polling of unfinished runs') {
        resumed = entry.runs;
        resumedAt = now();
      }
    },
  };
  const args = ['--port', '0', '--store', spec.store, '--upstream-url', DEAD_UPSTREAM, '--webhook-secret', spec.secret, '--log-level', 'debug', ...(spec.args ?? [])];
  const config = { ...loadServeConfig(args, {}), simulate: false };
  const stalls = stallLog();
  await sleep(50);
  const started = now();
  const gateway = await startGateway(config, pino({ level: 'debug' }, lines));
  const listening = now();
  await sleep(spec.afterMs ?? 2000);
  const after = now();
  stalls.stop();
  return {
    result: {
      startupMs: listening - started,
      resumeMs: (resumedAt ?? listening) - (resumingAt ?? listening),
      resumeStallMs: resumingAt === undefined ? 0 : stalls.maxBetween(resumingAt, resumedAt ?? listening),
      startupStallMs: stalls.maxBetween(started, listening),
      afterStallMs: stalls.maxBetween(listening, after),
      resumed,
    },
    close: () => gateway.close(),
  };
}

async function prune() {
  let store;
  if (spec.store.startsWith('sqlite:')) {
    const { SqliteRunStore } = await fromDist('store/sqlite-run-store.js');
    store = SqliteRunStore.open(spec.store.slice('sqlite:'.length));
  } else {
    const [{ createPostgresPool }, { PostgresRunStore }] = await Promise.all([fromDist('postgres/postgres-connection.js'), fromDist('store/postgres-run-store.js')]);
    store = new PostgresRunStore({ pool: createPostgresPool(spec.store), ownsPool: true });
  }
  const stalls = startStallMonitor(5);
  await sleep(50);
  stalls.takeMaxMs();
  const started = now();
  const removed = await store.pruneFinished(spec.beforeMs);
  const pruneMs = now() - started;
  const stallMs = stalls.takeMaxMs();
  stalls.stop();
  return { result: { removed, pruneMs, stallMs }, close: () => store.close() };
}

const jobs = { restart, prune };
const { result, close } = await jobs[spec.job]();
serveParent({}, close);
process.send({ type: 'ready', ...result });
