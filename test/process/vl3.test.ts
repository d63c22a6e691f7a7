import { expect, it } from 'vitest';
import { describeKernel, pings, useNamespaces } from '../kernel/namespaces.js';
import { nscEvents, stop } from './processMesh.js';
import { useProcessMesh } from './useProcessMesh.js';

const mesh = useProcessMesh();

describeKernel('vl3 on the kernel datapath (issue 17, first part): ipam-vl3, one nse-vl3, three clients', () => {
  const ns = useNamespaces();

  it('every client gets a host address in the NSE’s prefix (from ipam-vl3) and pings the NSE and every other client through it; SIGTERM closes', async () => {
    const [host, nseNs] = [ns.make('node0'), ns.make('vl3')];
    mesh().node(host, 0);
    mesh().start(host, 'ipam-vl3', { NSM_LISTEN_ON: mesh().sock('ipam'), NSM_PREFIX: '169.254.64.0/18', NSM_CLIENT_PREFIX_LEN: '24' });
    mesh().start(nseNs, 'nse-vl3', { NSM_CONNECT_TO: mesh().sock('nsmgr-0'), NSM_PREFIX_SERVER_URL: mesh().sock('ipam'), });
    const clients = [0, 1, 2].map((i) => {
      const netns = ns.make(`nsc${i}`);
      return { netns, daemon: mesh().nsc(netns, 'kernel://vL3/nsm-1') };
    });
    for (const c of clients) await expect.poll(() => nscEvents(c.daemon, 'connected').length, { timeout: 30_000 }).toBe(1);
    const addresses = clients.map((c) => nscEvents(c.daemon, 'connected')[0]?.context.ipContext.srcIpAddrs[0]?.replace(/\/32$/, '') ?? '');
    expect(new Set(addresses).size).toBe(3);
    for (const a of addresses) expect(a).toMatch(/^169\.254\.64\.\d+$/);
    // Every pair answers within a few tries (a loaded machine may drop the first ping's ARP round).
    for (const c of clients) await expect.poll(() => pings(c.netns, '169.254.64.0'), { timeout: 10_000 }).toBe(true);
    for (const [i, c] of clients.entries()) {
      for (const [j, other] of addresses.entries()) if (i !== j) await expect.poll(() => ({ from: i, to: other, ok: pings(c.netns, other) }), { timeout: 10_000 }).toEqual({ from: i, to: other, ok: true });
    }
    for (const c of clients) expect(await stop(c.daemon)).toBe(0);
  });
});
