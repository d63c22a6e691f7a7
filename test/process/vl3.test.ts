import { expect, it } from 'vitest';
import { describeKernel, ipJson, pings, resolves, tcpTransfer, underlay, useNamespaces } from '../kernel/namespaces.js';
import { nscEvents, stop, type Daemon } from './processMesh.js';
import { useProcessMesh } from './useProcessMesh.js';

// Registrations live 15 s (refreshed every 5 s): a dead NSE leaves the registry, and its peers' views, within the test.
const mesh = useProcessMesh({ NSM_REGISTRATION_LIFETIME: '15s' });

interface Client {
  readonly name: string;
  readonly netns: string;
  readonly daemon: Daemon;
}

/** The client's vl3 address: what its interface carries now (a heal may have changed it). */
function addressOf(c: Client): string {
  try {
    return ipJson<{ addr_info: { local: string; family: string }[] }[]>(c.netns, ['addr', 'show', 'dev', 'nsm-1'])[0]?.addr_info.find((a) => a.family === 'inet')?.local ?? '';
  } catch {
    return ''; // no interface (between a heal's Close and Request)
  }
}

/** Every client reaches every other, by address and by its vl3 DNS name (`<POD_NAME>.vL3`), within a few tries each. */
async function allPairsReach(clients: readonly Client[]): Promise<void> {
  const addresses = clients.map(addressOf);
  expect(new Set(addresses).size).toBe(clients.length);
  for (const [i, c] of clients.entries()) {
    for (const [j, other] of clients.entries()) {
      if (i === j) continue;
      const to = addresses[j] ?? '';
      await expect.poll(() => ({ from: c.name, to, ok: pings(c.netns, to) }), { timeout: 15_000 }).toEqual({ from: c.name, to, ok: true });
      await expect.poll(() => ({ from: c.name, name: `${other.name}.vL3`, is: resolves(c.netns, `${other.name}.vL3`) }), { timeout: 15_000 }).toEqual({ from: c.name, name: `${other.name}.vL3`, is: to });
      expect(pings(c.netns, `${other.name}.vL3`)).toBe(true);
    }
  }
}

describeKernel('vl3 on the kernel datapath: ipam-vl3, two nse-vl3 on two nodes, three clients', () => {
  const ns = useNamespaces();

  it('the NSEs take prefixes from ipam-vl3 and the later connects to the earlier; every client reaches every other by address and by DNS name; kill -9 of an NSE: its clients heal to the other, all pairs reach again, and the other NSE drops the dead one’s routes', async () => {
    const [node0, node1, vl3a, vl3b] = [ns.make('node0'), ns.make('node1'), ns.make('vl3a'), ns.make('vl3b')];
    underlay(node0, node1, '169.254.250.1/30', '169.254.250.2/30');
    mesh().node(node0, 0, '169.254.250.1');
    mesh().node(node1, 1, '169.254.250.2');
    mesh().start(node0, 'ipam-vl3', { NSM_LISTEN_ON: mesh().sock('ipam'), NSM_PREFIX: '169.254.64.0/18', NSM_CLIENT_PREFIX_LEN: '24' });
    // vl3-a first: vl3-b, registered after it, is the one that connects.
    const nses = { 'vl3-a': mesh().start(vl3a, 'nse-vl3', { NSM_NAME: 'vl3-a', NSM_CONNECT_TO: mesh().sock('nsmgr-0'), NSM_PREFIX_SERVER_URL: mesh().sock('ipam'), NSM_LOG_LEVEL: 'INFO' }) };
    await expect.poll(() => /"msg":"serving"/.test(nses['vl3-a'].out), { timeout: 30_000 }).toBe(true);
    // Each process has a SPIFFE ID of its own here (in a cluster the replicas share one): one registers the service.
    const b = mesh().start(vl3b, 'nse-vl3', { NSM_NAME: 'vl3-b', NSM_CONNECT_TO: mesh().sock('nsmgr-1'), NSM_PREFIX_SERVER_URL: mesh().sock('ipam'), NSM_REGISTER_SERVICE: 'false', NSM_LOG_LEVEL: 'INFO' });
    await expect.poll(() => /"msg":"vl3 peer connected","component":"nse-vl3","peer":"vl3-a"/.test(b.out), { timeout: 30_000 }).toBe(true);
    const prefixOfA = /"msg":"vl3 prefix","component":"nse-vl3","prefix":"([^"]+)"/.exec(nses['vl3-a'].out)?.[1] ?? '';
    const routesOfB = () => ipJson<{ dst: string }[]>(vl3b, ['route', 'show']).map((r) => r.dst);
    expect(routesOfB()).toContain(prefixOfA);
    const clients: Client[] = [0, 1, 2].map((i) => {
      const netns = ns.make(`nsc${i}`);
      const name = `nsc${i}`;
      const env = { NSM_NAME: name, NSM_CONNECT_TO: mesh().sock(`nsmgr-${i === 2 ? 1 : 0}`), NSM_NETWORK_SERVICES: 'kernel://vL3/nsm-1', POD_NAME: name };
      return { name, netns, daemon: mesh().start(netns, 'nsc', env) };
    });
    for (const c of clients) await expect.poll(() => nscEvents(c.daemon, 'connected').length, { timeout: 30_000 }).toBe(1);
    for (const a of clients.map(addressOf)) expect(a).toMatch(/^169\.254\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.\d+$/);
    await allPairsReach(clients);
    // TCP across the nodes, client of one NSE to the client of the other (the vl3 MTU on a VXLAN path).
    const [first, , third] = clients as [Client, Client, Client];
    expect(await tcpTransfer(first.netns, third.netns, addressOf(third), 4 << 20)).toBe(4 << 20);

    // vl3-a dies without a word, as a Pod does (process killed, netns gone); the nsmgr of node 0
    // spread its two clients over both NSEs, so it has one at least. They heal to vl3-b.
    const moved = clients.filter((c) => nscEvents(c.daemon, 'connected')[0]?.path.pathSegments.at(-1)?.name === 'vl3-a');
    expect(moved.length).toBeGreaterThan(0);
    const before = moved.map(addressOf);
    expect(await stop(nses['vl3-a'], 'SIGKILL')).not.toBe(0);
    ns.remove(vl3a);
    for (const [i, c] of moved.entries()) {
      await expect.poll(() => [before[i], addressOf(c)], { timeout: 45_000 }).toSatisfy(([was, now]) => now !== '' && now !== was);
    }
    await allPairsReach(clients);
    // vl3-b drops its routes to vl3-a's block: the dead path is closed below it, or vl3-a's registration
    // expires (15 s) and vl3-b closes the connection itself.
    await expect.poll(routesOfB, { timeout: 45_000 }).not.toContain(prefixOfA);
    for (const c of clients) expect(await stop(c.daemon)).toBe(0);
  }, 240_000);
});
