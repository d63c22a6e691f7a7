import { firstValueFrom, fromEvent, type Observable, takeUntil } from 'rxjs';
import type { Context } from '../../operators/core/context.js';
import { registerAtStartup } from '../../operators/registry/registerAtStartup.js';
import type { NsmUrl } from '../../operators/tools/nsmUrl.js';
import type { RunContext } from './components.js';

/**
 * A daemon's own Register at start (`registerAtStartup`: tried until its nsmgr answers, however
 * late that starts), each failed try logged as upstream does; given up when shutdown begins.
 * Resolves with the registry's answer, or undefined after a shutdown.
 */
export function registerUntilAnswered<T>(ctx: RunContext, connectTo: NsmUrl, register: (tryCtx: Context) => Observable<T>): Promise<T | undefined> {
  return firstValueFrom(
    registerAtStartup(register, { onFailure: (e, attempt) => ctx.log.error('registration failed; trying again', { connectTo: connectTo.href, attempt, error: String(e) }) }).pipe(
      takeUntil(fromEvent(ctx.signal, 'abort')),
    ),
    { defaultValue: undefined },
  );
}
