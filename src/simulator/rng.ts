import { randomInt } from 'node:crypto';

/** A small seeded pseudo-random source; every random choice of the simulator goes through one. */
export interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** True with probability `p` (0 never draws: a zero rate leaves the stream untouched). */
  chance(p: number): boolean;
  /** An integer in [0, maxExclusive). */
  int(maxExclusive: number): number;
  /** `bytes` random bytes as lowercase hex. */
  hex(bytes: number): string;
}

/** Folds any integer seed into 32 bits, so `--seed -1` and `--seed 1e12` both work. */
export function normalizeSeed(seed: number): number {
  return ((Math.trunc(seed) % 2 ** 32) + 2 ** 32) % 2 ** 32;
}

/** A fresh seed from the OS, used when no `--seed` was given. */
export function randomSeed(): number {
  return randomInt(0, 2 ** 32 - 1);
}

/**
 * mulberry32: tiny, fast and good enough for simulation (not for secrets). The same seed always
 * yields the same sequence.
 */
export function createRng(seed: number): Rng {
  let state = normalizeSeed(seed);
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    chance: (p) => (p <= 0 ? false : p >= 1 ? (next(), true) : next() < p),
    int: (maxExclusive) => Math.floor(next() * maxExclusive),
    hex: (bytes) => {
      let out = '';
      for (let i = 0; i < bytes; i++) out += Math.floor(next() * 256).toString(16).padStart(2, '0');
      return out;
    },
  };
}

/**
 * An independent stream per concern (ids, lifecycle, faults, webhooks), so that e.g. webhook
 * delays, whose order depends on timing, never shift the ids or outcomes of later runs.
 */
export function deriveRng(seed: number, label: string): Rng {
  let hash = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) hash = Math.imul(hash ^ label.charCodeAt(i), 0x01000193) >>> 0;
  return createRng((normalizeSeed(seed) ^ hash) >>> 0);
}
