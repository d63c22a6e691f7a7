import { firstValueFrom, fromEvent, type Observable, takeUntil } from 'rxjs';
import type { RunContext } from './component.js';

/**
 * A daemon's own Register at start: made under a context without deadline, so the registry
 * client's retry tries until its nsmgr answers, however late that starts (upstream's cmd-*
 * daemons do the same; the client logs each failed try); given up when shutdown begins.
 * Resolves with the registry's answer, or undefined after a shutdown.
 */
export function untilShutdown<T>(ctx: RunContext, register: Observable<T>): Promise<T | undefined> {
  return firstValueFrom(register.pipe(takeUntil(fromEvent(ctx.signal, 'abort'))), { defaultValue: undefined });
}

/** The registry client's `onRetry` for a daemon: every failed try logged, as upstream's "try attempt has failed". */
export const logRetry =
  (ctx: RunContext, registry: string) =>
  (error: unknown, attempt: number): void =>
    ctx.log.error('registry call failed; trying again', { registry, attempt, error: String(error) });
