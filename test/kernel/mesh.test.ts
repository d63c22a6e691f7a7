import { expect, it } from 'vitest';
import { KernelDatapath } from '../../dataplane/kernel/kernel.js';
import { messageOf, statusOf } from '../../operators/core/errors.js';
import { point2pointIpam } from '../../operators/networkservice/point2pointIpam.js';
import { useSandbox } from '../sandbox/harness.js';
import { Mesh } from '../sandbox/mesh.js';
import { describeKernel, ipJson, pings, tcpTransfer, underlay, useNamespaces } from './namespaces.js';

const linksIn = (ns: string) => ipJson<{ ifname: string }[]>(ns, ['link', 'show']).filter((l) => l.ifname !== 'lo').map((l) => l.ifname);

describeKernel('the mesh on the kernel datapath (sandbox control plane, real interfaces)', () => {
  const h = useSandbox();
  const ns = useNamespaces();

  it('local: the nsc gets nsm-1 with the NSE’s address across one veth; ping and 4 MB of TCP pass both ways; Close leaves no interface', async () => {
    const [nsc, nse] = [ns.make('nsc'), ns.make('nse')];
    const mesh = await Mesh.build(h.sandbox, { defaultForwarder: false });
    await mesh.addForwarder(0, { datapath: new KernelDatapath() });
    await mesh.endpoint(0, 'icmp-responder', { services: ['icmp-responder'], additional: [point2pointIpam(['169.254.0.0/16'])], netnsUrl: () => ns.inodeUrl(nse) });
    const client = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url);
    const conn = await client.request({ connection: { id: 'nsc-1', networkService: 'icmp-responder' }, mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL', parameters: { inodeURL: ns.inodeUrl(nsc), name: 'nsm-1' } }] });
    expect(conn.path?.pathSegments).toHaveLength(4);
    expect(linksIn(nsc)).toEqual(['nsm-1']);
    expect(pings(nsc, '169.254.0.0')).toBe(true);
    expect(pings(nse, '169.254.0.1')).toBe(true);
    expect(await tcpTransfer(nsc, nse, '169.254.0.0', 4 << 20)).toBe(4 << 20);

    const refreshed = await client.request({ connection: conn, mechanismPreferences: conn.mechanism ? [conn.mechanism] : [] });
    expect(pings(nsc, '169.254.0.0')).toBe(true);
    // The forwarder's segment carries the interface counters (upstream metric keys).
    const metrics = refreshed.path?.pathSegments[2]?.metrics ?? {};
    expect(metrics['server_interface']).toBe('nsm-1');
    expect(Number(metrics['server_tx_bytes'])).toBeGreaterThan(4 << 20);
    expect(Number(metrics['client_rx_bytes'])).toBeGreaterThan(4 << 20);
    await client.close(refreshed);
    expect(linksIn(nsc)).toEqual([]);
    expect(linksIn(nse)).toEqual([]);
  });

  it('remote: two node netns joined by an underlay veth; the connection crosses it over VXLAN; ping and TCP pass; Close leaves nothing', async () => {
    const [node0, node1, nsc, nse] = [ns.make('node0'), ns.make('node1'), ns.make('nsc'), ns.make('nse')];
    underlay(node0, node1, '169.254.250.1/30', '169.254.250.2/30');
    const mesh = await Mesh.build(h.sandbox, { nodes: 2, defaultForwarder: false });
    await mesh.addForwarder(0, { datapath: new KernelDatapath({ tunnelIp: '169.254.250.1', underlayNetns: `/run/netns/${node0}` }) });
    await mesh.addForwarder(1, { datapath: new KernelDatapath({ tunnelIp: '169.254.250.2', underlayNetns: `/run/netns/${node1}` }) });
    await mesh.endpoint(1, 'icmp-responder', { services: ['icmp-responder'], additional: [point2pointIpam(['169.254.0.0/16'])], netnsUrl: () => ns.inodeUrl(nse) });
    const client = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url);
    const conn = await client.request({ connection: { id: 'nsc-1', networkService: 'icmp-responder' }, mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL', parameters: { inodeURL: ns.inodeUrl(nsc), name: 'nsm-1' } }] });
    expect(conn.path?.pathSegments).toHaveLength(6);
    expect(pings(nsc, '169.254.0.0')).toBe(true);
    expect(await tcpTransfer(nsc, nse, '169.254.0.0', 4 << 20)).toBe(4 << 20);
    await client.close(conn);
    expect(linksIn(nsc)).toEqual([]);
    expect(linksIn(nse)).toEqual([]);
  });

  it('bad input through the mesh: a 16-character interface name, an inodeURL naming no netns, a malformed CIDR → INVALID_ARGUMENT / NOT_FOUND naming it, nothing left behind', async () => {
    const [nsc, nse] = [ns.make('nsc'), ns.make('nse')];
    const mesh = await Mesh.build(h.sandbox, { defaultForwarder: false });
    await mesh.addForwarder(0, { datapath: new KernelDatapath() });
    await mesh.endpoint(0, 'icmp-responder', { services: ['icmp-responder'], additional: [point2pointIpam(['169.254.0.0/16'])], netnsUrl: () => ns.inodeUrl(nse) });
    const client = h.sandbox.client('nsc', mesh.nodes[0]!.nsmgr.url, { retry: false, heal: false });
    const attempt = (parameters: Record<string, string>, context?: object) =>
      client.request({ connection: { id: 'nsc-1', networkService: 'icmp-responder', ...(context ? { context } : {}) }, mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL', parameters }] }).then(
        () => undefined,
        (e: unknown) => ({ code: statusOf(e), details: messageOf(e) }),
      );
    const cases: [Record<string, string>, object | undefined, number, RegExp][] = [
      [{ inodeURL: ns.inodeUrl(nsc), name: 'sixteen-chars-ab' }, undefined, 3, /interface name "sixteen-chars-ab" is not valid/],
      [{ inodeURL: 'inode://4/1', name: 'nsm-1' }, undefined, 5, /inode:\/\/4\/1.*no network namespace/],
      [{ inodeURL: ns.inodeUrl(nsc), name: 'nsm-1' }, { ipContext: { srcIpAddrs: ['169.254.7.1/40'] } }, 3, /169\.254\.7\.1\/40/],
    ];
    for (const [parameters, context, code, message] of cases) {
      const err = await attempt(parameters, context);
      expect(err?.code, String(err?.details)).toBe(code);
      expect(err?.details).toMatch(message);
      expect(linksIn(nsc)).toEqual([]);
      expect(linksIn(nse)).toEqual([]);
    }
  });
});
