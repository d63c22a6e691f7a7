import { isIP } from 'node:net';
import { asyncScheduler, catchError, defer, finalize, forkJoin, map, of, take, timeout, type Observable, type SchedulerLike } from 'rxjs';
import type { Connection } from '../../proto/gen/connection.js';
import type { LivenessCheck } from '../datapath.js';
import { pingReplies } from './pingReplies.js';
import { linger } from '../../operators/tools/linger.js';

export interface KernelLivenessOptions {
  /** How long one pair may take to answer, ms (cmd-nsc NSM_LIVENESS_CHECK_TIMEOUT, default 1 s). */
  timeout?: number;
  /** The client's netns path when the checker runs outside it (default: this process's netns). */
  netns?: string;
  /** The replies of a pair's prober (default: a long-lived ping, pingReplies). */
  replies?: (src: string, dst: string) => Observable<void>;
  scheduler?: SchedulerLike;
}

const hostOf = (cidr: string) => cidr.split('/')[0] ?? '';

/**
 * Upstream KernelLivenessCheck, from the client's own netns: every same-family (source,
 * destination) pair of the connection must answer a ping within the timeout. A connection
 * without addresses is alive — there is nothing to probe.
 *
 * Each pair has one prober (a ping every 200 ms) shared by the checks that follow each other;
 * a check is the pair's next reply. The prober stops one timeout after the last check let go
 * (the connection closed, or healed onto other addresses), or when it fails (false meanwhile).
 *
 * ```
 * replies   --r----r----r----r-
 * check(conn)  --(true|)                (the pair's next reply)
 * check(conn)  ---------(false|)        (a pair silent for the timeout)
 * ```
 */
export function kernelLivenessCheck(options: KernelLivenessOptions = {}): LivenessCheck {
  const timeoutMs = options.timeout ?? 1000;
  const scheduler = options.scheduler ?? asyncScheduler;
  const replies = options.replies ?? ((src: string, dst: string) => pingReplies(src, dst, options.netns));
  const probers = new Map<string, Observable<void>>();
  const prober = (src: string, dst: string): Observable<void> => {
    const key = `${src} ${dst}`;
    const known = probers.get(key);
    if (known) return known;
    const made = defer(() => replies(src, dst)).pipe(
      finalize(() => probers.get(key) === made && probers.delete(key)),
      linger(timeoutMs, scheduler),
    );
    probers.set(key, made);
    return made;
  };
  return (conn: Connection): Observable<boolean> => {
    const ip = conn.context?.ipContext;
    const pairs = (ip?.srcIpAddrs ?? []).flatMap((s) => (ip?.dstIpAddrs ?? []).filter((d) => isIP(hostOf(d)) === isIP(hostOf(s))).map((d) => [hostOf(s), hostOf(d)] as const));
    if (pairs.length === 0) return of(true);
    const answers = (src: string, dst: string) =>
      prober(src, dst).pipe(
        take(1),
        map(() => true),
        timeout({ first: timeoutMs, with: () => of(false), scheduler }),
        catchError(() => of(false)),
      );
    return forkJoin(pairs.map(([src, dst]) => answers(src, dst))).pipe(map((all) => all.every(Boolean)));
  };
}
