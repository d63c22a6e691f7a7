import type { NetnsState } from './chaosMesh.js';

/** What differs between two snapshots of a mesh's namespaces (as multisets: two like lines are two), in words. */
export function differences(before: Record<string, NetnsState>, after: Record<string, NetnsState>): string[] {
  const minus = (a: readonly string[], b: readonly string[]) => {
    const rest = [...b];
    return a.filter((x) => {
      const i = rest.indexOf(x);
      if (i < 0) return true;
      rest.splice(i, 1);
      return false;
    });
  };
  const out: string[] = [];
  for (const [ns, was] of Object.entries(before)) {
    const now = after[ns] ?? { links: [], routes: [], rules: [] };
    for (const key of ['links', 'routes', 'rules'] as const) {
      const added = minus(now[key], was[key]);
      const gone = minus(was[key], now[key]);
      if (added.length > 0) out.push(`${ns} ${key} left behind: ${added.join('; ')}`);
      if (gone.length > 0) out.push(`${ns} ${key} missing: ${gone.join('; ')}`);
    }
  }
  return out;
}

/**
 * Leftovers once things have had time to settle: checked every second until none, for up to
 * `seconds` (a Close, an expiry, take a moment). `waiting` hears each check that still found some.
 */
export async function settled(leftovers: () => string[] | Promise<string[]>, seconds = 30, waiting?: (found: string[]) => void): Promise<string[]> {
  let found = await leftovers();
  for (let i = 0; i < seconds && found.length > 0; i++) {
    waiting?.(found);
    await new Promise((r) => setTimeout(r, 1000));
    found = await leftovers();
  }
  return found;
}
