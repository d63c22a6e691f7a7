import { setFlagsFromString } from 'node:v8';

/**
 * Most functions on a Request's path are small and run once or twice per Request, so at V8's
 * default budget (66 KiB of bytecode run between tier-up checks) they reach optimised code only
 * after thousands of Requests. A quarter of it lowers a fresh mesh's setup p50 over its first
 * 1,000 setups by ~15 % (docs/performance.md, "JIT warm-up"). Every `nsm-rx` process takes it,
 * and so does `npm run bench`, whose in-process meshes stand for `nsm-rx mesh`.
 */
const TIER_UP_BUDGET = '--interrupt-budget=16384';

/** Sets V8's tier-up budget unless `node --interrupt-budget=N` (or `--interrupt_budget`) chose one. */
export function tierUpSooner(): void {
  if (!process.execArgv.some((a) => a.replace(/_/g, '-').startsWith('--interrupt-budget'))) setFlagsFromString(TIER_UP_BUDGET);
}
