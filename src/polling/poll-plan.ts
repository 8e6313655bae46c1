/** What a flow's poll plan is computed from (ages are ms since the gateway started tracking a run). */
export interface PollPlanInput {
  /** Ages at which runs of the flow were seen to reach a final state. */
  events: readonly number[];
  /** Ages at which runs were seen still unfinished by a poll, for runs not seen final since. */
  censored: readonly number[];
  /**
   * Ages at which final webhooks arrived. A run's webhook comes some time after its end (more on
   * a loaded machine): a poll in between finds the run final and is wasted all the same. Without
   * them the runs' end ages stand in.
   */
  arrivals?: readonly number[];
  /** The share of runs whose final webhook goes missing, 0..1. */
  missRate: number;
  /** The earliest age a poll may come at. */
  firstMs: number;
  /** The conservative grace: the plan's last point, after which polls back off geometrically. */
  lastMs: number;
  /**
   * The exchange rates of the trade: how many ms of a lost run's delay one poll that finds a run
   * still running is worth, when that run's webhook then goes missing too (the poll was part of
   * recovering it) and when the webhook then arrives (the poll was for nothing).
   */
  prices: PollPrices;
}

export interface PollPrices {
  lostRunPollMs: number;
  arrivingRunPollMs: number;
}

/** When to poll a run that is not yet known final, and what that is expected to cost. */
export interface PollPlan {
  /** Ascending ages of the polls, the last one `lastMs`. */
  agesMs: number[];
  /** Upstream GETs per run the plan is expected to make (final polls of lost runs included). */
  expectedGets: number;
  /** Mean delay from a lost run's end to the poll that finds it, for runs ending inside the plan. */
  expectedLostDelayMs: number;
}

/** Grid steps between firstMs and lastMs the plan's polls are chosen from. */
const GRID_STEPS = 64;
/** Point masses the unseen tail (runs longer than any seen) is spread over. */
const TAIL_POINTS = 8;

/**
 * Chooses poll ages that minimise, per run, `missRate × (delay of a lost run + lostRunPollMs ×
 * polls that find it still running) + (1 − missRate) × arrivingRunPollMs × polls that come
 * before its webhook`. With every
 * webhook lost the delay weighs fully and an early poll is cheap, so polls gather at the likely
 * completion times; as the miss rate falls each early poll buys less and mostly costs runs whose
 * webhook arrives, so the plan thins to one poll just past the longest runs, then (no miss seen)
 * to the conservative grace alone. The run duration distribution is the Kaplan–Meier estimate from `events` and `censored`, plus one
 * pseudo-run longer than any seen (spread up to `lastMs`), so a short history never claims that
 * no run lasts longer than its longest. Dynamic programming over a grid: O(GRID_STEPS²).
 */
export function planPolls(input: PollPlanInput): PollPlan {
  const firstMs = Math.max(0, Math.min(input.firstMs, input.lastMs));
  const lastMs = Math.max(0, input.lastMs);
  const missRate = Math.min(1, Math.max(0, input.missRate));
  const masses = durationMasses(input.events, input.censored, lastMs);
  const arrivals = input.arrivals && input.arrivals.length > 0 ? durationMasses(input.arrivals, input.censored, lastMs) : masses;
  if (lastMs - firstMs < 1 || missRate === 0) return summarise([lastMs], masses, arrivals, missRate);

  const steps = Math.min(GRID_STEPS, Math.floor(lastMs - firstMs));
  const grid = Array.from({ length: steps + 1 }, (_, k) => Math.round(firstMs + ((lastMs - firstMs) * k) / steps));
  // Prefix sums at each grid point: mass ended by then, and that mass times its age.
  const ended: number[] = [];
  const endedAge: number[] = [];
  const arrived: number[] = [];
  let index = 0;
  let mass = 0;
  let massAge = 0;
  let arrivalIndex = 0;
  let arrivedMass = 0;
  for (const at of grid) {
    while (index < masses.length && masses[index]!.ageMs <= at) {
      mass += masses[index]!.mass;
      massAge += masses[index]!.mass * masses[index]!.ageMs;
      index++;
    }
    while (arrivalIndex < arrivals.length && arrivals[arrivalIndex]!.ageMs <= at) arrivedMass += arrivals[arrivalIndex++]!.mass;
    ended.push(mass);
    endedAge.push(massAge);
    arrived.push(arrivedMass);
  }
  const { lostRunPollMs, arrivingRunPollMs } = input.prices;
  const cost: number[] = new Array<number>(grid.length).fill(Infinity);
  const previous: number[] = new Array<number>(grid.length).fill(-1);
  for (let k = 0; k < grid.length; k++) {
    const at = grid[k]!;
    // Polls that find a lost run still running, and polls for runs whose webhook has yet to come.
    const wasted = missRate * lostRunPollMs * Math.max(0, 1 - ended[k]!) + (1 - missRate) * arrivingRunPollMs * Math.max(0, 1 - arrived[k]!);
    // The first poll at `at`: it finds every lost run that ended before.
    cost[k] = missRate * (at * ended[k]! - endedAge[k]!) + wasted;
    for (let j = 0; j < k; j++) {
      const delay = at * (ended[k]! - ended[j]!) - (endedAge[k]! - endedAge[j]!);
      const total = cost[j]! + missRate * delay + wasted;
      if (total < cost[k]!) {
        cost[k] = total;
        previous[k] = j;
      }
    }
  }
  const ages: number[] = [];
  for (let k = grid.length - 1; k >= 0; k = previous[k]!) ages.unshift(grid[k]!);
  return summarise(ages, masses, arrivals, missRate);
}

interface Mass {
  ageMs: number;
  mass: number;
}

/** Kaplan–Meier: the final ages as ascending point masses (summing to 1 less what censoring left unassigned). */
function kaplanMeier(events: readonly number[], censored: readonly number[]): { masses: Mass[]; longestMs: number } {
  const observations = [...events.map((ageMs) => ({ ageMs, final: true })), ...censored.map((ageMs) => ({ ageMs, final: false }))];
  // Ties: events first, so a run censored at the same age still counts as at risk for them.
  observations.sort((a, b) => a.ageMs - b.ageMs || (a.final === b.final ? 0 : a.final ? -1 : 1));
  const masses: Mass[] = [];
  let survival = 1;
  let atRisk = observations.length;
  for (const observation of observations) {
    if (observation.final) {
      const mass = survival / atRisk;
      masses.push({ ageMs: observation.ageMs, mass });
      survival -= mass;
    }
    atRisk--;
  }
  return { masses, longestMs: observations.length > 0 ? observations[observations.length - 1]!.ageMs : 0 };
}

/**
 * The age by which a share `q` of runs end, by Kaplan–Meier; when runs seen still running leave
 * that share unreached, the longest age seen (a run lasts at least that long).
 */
export function durationQuantileMs(events: readonly number[], censored: readonly number[], q: number): number {
  const { masses, longestMs } = kaplanMeier(events, censored);
  let ended = 0;
  for (const { ageMs, mass } of masses) {
    ended += mass;
    if (ended >= q - 1e-9) return ageMs;
  }
  return longestMs;
}

/**
 * The duration distribution as ascending point masses summing to 1: Kaplan–Meier scaled by
 * n/(n+1) to leave room for one unseen longer run; that room and whatever censoring left
 * unassigned go to the tail, spread evenly above the last age seen up to `lastMs` (or just past
 * it when the history already reaches that far).
 */
function durationMasses(events: readonly number[], censored: readonly number[], lastMs: number): Mass[] {
  const { masses: found, longestMs } = kaplanMeier(events, censored);
  const scale = events.length / (events.length + 1);
  const masses = found.map(({ ageMs, mass }) => ({ ageMs, mass: mass * scale }));
  const tail = 1 - masses.reduce((sum, m) => sum + m.mass, 0);
  if (tail > 1e-9) {
    if (longestMs >= lastMs) masses.push({ ageMs: longestMs + 1, mass: tail });
    else for (let i = 1; i <= TAIL_POINTS; i++) masses.push({ ageMs: longestMs + ((lastMs - longestMs) * i) / TAIL_POINTS, mass: tail / TAIL_POINTS });
  }
  return masses;
}

function summarise(agesMs: number[], masses: readonly Mass[], arrivals: readonly Mass[], missRate: number): PollPlan {
  let gets = 0;
  let delay = 0;
  let caught = 0;
  let index = 0;
  let arrivalIndex = 0;
  let arrived = 0;
  for (const at of agesMs) {
    while (arrivalIndex < arrivals.length && arrivals[arrivalIndex]!.ageMs <= at) arrived += arrivals[arrivalIndex++]!.mass;
    let endedNow = 0;
    while (index < masses.length && masses[index]!.ageMs <= at) {
      endedNow += masses[index]!.mass;
      delay += masses[index]!.mass * (at - masses[index]!.ageMs);
      index++;
    }
    caught += endedNow;
    gets += missRate * (Math.max(0, 1 - caught) + endedNow) + (1 - missRate) * Math.max(0, 1 - arrived);
  }
  return { agesMs, expectedGets: gets, expectedLostDelayMs: caught > 0 ? delay / caught : 0 };
}
