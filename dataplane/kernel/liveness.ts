import { isIP } from 'node:net';
import { catchError, forkJoin, map, of, type Observable } from 'rxjs';
import type { Connection } from '../../proto/gen/connection.js';
import type { LivenessCheck } from '../datapath.js';
import { exec } from './exec.js';

export interface KernelLivenessOptions {
  /** How long one pair may take to answer, ms (cmd-nsc NSM_LIVENESS_CHECK_TIMEOUT, default 1 s). */
  timeout?: number;
  /** The client's netns path when the checker runs outside it (default: this process's netns). */
  netns?: string;
}

const hostOf = (cidr: string) => cidr.split('/')[0] ?? '';

/**
 * Upstream KernelLivenessCheck, from the client's own netns: every same-family (source,
 * destination) pair of the connection must answer a ping within the timeout (ping resends
 * every 200 ms until one reply or the deadline). A connection without addresses is alive —
 * there is nothing to probe.
 *
 * ```
 * check(conn) ──true|     (every pair answered)
 * check(conn) ──false|    (a pair stayed silent, or ping could not run)
 * ```
 */
export function kernelLivenessCheck(options: KernelLivenessOptions = {}): LivenessCheck {
  const seconds = Math.max(1, Math.ceil((options.timeout ?? 1000) / 1000));
  return (conn: Connection): Observable<boolean> => {
    const ip = conn.context?.ipContext;
    const pairs = (ip?.srcIpAddrs ?? []).flatMap((s) => (ip?.dstIpAddrs ?? []).filter((d) => isIP(hostOf(d)) === isIP(hostOf(s))).map((d) => [hostOf(s), hostOf(d)] as const));
    if (pairs.length === 0) return of(true);
    const ping = ([src, dst]: readonly [string, string]) => {
      const args = ['-n', '-q', '-c', '1', '-i', '0.2', '-w', String(seconds), '-I', src, dst];
      const run = options.netns === undefined ? exec('ping', args) : exec('nsenter', [`--net=${options.netns}`, 'ping', ...args]);
      return run.pipe(
        map(() => true),
        catchError(() => of(false)),
      );
    };
    return forkJoin(pairs.map(ping)).pipe(map((answers) => answers.every(Boolean)));
  };
}
