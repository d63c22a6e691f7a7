import { until, type ChaosConnection } from './chaosMesh.js';

/** Pings every 100 ms: a silence longer than this lost replies. */
const LOSS_S = 0.35;

/** What a fault did to the connections' pings. */
export interface FaultWindow {
  /** Longest silence of any connection's ping across the fault (s). */
  readonly maxGapS: number;
  /** Connections whose ping went silent past LOSS_S at least once. */
  readonly lostConnections: number;
  /** From the fault until the last connection answered for good (s; 0: none stopped). */
  readonly allUpS: number;
  /** Whether every connection answered steadily again within the time allowed. */
  readonly healed: boolean;
}

/**
 * The figures of one connection's reply times `replies` (s since the epoch) around a fault at
 * `t0`: its longest silence from the last reply before the fault on, and when it answered for
 * good (the first reply after its last loss, relative to t0; 0 if it never lost one).
 */
export function connectionWindow(replies: readonly number[], t0: number): { gapS: number; upS: number } {
  let gapS = 0;
  let upS = 0;
  let previous = [...replies].reverse().find((t) => t <= t0);
  for (const t of replies) {
    if (t <= t0) continue;
    const gap = t - (previous ?? t0);
    gapS = Math.max(gapS, gap);
    if (gap > LOSS_S) upS = t - t0;
    previous = t;
  }
  return { gapS, upS };
}

/**
 * Runs `fault`, then waits until every connection has answered steadily for `steadyS` (no
 * silence past LOSS_S), at most `timeoutS`; the figures of the whole window.
 */
export async function faultWindow(connections: readonly ChaosConnection[], fault: () => Promise<void>, steadyS = 5, timeoutS = 90): Promise<FaultWindow> {
  const t0 = Date.now() / 1000;
  await fault();
  const answering = (now: number) => connections.every((c) => (c.ping.replies().at(-1) ?? 0) > now - LOSS_S);
  let steadySince: number | undefined;
  const healed = await until(
    () => {
      const now = Date.now() / 1000;
      steadySince = answering(now) ? (steadySince ?? now) : undefined;
      return steadySince !== undefined && now - steadySince >= steadyS;
    },
    timeoutS * 1000,
    'every connection answering',
  ).then(
    () => true,
    () => false,
  );
  const figures = connections.map((c) => connectionWindow(c.ping.replies(), t0));
  return {
    maxGapS: Math.max(0, ...figures.map((f) => f.gapS)),
    lostConnections: figures.filter((f) => f.gapS > LOSS_S).length,
    allUpS: Math.max(0, ...figures.map((f) => f.upS)),
    healed,
  };
}
