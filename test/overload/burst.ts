// Fires a burst of calls all at once and records how each ended. Harness code: it keeps its own
// wall-clock watch (setTimeout) on every call, so that a call the other side never answers is
// counted as such instead of hanging the run.
import { readFileSync } from 'node:fs';
import { status } from '../../operators/core/status.js';
import { firstValueFrom, type Observable } from 'rxjs';
import { NsmError } from '../../operators/core/errors.js';
import { noAnswer, type Outcome } from './stats.js';

/** How an error reads in the table: its gRPC status name, or UNTYPED for an error without one. */
function codeOf(e: unknown): string {
  return e instanceof NsmError ? (status[e.code] ?? `code ${e.code}`) : 'UNTYPED';
}

/**
 * Calls `call(i)` for i in 0..n-1 all at once; each outcome is OK, the status its error carried,
 * or NO ANSWER when nothing came within `deadlineMs + slackMs` (the call's own deadline should
 * have ended it by then). Resolves once every call has an outcome.
 */
export async function burst<T>(n: number, call: (i: number) => Observable<T>, deadlineMs: number, slackMs: number): Promise<{ outcomes: Outcome[]; results: (T | undefined)[] }> {
  const results: (T | undefined)[] = new Array<T | undefined>(n);
  const outcomes = await Promise.all(
    Array.from({ length: n }, async (_, i): Promise<Outcome> => {
      const started = performance.now();
      let watch: NodeJS.Timeout | undefined;
      const hung = new Promise<Outcome>((resolve) => {
        watch = setTimeout(() => resolve({ code: noAnswer, message: `no answer within ${deadlineMs + slackMs} ms`, ms: performance.now() - started }), deadlineMs + slackMs);
      });
      const answered = firstValueFrom(call(i)).then(
        (r): Outcome => {
          results[i] = r;
          return { code: 'OK', ms: performance.now() - started };
        },
        (e: unknown): Outcome => ({ code: codeOf(e), message: e instanceof Error ? e.message : String(e), ms: performance.now() - started }),
      );
      const outcome = await Promise.race([answered, hung]);
      clearTimeout(watch);
      return outcome;
    }),
  );
  return { outcomes, results };
}

/** A figure of /proc/<pid>/status in bytes (VmRSS: resident now; VmHWM: the most it ever was); undefined once it has gone. */
export function memoryOf(pid: number | undefined, figure: 'VmRSS' | 'VmHWM' = 'VmRSS'): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const kb = new RegExp(`${figure}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** Samples each process's RSS every `everyMs` until stopped; `peaks()` is the largest seen per name. */
export function rssPeaks(pids: ReadonlyMap<string, number | undefined>, everyMs = 200): { peaks(): Map<string, number>; stop(): void } {
  const peaks = new Map<string, number>();
  const sample = () => {
    for (const [name, pid] of pids) {
      const rss = memoryOf(pid);
      if (rss !== undefined && rss > (peaks.get(name) ?? 0)) peaks.set(name, rss);
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    peaks: () => new Map(peaks),
    stop: () => {
      clearInterval(timer);
      sample();
    },
  };
}
