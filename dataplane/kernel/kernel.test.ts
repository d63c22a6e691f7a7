import { status } from '../../operators/core/status.js';
import { execFileSync } from 'node:child_process';
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { firstValueFrom, lastValueFrom, tap } from 'rxjs';
import { expect, it } from 'vitest';
import { Connection, type Mechanism } from '../../proto/gen/connection.js';
import { statusOf } from '../../operators/core/errors.js';
import { describeKernel, ipJson, pings, startWorkload, underlay, useNamespaces } from '../../test/kernel/namespaces.js';
import type { CrossConnect } from '../datapath.js';
import { KernelDatapath } from './kernel.js';
import { interfaceNameFor } from './names.js';
import { kernelLivenessCheck } from './liveness.js';

interface Link {
  ifname: string;
  ifalias?: string;
}
interface Addr {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number }[];
}

/** The non-loopback interfaces of a netns. */
const linksIn = (ns: string) => ipJson<Link[]>(ns, ['link', 'show']).filter((l) => l.ifname !== 'lo');
const addrsOf = (ns: string, dev: string) => ipJson<Addr[]>(ns, ['addr', 'show', 'dev', dev])[0]?.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);

const ipContext = (src: string, dst: string) => ({ ipContext: { srcIpAddrs: [src], dstIpAddrs: [dst] } });

/** A cross-connect as a forwarder sees it: the client's KERNEL side and the next hop's answer. */
function crossConnect(id: string, incoming: Mechanism, outgoing: Mechanism, context = ipContext('169.254.0.1/32', '169.254.0.0/32')): CrossConnect {
  const base = { id, networkService: 'icmp-responder', path: { index: 1, pathSegments: [{ name: 'nsc', id: `nsc-${id}` }, { name: 'fwd', id }] }, context };
  return { incoming: Connection.fromPartial({ ...base, mechanism: incoming }), outgoing: Connection.fromPartial({ ...base, mechanism: outgoing }) };
}

const kernel = (inodeURL: string, name: string): Mechanism => ({ cls: 'LOCAL', type: 'KERNEL', parameters: { inodeURL, name } });

/** Our processes in the netns `name`, or holding it open: they would keep a dead workload's interface answering. */
function holders(name: string): string[] {
  const ino = statSync(`/run/netns/${name}`).ino;
  return readdirSync('/proc')
    .filter((pid) => /^\d+$/.test(pid) && pid !== String(process.pid))
    .filter((pid) => {
      try {
        return statSync(`/proc/${pid}/ns/net`).ino === ino || readdirSync(`/proc/${pid}/fd`).some((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`, { encoding: 'utf8' }) === `net:[${ino}]`);
      } catch {
        return false; // gone meanwhile
      }
    });
}

describeKernel('KernelDatapath (real netns, veth, VXLAN)', () => {
  const ns = useNamespaces();

  it('local: a veth pair straight between the client and endpoint netns; ping both ways; refresh changes nothing; a new address is applied as a diff; Close leaves nothing', async () => {
    const [nsc, nse] = [ns.make('nsc'), ns.make('nse')];
    const dp = new KernelDatapath();
    const x = crossConnect('c1', kernel(ns.inodeUrl(nsc), 'nsm-1'), kernel(ns.inodeUrl(nse), 'icmp-resp-1'));
    const answered = await firstValueFrom(dp.program(x));
    expect(answered.parameters['name']).toBe('nsm-1');
    expect(linksIn(nsc).map((l) => [l.ifname, l.ifalias])).toEqual([['nsm-1', 'nsm-rx/client/nsc-c1']]);
    expect(linksIn(nse).map((l) => [l.ifname, l.ifalias])).toEqual([['icmp-resp-1', 'nsm-rx/endpoint/nsc-c1']]);
    expect(pings(nsc, '169.254.0.0')).toBe(true);
    expect(pings(nse, '169.254.0.1')).toBe(true);

    const ifindex = ipJson<{ ifindex: number }[]>(nsc, ['link', 'show', 'nsm-1'])[0]?.ifindex;
    await firstValueFrom(dp.program(x));
    expect(ipJson<{ ifindex: number }[]>(nsc, ['link', 'show', 'nsm-1'])[0]?.ifindex).toBe(ifindex); // not remade
    // The same netns by another URL (nsc-init's, then the nsc's): still the same link.
    await firstValueFrom(dp.program(crossConnect('c1', kernel(`file:///run/netns/${nsc}`, 'nsm-1'), kernel(ns.inodeUrl(nse), 'icmp-resp-1'))));
    expect(ipJson<{ ifindex: number }[]>(nsc, ['link', 'show', 'nsm-1'])[0]?.ifindex).toBe(ifindex);

    const moved = crossConnect('c1', kernel(ns.inodeUrl(nsc), 'nsm-1'), kernel(ns.inodeUrl(nse), 'icmp-resp-1'), ipContext('169.254.0.3/32', '169.254.0.0/32'));
    await firstValueFrom(dp.program(moved));
    expect(addrsOf(nsc, 'nsm-1')).toEqual(['169.254.0.3/32']);
    expect(pings(nse, '169.254.0.3')).toBe(true);
    expect(ipJson<{ ifindex: number }[]>(nsc, ['link', 'show', 'nsm-1'])[0]?.ifindex).toBe(ifindex);

    await lastValueFrom(dp.unprogram(moved), { defaultValue: undefined });
    expect(linksIn(nsc)).toEqual([]);
    expect(linksIn(nse)).toEqual([]);
    expect(dp.size).toBe(0);
  });

  it('interface counters as a stream: the sample program read at once, then fresh ones on the interval (traffic shows); completes on Close', async () => {
    const [nsc, nse] = [ns.make('nsc'), ns.make('nse')];
    const dp = new KernelDatapath({ statsInterval: 20 });
    const x = crossConnect('c1', kernel(ns.inodeUrl(nsc), 'nsm-1'), kernel(ns.inodeUrl(nse), 'icmp-resp-1'));
    await firstValueFrom(dp.program(x));
    const first = await firstValueFrom(dp.metrics('c1'));
    expect(first).toMatchObject({ server_interface: 'nsm-1', client_interface: 'icmp-resp-1' });
    const before = Number(first['server_tx_bytes']);
    const seen: Record<string, string>[] = [];
    const done = lastValueFrom(dp.metrics('c1').pipe(tap((m) => seen.push(m))), { defaultValue: undefined });
    expect(pings(nsc, '169.254.0.0')).toBe(true);
    await expect.poll(() => Number(seen.at(-1)?.['server_tx_bytes'])).toBeGreaterThan(before);
    expect(Number(seen.at(-1)?.['client_rx_bytes'])).toBeGreaterThan(0);
    expect(await firstValueFrom(dp.metrics('no-such-connection'), { defaultValue: 'none' })).toBe('none');
    await lastValueFrom(dp.unprogram(x), { defaultValue: undefined });
    await done; // completed by the Close
    dp.dispose();
  });

  it('remote: VXLAN devices made from each node netns (underlay there) into the workload netns; ping crosses the underlay; Close removes them', async () => {
    const [node1, node2, nsc, nse] = [ns.make('node1'), ns.make('node2'), ns.make('nsc'), ns.make('nse')];
    underlay(node1, node2, '169.254.200.1/30', '169.254.200.2/30');
    const dp1 = new KernelDatapath({ tunnelIp: '169.254.200.1', underlayNetns: `/run/netns/${node1}` });
    // Idle ip processes would stay a minute: only the endpoint's exit may end the one in its netns.
    const dp2 = new KernelDatapath({ tunnelIp: '169.254.200.2', underlayNetns: `/run/netns/${node2}`, ipIdleMs: 60_000 });
    const endpoint = startWorkload(nse);

    // Node 2's forwarder serves the VXLAN side first (it picks the VNI), then node 1's programs with its answer.
    const [offer] = dp1.outgoingPreferences(true, Connection.fromPartial({}));
    const x2 = crossConnect('c2', offer as Mechanism, kernel(ns.inodeUrl(nse), 'icmp-resp-1'));
    const vxlan = await firstValueFrom(dp2.program(x2));
    expect(vxlan.parameters).toMatchObject({ src_ip: '169.254.200.1', dst_ip: '169.254.200.2', dst_port: '4789' });
    expect(Number(vxlan.parameters['vni']) % 2).toBe(0); // src sorts first: even (upstream EvenVNI)
    const x1 = crossConnect('c1', kernel(ns.inodeUrl(nsc), 'nsm-1'), vxlan);
    await firstValueFrom(dp1.program(x1));
    expect(pings(nsc, '169.254.0.0')).toBe(true);
    expect(pings(nse, '169.254.0.1')).toBe(true);
    // Once the endpoint is gone nothing of ours stays in (or keeps open) its netns: its interface must go with it.
    expect(holders(nse).length).toBeGreaterThan(1); // the endpoint and our ip
    process.kill(endpoint, 'SIGKILL');
    await expect.poll(() => holders(nse)).toEqual([]);
    expect(linksIn(node1).map((l) => l.ifname)).toEqual(['u0']); // nothing in the node netns

    await lastValueFrom(dp1.unprogram(x1), { defaultValue: undefined });
    await lastValueFrom(dp2.unprogram({ ...x2, incoming: { ...x2.incoming, mechanism: vxlan } }), { defaultValue: undefined });
    expect(linksIn(nsc)).toEqual([]);
    expect(linksIn(nse)).toEqual([]);
    dp1.dispose();
    dp2.dispose();
    await expect.poll(() => [...holders(nsc), ...holders(node1), ...holders(node2)]).toEqual([]);
  });

  it('a restarted forwarder replaces its predecessor’s interfaces for the same client connection instead of colliding', async () => {
    const [nsc, nse] = [ns.make('nsc'), ns.make('nse')];
    const context = { ipContext: { srcIpAddrs: ['169.254.0.1/32'], dstIpAddrs: ['169.254.0.0/32'], policies: [{ from: '169.254.0.1/32', routes: [] }] } };
    const x = crossConnect('c1', kernel(ns.inodeUrl(nsc), 'nsm-1'), kernel(ns.inodeUrl(nse), 'icmp-resp-1'), context);
    await firstValueFrom(new KernelDatapath().program(x)); // the forwarder that "crashed"
    const successor = new KernelDatapath();
    const again = { incoming: { ...x.incoming, id: 'c1-new' }, outgoing: x.outgoing };
    await firstValueFrom(successor.program(again));
    const ourRules = () => ipJson<{ table: string }[]>(nsc, ['rule', 'show']).filter((r) => Number(r.table) >= 0x4e530000);
    expect(ourRules()).toHaveLength(1); // the predecessor's rule went with its interface
    expect(linksIn(nsc).map((l) => l.ifname)).toEqual(['nsm-1']);
    expect(linksIn(nse).map((l) => l.ifname)).toEqual(['icmp-resp-1']);
    expect(pings(nsc, '169.254.0.0')).toBe(true);
    await lastValueFrom(successor.unprogram(again), { defaultValue: undefined });
    expect(ourRules()).toEqual([]);
    expect(linksIn(nsc)).toEqual([]);
    expect(linksIn(nse)).toEqual([]);
  });

  it('a second connection given the endpoint-side name of another is refused ALREADY_EXISTS; the other keeps its interface (the soak: two of 100 names collided, and each heal took the name from the other)', async () => {
    const [nsc1, nsc2, nse] = [ns.make('nsc1'), ns.make('nsc2'), ns.make('nse')];
    const dp = new KernelDatapath();
    await firstValueFrom(dp.program(crossConnect('c1', kernel(ns.inodeUrl(nsc1), 'nsm-1'), kernel(ns.inodeUrl(nse), 'icmp-resp-1'))));
    const second = crossConnect('c2', kernel(ns.inodeUrl(nsc2), 'nsm-1'), kernel(ns.inodeUrl(nse), 'icmp-resp-1'), ipContext('169.254.0.3/32', '169.254.0.2/32'));
    const err = await firstValueFrom(dp.program(second)).catch((e: unknown) => e);
    expect(statusOf(err), String(err)).toBe(status.ALREADY_EXISTS);
    expect(String(err)).toMatch(/"icmp-resp-1" .* belongs to another connection \(nsm-rx\/endpoint\/nsc-c1\)/);
    expect(linksIn(nsc2)).toEqual([]);
    expect(linksIn(nse).map((l) => [l.ifname, l.ifalias])).toEqual([['icmp-resp-1', 'nsm-rx/endpoint/nsc-c1']]);
    expect(pings(nsc1, '169.254.0.0')).toBe(true);
    expect(dp.size).toBe(1);
    // What this forwarder proposes: a connection's own name; for another, a name none of its connections holds.
    const proposed = (x: CrossConnect) => dp.outgoingPreferences(false, x.incoming)[0]?.parameters['name'];
    expect(proposed(crossConnect('c1', kernel(ns.inodeUrl(nsc1), 'nsm-1'), kernel(ns.inodeUrl(nse), 'icmp-resp-1')))).toBe('icmp-resp-1');
    const taking = crossConnect('c3', kernel(ns.inodeUrl(nsc2), 'nsm-1'), kernel(ns.inodeUrl(nse), interfaceNameFor('icmp-responder', 'nsc-c2')), ipContext('169.254.0.5/32', '169.254.0.4/32'));
    await firstValueFrom(dp.program(taking));
    expect(proposed(second)).toBe(interfaceNameFor('icmp-responder', 'nsc-c2', [interfaceNameFor('icmp-responder', 'nsc-c2')]));
    expect(proposed(second)).not.toBe(interfaceNameFor('icmp-responder', 'nsc-c2'));
    await lastValueFrom(dp.unprogram(taking), { defaultValue: undefined });
    await lastValueFrom(dp.unprogram(crossConnect('c1', kernel(ns.inodeUrl(nsc1), 'nsm-1'), kernel(ns.inodeUrl(nse), 'icmp-resp-1'))), { defaultValue: undefined });
    expect(linksIn(nse)).toEqual([]);
  });

  it('a Close reaching a forwarder without state (restarted) still removes the client interface', async () => {
    const [nsc, nse] = [ns.make('nsc'), ns.make('nse')];
    const x = crossConnect('c1', kernel(ns.inodeUrl(nsc), 'nsm-1'), kernel(ns.inodeUrl(nse), 'icmp-resp-1'));
    await firstValueFrom(new KernelDatapath().program(x));
    await lastValueFrom(new KernelDatapath().unprogram({ incoming: x.incoming, outgoing: { ...x.outgoing, mechanism: undefined } }), { defaultValue: undefined });
    expect(linksIn(nsc)).toEqual([]);
    expect(linksIn(nse)).toEqual([]);
  });

  it('bad input is refused with a status naming it, and nothing is left behind', async () => {
    const [nsc, nse] = [ns.make('nsc'), ns.make('nse')];
    const dp = new KernelDatapath();
    const cases: [CrossConnect, number, RegExp][] = [
      [crossConnect('a', kernel(ns.inodeUrl(nsc), 'an-interface-name-too-long'), kernel(ns.inodeUrl(nse), 'e')), 3, /interface name "an-interface-name-too-long" is not valid/],
      [crossConnect('b', kernel('inode://4/1', 'nsm-1'), kernel(ns.inodeUrl(nse), 'e')), 5, /inode:\/\/4\/1.*no network namespace/],
      [crossConnect('c', kernel('http://x', 'nsm-1'), kernel(ns.inodeUrl(nse), 'e')), 3, /inodeURL "http:\/\/x"/],
      // Upstream's pre-sendfd name for "my netns": read here it would be the forwarder's own.
      [crossConnect('p', kernel('file:///proc/thread-self/ns/net', 'nsm-1'), kernel(ns.inodeUrl(nse), 'e')), 3, /thread-self.*sender's own netns/],
      [crossConnect('q', kernel(ns.inodeUrl(nsc), 'nsm-1'), kernel('file:///proc/self/ns/net', 'e')), 3, /proc\/self.*sender's own netns/],
      [crossConnect('d', kernel(ns.inodeUrl(nsc), 'nsm-1'), kernel(ns.inodeUrl(nse), 'e'), ipContext('169.254.0.1/33', '169.254.0.0/32')), 3, /src_ip_addrs: "169.254.0.1\/33" is not a CIDR/],
      [crossConnect('e', kernel(ns.inodeUrl(nsc), 'nsm-1'), kernel(ns.inodeUrl(nse), 'e'), ipContext('169.254.0.1/32', 'banana')), 3, /dst_ip_addrs: "banana"/],
    ];
    for (const [x, code, message] of cases) {
      const err = await firstValueFrom(dp.program(x)).catch((e: unknown) => e);
      expect(statusOf(err), String(err)).toBe(code);
      expect(String(err)).toMatch(message);
      expect(linksIn(nsc)).toEqual([]);
      expect(linksIn(nse)).toEqual([]);
    }
    // A name taken by an interface nsm-rx did not make is not touched.
    execFileSync('ip', ['-n', nsc, 'link', 'add', 'nsm-1', 'type', 'veth', 'peer', 'name', 'other']);
    const err = await firstValueFrom(dp.program(crossConnect('f', kernel(ns.inodeUrl(nsc), 'nsm-1'), kernel(ns.inodeUrl(nse), 'e')))).catch((e: unknown) => e);
    expect(String(err)).toMatch(/"nsm-1" already exists .* not made by nsm-rx/);
    expect(linksIn(nsc).map((l) => l.ifname).sort()).toEqual(['nsm-1', 'other']);
    expect(linksIn(nse)).toEqual([]);
    expect(dp.size).toBe(0);
  });

  it('the liveness check pings every source/destination pair from the client netns: alive while programmed, dead after', async () => {
    const [nsc, nse] = [ns.make('nsc'), ns.make('nse')];
    const dp = new KernelDatapath();
    const x = crossConnect('c1', kernel(ns.inodeUrl(nsc), 'nsm-1'), kernel(ns.inodeUrl(nse), 'icmp-resp-1'));
    await firstValueFrom(dp.program(x));
    const check = kernelLivenessCheck({ netns: `/run/netns/${nsc}`, timeout: 3000 }); // generous: a loaded CI machine
    expect(await firstValueFrom(check(x.incoming))).toBe(true);
    await lastValueFrom(dp.unprogram(x), { defaultValue: undefined });
    expect(await firstValueFrom(check(x.incoming))).toBe(false);
    expect(await firstValueFrom(check(Connection.fromPartial({ id: 'no-addresses' })))).toBe(true);
  });

  it('policy routes: a rule and a table per policy in the client netns while programmed, replaced when a refresh changes them, all gone after Close', async () => {
    const [nsc, nse] = [ns.make('nsc'), ns.make('nse')];
    const dp = new KernelDatapath();
    const context = { ipContext: { srcIpAddrs: ['169.254.0.1/32'], dstIpAddrs: ['169.254.0.0/32'], policies: [{ from: '169.254.0.1/32', proto: 'udp', dstPort: '53', routes: [] }] } };
    const x = crossConnect('c1', kernel(ns.inodeUrl(nsc), 'nsm-1'), kernel(ns.inodeUrl(nse), 'icmp-resp-1'), context);
    await firstValueFrom(dp.program(x));
    const ours = () => ipJson<{ table: string; ipproto?: string; dport?: number }[]>(nsc, ['rule', 'show']).filter((r) => Number(r.table) >= 0x4e530000);
    expect(ours()).toMatchObject([{ ipproto: 'udp', dport: 53 }]);
    const table = ours()[0]?.table as string;
    expect(ipJson<{ dst: string; gateway: string }[]>(nsc, ['route', 'show', 'table', table])).toMatchObject([{ dst: 'default', gateway: '169.254.0.0' }]);
    await firstValueFrom(dp.program(x)); // refresh: no duplicate rule
    expect(ours()).toHaveLength(1);
    // A refresh with changed policies (the NSE's file changed): the old rule and routes go, the new ones come.
    const changed = { ipContext: { ...context.ipContext, policies: [{ from: '169.254.0.1/32', proto: '6', dstPort: '8080', routes: [{ prefix: '169.254.40.0/24', nextHop: '169.254.0.0' }] }] } };
    const y = crossConnect('c1', kernel(ns.inodeUrl(nsc), 'nsm-1'), kernel(ns.inodeUrl(nse), 'icmp-resp-1'), changed);
    await firstValueFrom(dp.program(y));
    expect(ours()).toMatchObject([{ ipproto: 'tcp', dport: 8080 }]);
    expect(ipJson<{ dst: string }[]>(nsc, ['route', 'show', 'table', ours()[0]?.table as string]).map((r) => r.dst)).toEqual(['169.254.40.0/24']);
    await lastValueFrom(dp.unprogram(y), { defaultValue: undefined });
    expect(ours()).toEqual([]);
    expect(linksIn(nsc)).toEqual([]);
  });
});
