import { tap } from 'rxjs/operators';
import type { NetworkServiceElement } from '../../operators/core/networkservice.js';

/**
 * `count` (upstream sandbox count): how many Requests and Closes reached this point, in total and
 * by distinct connection id. By default only calls that succeeded below are counted; with
 * `attempts`, every call that reached this point (upstream's count, for Closes that are expected
 * to fail further down).
 */
export class Counter {
  constructor(private readonly options: { attempts?: boolean } = {}) {}

  requests = 0;
  closes = 0;
  private readonly requestIds = new Set<string>();
  private readonly closeIds = new Set<string>();

  get uniqueRequests(): number {
    return this.requestIds.size;
  }
  get uniqueCloses(): number {
    return this.closeIds.size;
  }

  /** Counts calls that succeed below this point (or, with `attempts`, every call reaching it). */
  readonly element: NetworkServiceElement = {
    request: (request, ctx, next) => {
      const count = () => {
        this.requests++;
        this.requestIds.add(request.connection?.id ?? '');
      };
      if (this.options.attempts) {
        count();
        return next.request(request, ctx);
      }
      return next.request(request, ctx).pipe(tap(count));
    },
    close: (conn, ctx, next) => {
      const count = () => {
        this.closes++;
        this.closeIds.add(conn.id);
      };
      if (this.options.attempts) {
        count();
        return next.close(conn, ctx);
      }
      return next.close(conn, ctx).pipe(tap(count));
    },
  };

  reset(): void {
    this.requests = this.closes = 0;
    this.requestIds.clear();
    this.closeIds.clear();
  }
}
