import { defer, firstValueFrom, map } from 'rxjs';
import type { Connection } from '../../proto/gen/connection.js';
import { describe, expect, it } from 'vitest';
import { NetworkService, type Match } from '../../proto/gen/registry.js';
import { client } from '../../operators/chains/client.js';
import { Context } from '../../operators/core/context.js';
import type { NetworkServiceElement } from '../../operators/core/networkservice.js';
import { connect } from '../../operators/networkservice/connect.js';
import { Counter } from '../sandbox/counter.js';
import { useSandbox, type SandboxHarness } from '../sandbox/harness.js';
import { Mesh } from '../sandbox/mesh.js';
import { inodeUrlOfFile } from '../../dataplane/kernel/netns.js';

const kernel = { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } };
const names = (c: { path?: { pathSegments: { name: string }[] } }) => c.path?.pathSegments.map((s) => s.name) ?? [];
const step = (i: number) => ({ step: String(i) });

/** Upstream linearNS: step i−1 leads to step i; a request without a step goes to step 0 (last match). */
function linearNs(hops: number): NetworkService {
  const matches: Match[] = [];
  for (let i = 1; i < hops; i++) matches.push({ sourceSelector: step(i - 1), routes: [{ destinationSelector: step(i), weight: 0 }], fallthrough: false, metadata: undefined });
  if (hops > 1) matches.push({ sourceSelector: {}, routes: [{ destinationSelector: step(0), weight: 0 }], fallthrough: false, metadata: undefined });
  return NetworkService.fromPartial({ name: 'test-network-service-linear', payload: 'ETHERNET', matches });
}

/**
 * What upstream's passthrough client (replacelabels …) does for a passthrough NSE's onward
 * request: it goes out with the NSE's own labels (so the service's matches pick the next step)
 * and without the incoming connection's endpoint name (this NSE's own); the answer gets the
 * caller's labels and endpoint name back.
 */
function passThrough(labels: Record<string, string>): NetworkServiceElement {
  return {
    request: (request, ctx, next) =>
      defer(() => {
        const conn = request.connection as Connection;
        const [callerLabels, callerEndpoint] = [conn.labels, conn.networkServiceEndpointName];
        conn.labels = { ...labels };
        conn.networkServiceEndpointName = '';
        return next.request(request, ctx).pipe(map((answer) => ({ ...answer, labels: callerLabels, networkServiceEndpointName: callerEndpoint })));
      }),
  };
}

/** Upstream newPassThroughEndpoint: `endpoint-<i>` on node `node`, labelled step=i, passing on to its nsmgr unless it is the last. */
function passThroughEndpoint(h: SandboxHarness, mesh: Mesh, node: number, i: number, onward: boolean, closes: Counter, service: string) {
  const s = h.sandbox;
  const onwardChain = onward
    ? [
        connect(
          client({
            name: `endpoint-client-${i}`,
            pool: s.pool,
            url: mesh.nodes[node]!.nsmgr.url,
            dialTimeout: s.dialTimeout,
            refresh: false,
            token: s.token(`endpoint-client-${i}`),
            inodeUrlOf: inodeUrlOfFile,
            scheduler: s.scheduler,
            additional: [passThrough(step(i))],
          }).handler,
        ),
      ]
    : [];
  return mesh.endpoint(node, `endpoint-${i}`, { services: [service], labels: step(i), additional: [...onwardChain, closes.element], registerServices: false });
}

async function register(mesh: Mesh, ns: NetworkService): Promise<void> {
  const registry = mesh.registryOf(0);
  await firstValueFrom(registry.ns.register(ns, Context.background.withDeadline(Date.now() + 5000)));
  registry.dispose();
}

describe('chains/nsmgr suite: passthrough (upstream scenarios)', () => {
  const h = useSandbox();

  it('Test_PassThroughRemoteUsecase: 7 passthrough NSEs, one per node, chained by step selectors; 40 segments, NSE i at i·6+3; 5 refreshes; all 7 closed', async () => {
    const n = 7;
    const mesh = await Mesh.build(h.sandbox, { nodes: n });
    const ns = linearNs(n);
    await register(mesh, ns);
    const closes = new Counter();
    for (let i = 0; i < n; i++) await passThroughEndpoint(h, mesh, i, i, i !== n - 1, closes, ns.name);
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url);
    let conn = await nsc.request({ connection: { id: 'nsc-1', networkService: ns.name }, mechanismPreferences: [kernel] }, 30_000);
    expect(names(conn)).toHaveLength(6 * (n - 1) + 4);
    for (let i = 0; i < n; i++) expect(names(conn)[i * 6 + 3]).toBe(`endpoint-${i}`);
    for (let r = 0; r < 5; r++) conn = await nsc.request({ connection: conn, mechanismPreferences: [kernel] }, 30_000);
    expect(names(conn)).toHaveLength(6 * (n - 1) + 4);
    await nsc.close(conn, 30_000);
    expect(closes.closes).toBe(n);
  });

  it('Test_PassThroughLocalUsecase: the same with all 7 on one node; 28 segments, NSE i at (i+1)·4−1; 5 refreshes; all 7 closed', async () => {
    const n = 7;
    const mesh = await Mesh.build(h.sandbox);
    const ns = linearNs(n);
    await register(mesh, ns);
    const closes = new Counter();
    for (let i = 0; i < n; i++) await passThroughEndpoint(h, mesh, 0, i, i !== n - 1, closes, ns.name);
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url);
    let conn = await nsc.request({ connection: { id: 'nsc-1', networkService: ns.name }, mechanismPreferences: [kernel] }, 30_000);
    expect(names(conn)).toHaveLength(4 * (n - 1) + 4);
    for (let i = 0; i < n; i++) expect(names(conn)[(i + 1) * 4 - 1]).toBe(`endpoint-${i}`);
    for (let r = 0; r < 5; r++) conn = await nsc.request({ connection: conn, mechanismPreferences: [kernel] }, 30_000);
    await nsc.close(conn, 30_000);
    expect(closes.closes).toBe(n);
  });

  it('Test_PassThroughSameSourceSelector: step 0 is missing; the empty-source match falls through to one for step 1; 24 segments, kept on refresh; 6 closed', async () => {
    const n = 7;
    const mesh = await Mesh.build(h.sandbox);
    const ns = linearNs(n);
    const last = ns.matches[ns.matches.length - 1] as Match;
    last.fallthrough = true;
    ns.matches.push({ sourceSelector: {}, routes: [{ destinationSelector: step(1), weight: 0 }], fallthrough: false, metadata: undefined });
    await register(mesh, ns);
    const closes = new Counter();
    for (let i = 1; i < n; i++) await passThroughEndpoint(h, mesh, 0, i, i !== n - 1, closes, ns.name);
    const nsc = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url);
    const request = { connection: { id: 'nsc-1', networkService: ns.name }, mechanismPreferences: [kernel] };
    let conn = await nsc.request(request, 30_000);
    const check = () => {
      expect(names(conn)).toHaveLength(4 * (n - 2) + 4);
      for (let i = 1; i < n; i++) expect(names(conn)[i * 4 - 1]).toBe(`endpoint-${i}`);
    };
    check();
    conn = await nsc.request(request, 30_000); // upstream refreshes with the original request
    check();
    await nsc.close(conn, 30_000);
    expect(closes.closes).toBe(n - 1);
  });
});
