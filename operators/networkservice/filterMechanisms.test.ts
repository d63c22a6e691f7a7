import { status } from '../core/status.js';
import { defer, lastValueFrom, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Connection, type Mechanism } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../core/context.js';
import type { NsmError } from '../core/errors.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { parseNsmUrl } from '../tools/nsmUrl.js';
import { clientUrlKey } from './clientUrl.js';
import { filterMechanisms } from './filterMechanisms.js';

const m = (cls: string, type: string): Mechanism => ({ cls, type, parameters: {} });
const PREFS = [m('LOCAL', 'KERNEL'), m('REMOTE', 'VXLAN'), m('LOCAL', 'MEMIF'), m('REMOTE', 'WIREGUARD'), m('local', 'ODD')];

async function sentTo(url: string | undefined, prefs: Mechanism[] = PREFS): Promise<string[]> {
  const seen: string[][] = [];
  const next: NetworkServiceHandler = {
    request: (r) => defer(() => (seen.push(r.mechanismPreferences.map((p) => p.type)), of(Connection.fromPartial(r.connection as Connection)))),
    close: () => of(undefined),
  };
  const ctx = url === undefined ? Context.background : Context.background.with(clientUrlKey, parseNsmUrl(url));
  await lastValueFrom(chain([filterMechanisms()], next).request(NetworkServiceRequest.fromPartial({ connection: { id: 'c' }, mechanismPreferences: prefs }), ctx));
  return seen[0] as string[];
}

describe('filterMechanisms', () => {
  it('a unix socket next hop gets the LOCAL preferences only, in order (class compared exactly)', async () => {
    expect(await sentTo('unix:///var/lib/networkservicemesh/nsm.io.sock')).toEqual(['KERNEL', 'MEMIF']);
  });

  it('an inode next hop (passed fd) is local too', async () => {
    expect(await sentTo('inode://4/1234')).toEqual(['KERNEL', 'MEMIF']);
  });

  it('a tcp next hop gets the REMOTE preferences only', async () => {
    expect(await sentTo('tcp://10.0.0.2:5001')).toEqual(['VXLAN', 'WIREGUARD']);
    expect(await sentTo('10.0.0.2:5001')).toEqual(['VXLAN', 'WIREGUARD']);
  });

  it('nothing of that class: an empty list is sent', async () => {
    expect(await sentTo('tcp://10.0.0.2:5001', [m('LOCAL', 'KERNEL')])).toEqual([]);
  });

  it('no client URL in the context: INTERNAL', async () => {
    const err = (await sentTo(undefined).catch((e: unknown) => e)) as NsmError;
    expect(err.code).toBe(status.INTERNAL);
  });
});
