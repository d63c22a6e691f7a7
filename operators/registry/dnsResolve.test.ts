import { createSocket } from 'node:dgram';
import { firstValueFrom, lastValueFrom, of, type Observable } from 'rxjs';
import { toArray } from 'rxjs/operators';
import { status } from '../core/status.js';
import { afterEach, describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint, type NetworkServiceEndpointResponse } from '../../proto/gen/registry.js';
import { Context } from '../core/context.js';
import { registryChain, type NSEHandler } from '../core/registry.js';
import type { DnsResolver } from '../../streams/dns/resolver.js';
import { dnsResolver } from '../../streams/dns/resolver.js';
import { startDnsServer } from '../../test/dnsServer.js';
import { registryUrlOf } from './clientUrl.js';
import { nseDnsResolve, resolveDomain } from './dnsResolve.js';

describe('resolveDomain and nseDnsResolve', () => {
  const stops: (() => unknown)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
  });

  const resolverOf = async (records: Parameters<typeof startDnsServer>[0]): Promise<DnsResolver> => {
    const dns = await startDnsServer(records);
    stops.push(() => dns.close());
    return dnsResolver({ servers: [{ address: '127.0.0.1', port: dns.port }], timeoutMs: 500 });
  };

  it('SRV port + A address of <service>.<domain>; a literal ip:port domain needs no DNS', async () => {
    const resolver = await resolverOf({ 'registry.nsm-system.cluster2': { a: ['169.254.2.1'], srvPort: 5002 } });
    expect((await firstValueFrom(resolveDomain(resolver, 'registry.nsm-system', 'cluster2'))).href).toBe('tcp://169.254.2.1:5002');
    expect((await firstValueFrom(resolveDomain(resolver, 'registry.nsm-system', '169.254.7.7:5002'))).href).toBe('tcp://169.254.7.7:5002');
    expect((await firstValueFrom(resolveDomain(resolver, 'registry.nsm-system', '[fd00::7]:5002'))).href).toBe('tcp://[fd00::7]:5002');
  });

  it('a DNS server that never answers: UNAVAILABLE after every attempt (the caller retries)', async () => {
    const silent = createSocket('udp4');
    let heard = 0;
    silent.on('message', () => heard++);
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
    stops.push(() => silent.close());
    const resolver = dnsResolver({ servers: [{ address: '127.0.0.1', port: silent.address().port }], timeoutMs: 100, attempts: 2 });
    await expect(firstValueFrom(resolveDomain(resolver, 'registry.nsm-system', 'cluster2'))).rejects.toMatchObject({
      code: status.UNAVAILABLE,
      message: expect.stringContaining('cannot resolve domain "cluster2": SRV registry.nsm-system.cluster2: no answer within 100 ms'),
    });
    expect(heard).toBeGreaterThanOrEqual(2);
  });

  it('Find: names go out without @domain and come back with it, labels re-keyed; endpoints get the domain’s nsmgr-proxy URL (none: theirs)', async () => {
    const resolver = await resolverOf({
      'registry.nsm-system.cluster2': { a: ['169.254.2.1'], srvPort: 5002 },
      'nsmgr-proxy.nsm-system.cluster2': { a: ['169.254.2.2'], srvPort: 5004 },
      'registry.nsm-system.floating': { a: ['169.254.3.1'], srvPort: 5002 },
    });
    const asked: { name: string; services: string[]; url: string | undefined }[] = [];
    const remote: NSEHandler = {
      register: (nse) => of(nse),
      unregister: () => of(undefined),
      find: (q, ctx): Observable<NetworkServiceEndpointResponse> => {
        asked.push({ name: q.networkServiceEndpoint?.name ?? '', services: q.networkServiceEndpoint?.networkServiceNames ?? [], url: registryUrlOf(ctx)?.href });
        return of({
          deleted: false,
          networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ name: 'nse-1', networkServiceNames: ['svc'], networkServiceLabels: { svc: { labels: { app: 'a' } } }, url: 'tcp://169.254.2.9:5001' }),
        });
      },
    };
    const chain = registryChain([nseDnsResolve({ resolver })], remote);
    const find = (services: string[]) => lastValueFrom(chain.find({ networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ networkServiceNames: services }), watch: false }, Context.background).pipe(toArray()));
    const [viaProxy] = await find(['svc@cluster2']);
    expect(viaProxy?.networkServiceEndpoint).toMatchObject({ name: 'nse-1@cluster2', networkServiceNames: ['svc@cluster2'], networkServiceLabels: { 'svc@cluster2': { labels: { app: 'a' } } }, url: 'tcp://169.254.2.2:5004' });
    const [floating] = await find(['svc@floating']);
    expect(floating?.networkServiceEndpoint?.url).toBe('tcp://169.254.2.9:5001');
    expect(asked).toEqual([
      { name: '', services: ['svc'], url: 'tcp://169.254.2.1:5002' },
      { name: '', services: ['svc'], url: 'tcp://169.254.3.1:5002' },
    ]);
    await expect(find(['svc'])).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, message: expect.stringContaining('has no @domain') });
  });
});
