import { firstValueFrom, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { Context } from '../core/context.js';
import { registryChain, registryTail } from '../core/registry.js';
import type { NetworkServiceEndpointQuery, NetworkServiceEndpointResponse } from '../../proto/gen/registry.js';
import { restoreUnixUrl } from './restoreUnixUrl.js';

const sockets: Record<string, string> = { '/run/nse.sock': 'inode://64769/1234' };
/** An upstream nsmgr: its registry sendfd answers a unix URL with the socket's inode URL. */
const upstreamNsmgr = (answer?: string) => ({
  ...registryTail<NetworkServiceEndpoint, NetworkServiceEndpointQuery, NetworkServiceEndpointResponse>(),
  register: (nse: NetworkServiceEndpoint) => of({ ...nse, url: answer ?? sockets[nse.url.replace('unix://', '')] ?? nse.url }),
});
const registered = (url: string, answer?: string) =>
  firstValueFrom(registryChain([restoreUnixUrl((p) => sockets[p])], upstreamNsmgr(answer)).register(NetworkServiceEndpoint.fromPartial({ name: 'nse-1', url }), Context.background)).then((a) => a.url);

describe('restoreUnixUrl (the way back of upstream registry sendfd, without the fd)', () => {
  it('an inode:// answer for the socket we registered becomes our unix URL again (so refreshes do not make a recvfd wait)', async () => {
    expect(await registered('unix:///run/nse.sock')).toBe('unix:///run/nse.sock');
  });

  it('another socket, a gone socket and tcp URLs are left as answered', async () => {
    expect(await registered('unix:///run/nse.sock', 'inode://64769/999')).toBe('inode://64769/999');
    expect(await registered('unix:///run/gone.sock', 'inode://64769/1234')).toBe('inode://64769/1234');
    expect(await registered('tcp://10.0.0.1:5003')).toBe('tcp://10.0.0.1:5003');
  });
});
