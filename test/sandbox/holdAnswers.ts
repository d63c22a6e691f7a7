import { ReplaySubject } from 'rxjs';
import { delayWhen, tap } from 'rxjs/operators';
import type { NetworkServiceElement } from '../../operators/core/networkservice.js';

/**
 * `holdAnswers` (in a forwarder, before its connect): keeps the answers of the hops below until
 * `release`. The NSE has set the connection up and its answer is on the way back — a caller who
 * cancels now is heard only by the hops above; the NSE keeps what it set up.
 */
export class AnswerHolder {
  private readonly released = new ReplaySubject<void>(1);
  private heard: () => void = () => undefined;
  /** Resolves when the first answer is held. */
  readonly held = new Promise<void>((resolve) => (this.heard = resolve));

  readonly element: NetworkServiceElement = {
    request: (request, ctx, next) =>
      next.request(request, ctx).pipe(
        tap(() => this.heard()),
        delayWhen(() => this.released),
      ),
  };

  /** Lets every answer held go on, and every later one pass. */
  release(): void {
    this.released.next();
  }
}
