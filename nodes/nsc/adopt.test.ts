import { firstValueFrom, of, throwError } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Connection, PathSegment, State } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../../operators/core/context.js';
import { unavailable } from '../../operators/core/errors.js';
import type { NetworkServiceHandler } from '../../operators/core/networkservice.js';
import { retryClient } from '../../operators/networkservice/retry.js';
import { createLogger } from '../../operators/tools/log.js';
import { useSandbox } from '../../test/sandbox/harness.js';
import { Mesh } from '../../test/sandbox/mesh.js';
import { adoptedRequest, adopting, monitorConnections } from './adopt.js';

const fresh = NetworkServiceRequest.fromPartial({
  connection: { id: 'nsc-0', networkService: 'ns', labels: { app: 'x' } },
  mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } }],
});
const segments = ['nsc-0', 'conn-at-nsmgr', 'conn-at-nse'].map((id, i) => PathSegment.fromPartial({ name: ['nsc', 'nsmgr', 'nse'][i], id }));
/** The nsmgr's view of the connection nsc-init made (path index 1: the nsmgr's segment). */
const existing = (extra: Partial<Connection> = {}) =>
  Connection.fromPartial({
    id: 'conn-at-nsmgr',
    networkService: 'ns',
    networkServiceEndpointName: 'nse-a',
    mechanism: { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } },
    path: { index: 1, pathSegments: segments },
    context: { ipContext: { srcIpAddrs: ['169.254.1.1/32'], dstIpAddrs: ['169.254.1.0/32'] } },
    ...extra,
  });
const alive = () => of(true);
const dead = () => of(false);
const log = createLogger('nsc', 'FATAL');

describe('adoptedRequest (upstream cmd-nsc constructRequest)', () => {
  it('adopts the nsmgr’s connection of our id: same path and endpoint, index 0, our id', async () => {
    const r = await firstValueFrom(adoptedRequest(fresh, [existing()], alive));
    expect(r.connection).toMatchObject({ id: 'nsc-0', networkServiceEndpointName: 'nse-a', path: { index: 0, pathSegments: segments }, state: State.UP });
  });

  it('adopts only at path index 1, with our id first and the mechanism type we ask for', async () => {
    for (const other of [
      existing({ path: { index: 0, pathSegments: segments } }),
      existing({ path: { index: 1, pathSegments: [PathSegment.fromPartial({ name: 'nsc', id: 'nsc-1' }), ...segments.slice(1)] } }),
      existing({ mechanism: { cls: 'LOCAL', type: 'MEMIF', parameters: {} } }),
    ]) {
      expect(await firstValueFrom(adoptedRequest(fresh, [other], alive))).toBe(fresh);
    }
  });

  it('a DOWN one: kept when its datapath answers; RESELECT_REQUESTED (no mechanism, no endpoint) when not, or when there is no liveness check', async () => {
    const down = existing({ state: State.DOWN });
    expect((await firstValueFrom(adoptedRequest(fresh, [down], alive))).connection).toMatchObject({ networkServiceEndpointName: 'nse-a', state: State.DOWN });
    for (const check of [dead, undefined]) {
      const c = (await firstValueFrom(adoptedRequest(fresh, [down], check))).connection;
      expect(c).toMatchObject({ id: 'nsc-0', networkServiceEndpointName: '', state: State.RESELECT_REQUESTED, path: { index: 0, pathSegments: segments } });
      expect(c?.mechanism).toBeUndefined();
    }
  });
});

describe('adopting: each try built anew', () => {
  /** A next hop failing its first `failures` tries, recording what it was asked. */
  const nextHop = (failures: number) => {
    const asked: NetworkServiceRequest[] = [];
    const handler: NetworkServiceHandler = {
      request: (r) => {
        asked.push(r);
        return asked.length <= failures ? throwError(() => unavailable('endpoint nse-a is gone')) : of(Connection.fromPartial({ ...r.connection }));
      },
      close: () => of(undefined),
    };
    return { asked, handler };
  };

  it('a dead endpoint behind an adopted connection: one failed try, then a reselect — not the same request forever (even when the datapath seems to answer)', async () => {
    const hop = nextHop(1);
    const conn = await firstValueFrom(retryClient(adopting(hop.handler, () => [existing()], alive, log), { interval: 1 }).request(fresh, Context.background));
    expect(hop.asked.map((r) => [r.connection?.networkServiceEndpointName, r.connection?.state])).toEqual([
      ['nse-a', State.UP],
      ['', State.RESELECT_REQUESTED],
    ]);
    expect(conn.state).toBe(State.RESELECT_REQUESTED);
  });

  it('what the monitor says at each try counts: a connection the nsmgr reports after the first try is adopted (DOWN but answering: as is)', async () => {
    const hop = nextHop(1);
    let tries = 0;
    const monitored = () => (tries++ === 0 ? [] : [existing({ state: State.DOWN })]);
    await firstValueFrom(retryClient(adopting(hop.handler, monitored, alive, log), { interval: 1 }).request(fresh, Context.background));
    expect(hop.asked[0]).toEqual(fresh);
    expect(hop.asked[1]?.connection).toMatchObject({ networkServiceEndpointName: 'nse-a', state: State.DOWN });
  });
});

describe('monitorConnections (upstream cmd-nsc startMonitoring)', () => {
  const h = useSandbox();

  it('sees the nsmgr’s connection of our id (index 1), and a Close of it as DOWN', async () => {
    const mesh = await Mesh.build(h.sandbox);
    await mesh.endpoint(0, 'nse-a');
    const url = mesh.nodes[0]!.nsmgr.url;
    const init = h.sandbox.client('nsc', url, { heal: false, refresh: false });
    const conn = await init.request({ connection: { id: 'nsc-0', networkService: 'ns' }, mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL', parameters: {} }] });
    const monitored = await monitorConnections(h.sandbox.pool, url, 'nsc-0', 5000);
    try {
      expect(monitored.current().map((c) => [c.path?.index, c.path?.pathSegments[0]?.id, c.networkServiceEndpointName, c.state])).toEqual([[1, 'nsc-0', 'nse-a', State.UP]]);
      await init.close(conn);
      await expect.poll(() => monitored.current()[0]?.state).toBe(State.DOWN);
    } finally {
      monitored.stop();
    }
  });
});
