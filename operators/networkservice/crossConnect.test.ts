import { firstValueFrom, lastValueFrom, of, throwError } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Connection, type Mechanism } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { NoopDatapath } from '../../dataplane/noop.js';
import { Context } from '../core/context.js';
import { NsmError } from '../core/errors.js';
import { chain, type NetworkServiceElement } from '../core/networkservice.js';
import { parseNsmUrl } from '../tools/nsmUrl.js';
import { clientUrl } from './clientUrl.js';
import { crossConnect } from './crossConnect.js';
import { metadata } from './metadata.js';

const kernel: Mechanism = { cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-1' } };
const request = (mechanism?: Mechanism) =>
  NetworkServiceRequest.fromPartial({ connection: { id: 'c1', networkService: 'ns', ...(mechanism ? { mechanism } : {}) }, mechanismPreferences: [kernel] });

/** The next hop: records what it was offered and answers with the first preference. */
function nextHop(fail?: 'request') {
  const offered: string[][] = [];
  const closed: (string | undefined)[] = [];
  const element: NetworkServiceElement = {
    request: (r) => {
      offered.push(r.mechanismPreferences.map((m) => m.type));
      if (fail) return throwError(() => new NsmError(14, 'next hop down'));
      return of(Connection.fromPartial({ ...r.connection, mechanism: r.connection?.mechanism ?? r.mechanismPreferences[0] }));
    },
    close: (c) => {
      closed.push(c.mechanism?.type);
      return of(undefined);
    },
  };
  return { offered, closed, element };
}

describe('crossConnect', () => {
  it('offers LOCAL toward a unix next hop and REMOTE toward tcp, answers with the incoming mechanism, programs and unprograms', async () => {
    for (const [url, expected] of [
      ['unix:///nse.sock', 'KERNEL'],
      ['tcp://10.0.0.2:5001', 'VXLAN'],
    ] as const) {
      const dp = new NoopDatapath();
      const hop = nextHop();
      const handler = chain([clientUrl(parseNsmUrl(url)), metadata(), crossConnect(dp), hop.element]);
      const conn = await firstValueFrom(handler.request(request(), Context.background));
      expect(hop.offered).toEqual([[expected]]);
      expect(conn.mechanism?.type).toBe('KERNEL');
      expect(dp.programmed.get('c1')?.outgoing.mechanism?.type).toBe(expected);
      // A refresh keeps both sides' mechanisms.
      await firstValueFrom(handler.request(NetworkServiceRequest.fromPartial({ connection: conn, mechanismPreferences: [kernel] }), Context.background));
      expect(dp.programmed.get('c1')?.outgoing.mechanism?.type).toBe(expected);
      await lastValueFrom(handler.close(conn, Context.background), { defaultValue: undefined });
      expect(hop.closed).toEqual([expected]);
      expect(dp.programmed.size).toBe(0);
    }
  });

  it('refuses preferences the datapath cannot attach with UNIMPLEMENTED, before calling the next hop', async () => {
    const hop = nextHop();
    const handler = chain([metadata(), crossConnect(new NoopDatapath()), hop.element]);
    const memif = NetworkServiceRequest.fromPartial({ connection: { id: 'c1', networkService: 'ns' }, mechanismPreferences: [{ cls: 'LOCAL', type: 'MEMIF' }] });
    await expect(firstValueFrom(handler.request(memif, Context.background))).rejects.toMatchObject({ code: 12, message: expect.stringMatching(/offered: MEMIF/) });
    expect(hop.offered).toEqual([]);
  });

  it('a failed program closes the next hop again; a failed next hop programs nothing', async () => {
    const dp = new NoopDatapath();
    dp.program = () => throwError(() => new NsmError(13, 'cannot create veth'));
    const hop = nextHop();
    await expect(firstValueFrom(chain([metadata(), crossConnect(dp), hop.element]).request(request(), Context.background))).rejects.toMatchObject({ code: 13 });
    expect(hop.closed).toEqual(['VXLAN']);

    const dp2 = new NoopDatapath();
    await expect(firstValueFrom(chain([metadata(), crossConnect(dp2), nextHop('request').element]).request(request(), Context.background))).rejects.toMatchObject({ code: 14 });
    expect(dp2.programmed.size).toBe(0);
  });
});
