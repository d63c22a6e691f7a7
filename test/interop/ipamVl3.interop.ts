import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { firstValueFrom, Observable, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { PrefixRequest, Type, type PrefixResponse } from '../../proto/gen/ipam.js';
import { Context } from '../../operators/core/context.js';
import { parseNsmUrl } from '../../operators/tools/nsmUrl.js';
import { managePrefixesCall } from '../../streams/grpc/ipam.js';
import { describeKernel, pings, useNamespaces } from '../kernel/namespaces.js';
import { nscEvents } from '../process/processMesh.js';
import { useProcessMesh } from '../process/useProcessMesh.js';
import { referenceBinaries } from './reference.js';

const bin = referenceBinaries();
const mesh = useProcessMesh();

/**
 * The ManagePrefixes answers of the server at `url` to NSEs that each hold their stream open:
 * a plain ALLOCATE, one asking for its own prefix, then growing excludes (upstream's test cases).
 */
async function answers(url: string): Promise<PrefixResponse[]> {
  await expect.poll(() => existsSync(url.slice('unix://'.length)), { timeout: 20_000 }).toBe(true);
  const pool = await mesh().nscPool();
  const channel = pool.acquire(parseNsmUrl(url));
  const ask = (request: Partial<PrefixRequest>) => {
    const out = new Subject<PrefixResponse>();
    managePrefixesCall(channel, new Observable<PrefixRequest>((s) => s.next(PrefixRequest.fromPartial({ type: Type.ALLOCATE, ...request }))), Context.background).subscribe(out);
    return firstValueFrom(out);
  };
  const got = [await ask({}), await ask({}), await ask({ prefix: '172.16.9.0/24' }), await ask({ prefix: '172.16.9.0/24' })];
  for (const excluded of [['172.16.2.0/24'], ['172.16.2.0/24', '172.16.3.0/24', '172.16.4.0/24']]) got.push(await ask({ excludePrefixes: excluded }));
  return got;
}

describe('ipam.IPAM/ManagePrefixes: nsm-rx ipam-vl3 and upstream’s vl3ipam server (sdk v1.14.5) answer alike, over mTLS', () => {
  if (bin === undefined) return;

  it('the same requests get the same prefixes and excludes from both servers', async () => {
    const theirs = mesh().sock('go-ipam');
    mesh().run(undefined, [join(bin, 'ipam-vl3'), theirs], { NSM_PREFIX: '172.16.0.0/16', NSM_CLIENT_PREFIX_LEN: '24' });
    const ours = mesh().sock('ipam');
    mesh().start(undefined, 'ipam-vl3', { NSM_LISTEN_ON: ours, NSM_PREFIX: '172.16.0.0/16', NSM_CLIENT_PREFIX_LEN: '24' });
    const upstream = await answers(theirs);
    expect(upstream.map((a) => a.prefix)).toEqual(['172.16.0.0/24', '172.16.1.0/24', '172.16.9.0/24', '172.16.2.0/24', '172.16.3.0/24', '172.16.5.0/24']);
    expect(await answers(ours)).toEqual(upstream);
  });
});

describeKernel('nsm-rx nse-vl3 on upstream’s vl3ipam server (sdk v1.14.5)', () => {
  const ns = useNamespaces();
  if (bin === undefined) return;

  it('the NSE takes its prefix from the Go server, its clients get addresses in it and reach each other through it', async () => {
    const [host, nseNs, nsc0, nsc1] = [ns.make('node0'), ns.make('vl3'), ns.make('nsc0'), ns.make('nsc1')];
    mesh().node(host, 0);
    const theirs = mesh().sock('go-ipam');
    mesh().run(undefined, [join(bin, 'ipam-vl3'), theirs], { NSM_PREFIX: '169.254.64.0/18', NSM_CLIENT_PREFIX_LEN: '24' });
    mesh().start(nseNs, 'nse-vl3', { NSM_CONNECT_TO: mesh().sock('nsmgr-0'), NSM_PREFIX_SERVER_URL: theirs });
    const clients = [nsc0, nsc1].map((netns, i) => ({ netns, daemon: mesh().start(netns, 'nsc', { NSM_NAME: `nsc${i}`, NSM_CONNECT_TO: mesh().sock('nsmgr-0'), NSM_NETWORK_SERVICES: 'kernel://vL3/nsm-1' }) }));
    for (const c of clients) await expect.poll(() => nscEvents(c.daemon, 'connected').length, { timeout: 30_000 }).toBe(1);
    const addresses = clients.map((c) => nscEvents(c.daemon, 'connected')[0]?.context.ipContext.srcIpAddrs[0]?.replace(/\/32$/, '') ?? '');
    expect([...addresses].sort()).toEqual(['169.254.64.1', '169.254.64.2']); // the Go server's first /24
    await expect.poll(() => pings(nsc0, addresses[1] ?? ''), { timeout: 10_000 }).toBe(true);
    await expect.poll(() => pings(nsc1, addresses[0] ?? ''), { timeout: 10_000 }).toBe(true);
  }, 120_000);
});
