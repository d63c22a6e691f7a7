import { throwError } from 'rxjs';
import { NsmError } from '../../operators/core/errors.js';
import type { NetworkServiceElement } from '../../operators/core/networkservice.js';

/**
 * `injectError` (upstream sandbox injecterror): fails chosen calls by index, counting from 0.
 * A `-1` means every call after the indices listed before it; no list means every call.
 */
export class ErrorInjector {
  private requestCount = 0;
  private closeCount = 0;
  requestFailures: number[] = [];
  closeFailures: number[] = [];
  code = 14; // UNAVAILABLE

  /** Upstream's rule: walk the list in order; `i` listed or a -1 reached first → fail. */
  private static fails(indices: readonly number[], i: number): boolean {
    for (const at of indices) {
      if (at === i || at === -1) return true;
      if (at > i) return false;
    }
    return false;
  }

  /** Fail the Requests at these indices (-1: from that position on, for ever). */
  failRequests(...indices: number[]): this {
    this.requestFailures = indices.length ? indices : [-1];
    return this;
  }

  failCloses(...indices: number[]): this {
    this.closeFailures = indices.length ? indices : [-1];
    return this;
  }

  clear(): void {
    this.requestFailures = [];
    this.closeFailures = [];
  }

  readonly element: NetworkServiceElement = {
    request: (request, ctx, next) =>
      ErrorInjector.fails(this.requestFailures, this.requestCount++)
        ? throwError(() => new NsmError(this.code, `injected error on request ${this.requestCount - 1}`))
        : next.request(request, ctx),
    close: (conn, ctx, next) =>
      ErrorInjector.fails(this.closeFailures, this.closeCount++)
        ? throwError(() => new NsmError(this.code, `injected error on close ${this.closeCount - 1}`))
        : next.close(conn, ctx),
  };
}
