import { BehaviorSubject, defer, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import type { Connection } from '../../proto/gen/connection.js';
import { Context } from '../core/context.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { sync } from '../../test/sync.js';
import { swapIpClient, swapIpServer, type IpMap } from './swapIp.js';

const vxlan = (params: Record<string, string>) => ({ cls: 'REMOTE', type: 'VXLAN', parameters: params });

/**
 * Two domains' proxies back to back: the source forwarder (10.0.0.1, outside 1.1.1.1) asks
 * through proxy 1 (swapIp client) and proxy 2 (swapIp server) for the destination forwarder
 * (10.1.0.7, outside 2.2.2.2), which answers with its own tunnel address as dst_ip.
 */
function pair(ips1: BehaviorSubject<IpMap>, ips2: BehaviorSubject<IpMap>) {
  const seenByDestination: Record<string, string>[] = [];
  const destination: NetworkServiceHandler = {
    request: (r) =>
      defer(() => {
        const m = r.connection?.mechanism ?? r.mechanismPreferences[0];
        seenByDestination.push({ ...m?.parameters });
        return of({ ...(r.connection as Connection), mechanism: { ...vxlan({ ...m?.parameters, dst_ip: '10.1.0.7' }) } });
      }),
    close: () => of(undefined),
  };
  const handler = chain([swapIpClient(ips1), swapIpServer(ips2)], destination);
  const request = (mechanism?: Connection['mechanism']) =>
    sync(handler.request(NetworkServiceRequest.fromPartial({ connection: { id: '1', networkService: 'svc@cluster2', ...(mechanism ? { mechanism } : {}) }, mechanismPreferences: mechanism ? [] : [vxlan({ src_ip: '10.0.0.1' })] }), Context.background));
  return { request, seenByDestination };
}

describe('swapIp (nsmgr-proxy client toward another domain, server from it)', () => {
  it('each forwarder sees its own internal address and the other side’s external one', () => {
    const { request, seenByDestination } = pair(new BehaviorSubject<IpMap>({ '10.0.0.1': '1.1.1.1' }), new BehaviorSubject<IpMap>({ '10.1.0.7': '2.2.2.2' }));
    const conn = request();
    expect(seenByDestination).toEqual([{ src_ip: '1.1.1.1', orig_src_ip: '10.0.0.1', dst_ip: '', orig_dst_ip: '' }]);
    expect(conn.mechanism?.parameters).toMatchObject({ src_ip: '10.0.0.1', orig_src_ip: '', dst_ip: '2.2.2.2', orig_dst_ip: '10.1.0.7' });
  });

  it('a refresh carries the chosen mechanism the same way; an address the map lacks stays as it is; a new map applies to the next Request', () => {
    const ips1 = new BehaviorSubject<IpMap>({});
    const { request, seenByDestination } = pair(ips1, new BehaviorSubject<IpMap>({}));
    const first = request();
    expect(first.mechanism?.parameters).toMatchObject({ src_ip: '10.0.0.1', dst_ip: '10.1.0.7', orig_dst_ip: '10.1.0.7' });
    ips1.next({ '10.0.0.1': '1.1.1.1' });
    request(first.mechanism);
    expect(seenByDestination[1]).toMatchObject({ src_ip: '1.1.1.1', orig_src_ip: '10.0.0.1', dst_ip: '' });
  });
});
