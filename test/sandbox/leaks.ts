/**
 * Leak checks after a sandbox test: OS-level handles (timers, sockets, servers) must return to
 * what was open before the test, and no hop may still hold connection state.
 */
const watched = new Set(['Timeout', 'TCPWrap', 'TCPServerWrap', 'PipeWrap', 'PipeServerWrap', 'Immediate']);

export type ResourceCounts = Record<string, number>;

export function resourceCounts(): ResourceCounts {
  const counts: ResourceCounts = {};
  for (const r of process.getActiveResourcesInfo()) if (watched.has(r)) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

function grown(before: ResourceCounts, after: ResourceCounts): string[] {
  return Object.entries(after)
    .filter(([k, n]) => n > (before[k] ?? 0))
    .map(([k, n]) => `${k}: ${before[k] ?? 0} → ${n}`);
}

/** Resolves with the handles still open beyond `before` after up to `settleMs` (sockets close asynchronously). */
export async function leakedResources(before: ResourceCounts, settleMs = 2000): Promise<string[]> {
  const until = Date.now() + settleMs;
  for (;;) {
    const diff = grown(before, resourceCounts());
    if (diff.length === 0 || Date.now() > until) return diff;
    await new Promise((r) => setTimeout(r, 20));
  }
}
