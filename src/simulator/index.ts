/** The Doclo runs API simulator: used by tests, benchmarks, `rungate simulate` and `serve --simulate`. */
export { createSimulator, DEV_WEBHOOK_SECRET, SIM_BODY_LIMIT_BYTES, type Simulator, type SimulatorOptions } from './simulator.js';
export { signWebhookBody } from './sign.js';
export type { SimStats } from './sim-stats.js';
export type { StatusVocabulary } from './sim-run.js';
