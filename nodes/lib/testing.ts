/**
 * `nsm-rx/testing`: what tests of your own elements and control logic need — marble tests on
 * rxjs's TestScheduler, a recording `next`, and the sandbox: real nsmgrs, forwarders (no-op
 * datapath), registries and endpoints over gRPC on unix sockets in one process.
 */
import { deepStrictEqual } from 'node:assert/strict';
import { of, type Observable } from 'rxjs';
import { TestScheduler, type RunHelpers } from 'rxjs/testing';
import type { Connection } from '../../proto/gen/connection.js';
import type { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import type { Context } from '../../operators/core/context.js';
import type { NetworkServiceHandler } from '../../operators/core/networkservice.js';

export { Sandbox, SandboxClient, SandboxNode, type SandboxOptions } from '../../test/sandbox/sandbox.js';
export { Mesh, type MeshNode } from '../../test/sandbox/mesh.js';

/**
 * Runs `body` on a fresh TestScheduler in run mode (virtual time, frames in ms), comparing
 * with node:assert's deep equality (any test runner). Pass `scheduler` to your elements.
 */
export function marbles(body: (helpers: RunHelpers, scheduler: TestScheduler) => void): void {
  const scheduler = new TestScheduler((actual, expected) => deepStrictEqual(actual, expected));
  scheduler.run((helpers) => body(helpers, scheduler));
}

/** A `next` that records what reaches it; its answers are `answer`'s (default: the request's connection, as a chain's tail). */
export interface FakeNext extends NetworkServiceHandler {
  readonly requests: NetworkServiceRequest[];
  readonly closes: Connection[];
  readonly contexts: Context[];
}

export function fakeNext(answer: (request: NetworkServiceRequest) => Observable<Connection> = (r) => of(r.connection as Connection)): FakeNext {
  const requests: NetworkServiceRequest[] = [];
  const closes: Connection[] = [];
  const contexts: Context[] = [];
  return {
    requests,
    closes,
    contexts,
    request: (request, ctx) => {
      requests.push(request);
      contexts.push(ctx);
      return answer(request);
    },
    close: (connection, ctx) => {
      closes.push(connection);
      contexts.push(ctx);
      return of(undefined);
    },
  };
}
