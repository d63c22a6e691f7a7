import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { firstValueFrom, lastValueFrom } from 'rxjs';
import type { Connection } from '../../proto/gen/connection.js';
import { KernelDatapath } from '../../dataplane/kernel/kernel.js';
import { kernelDatapathMissing } from '../../dataplane/kernel/host.js';
import { inodeUrlOfFile } from '../../dataplane/kernel/netns.js';
import { client } from '../../operators/chains/client.js';
import { Context } from '../../operators/core/context.js';
import { strictVl3Ipam } from '../../operators/networkservice/strictVl3Ipam.js';
import { upstreamRefresh } from '../../operators/networkservice/upstreamRefresh.js';
import { vl3Client } from '../../operators/networkservice/vl3Client.js';
import { vl3DnsClient } from '../../operators/networkservice/vl3DnsClient.js';
import { vl3DnsServer } from '../../operators/networkservice/vl3DnsServer.js';
import { vl3MtuClient } from '../../operators/networkservice/vl3MtuClient.js';
import { vl3MtuServer } from '../../operators/networkservice/vl3MtuServer.js';
import { vl3Server } from '../../operators/networkservice/vl3Server.js';
import { Vl3Dns } from '../../operators/tools/vl3Dns.js';
import { Vl3Ipam } from '../../operators/tools/vl3Ipam.js';
import { peerRequest } from '../../nodes/nse-vl3/peers.js';
import { addNetns, delNetns, inodeUrlOf, underlay } from '../kernel/netns.js';
import { Mesh } from '../sandbox/mesh.js';
import { Sandbox, type SandboxClient } from '../sandbox/sandbox.js';
import { quantile, type BenchResult } from './stats.js';

const run = promisify(execFile);
const ns = (label: string) => `nsmrx-bench-${process.pid}-vl3-${label}`;
const elapsedMs = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Without python3: each iputils ping waits this long for its reply (s). */
const PING_WAIT = '0.3';

interface Nsc {
  readonly netns: string;
  readonly client: SandboxClient;
  conn?: Connection;
}

/** The address the client's interface carries now ('' while it has none, e.g. in a heal); async, so the mesh in this process runs meanwhile. */
async function addressIn(netns: string): Promise<string> {
  try {
    const { stdout } = await run('ip', ['-n', netns, '-j', 'addr', 'show', 'dev', 'nsm-1'], { encoding: 'utf8' });
    return (JSON.parse(stdout || '[]') as { addr_info: { local: string; family: string }[] }[])[0]?.addr_info.find((a) => a.family === 'inet')?.local ?? '';
  } catch {
    return '';
  }
}

/**
 * The ICMP prober (python3, no site): argv[1] is JSON `[[netnsPath, [addr, …]], …]`. It opens a
 * raw ICMP socket in each source netns (setns, then socket: the socket stays in that netns), sends
 * an echo request for every pair at once, again every 50 ms to pairs that have not answered, for
 * at most 1 s, and prints the pairs that did not answer as `source-index addr` lines. All pairs at
 * the cost of one process start, so the check measures the mesh rather than fork/exec.
 */
const PROBER = String.raw`
import ctypes, json, os, select, socket, struct, sys, time
libc = ctypes.CDLL(None, use_errno=True)
sources = json.loads(sys.argv[1])
socks, todo = [], {}
for k, (path, addrs) in enumerate(sources):
    fd = os.open(path, os.O_RDONLY)
    if libc.setns(fd, 0x40000000) != 0:
        raise OSError(ctypes.get_errno(), 'setns ' + path)
    os.close(fd)
    socks.append(socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
    for j, a in enumerate(addrs):
        todo[(k, a)] = j
ident = lambda k: (os.getpid() + k) & 0xffff
def csum(b):
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xffff)
    t += t >> 16
    return ~t & 0xffff
def echo(i, seq):
    return struct.pack('!BBHHH', 8, 0, csum(struct.pack('!BBHHH', 8, 0, 0, i, seq)), i, seq)
end = time.monotonic() + 1.0
resend = 0.0
while todo and time.monotonic() < end:
    if time.monotonic() >= resend:
        for (k, a), j in todo.items():
            try:
                socks[k].sendto(echo(ident(k), j), (a, 0))
            except OSError:
                pass  # no route (yet): unanswered
        resend = time.monotonic() + 0.05
    for s in select.select(socks, [], [], max(0.0, min(resend, end) - time.monotonic()))[0]:
        k = socks.index(s)
        data, (src, _) = s.recvfrom(2048)
        ihl = (data[0] & 15) * 4
        kind, _, _, i, seq = struct.unpack('!BBHHH', data[ihl:ihl + 8])
        if kind == 0 and i == ident(k) and todo.get((k, src)) == seq:
            del todo[(k, src)]
print('\n'.join('%d %s' % key for key in todo))
`;

/** The python3 interpreter itself (not a pyenv shim, which costs a shell per start), or undefined. */
const python = ((): string | undefined => {
  try {
    return execFileSync('python3', ['-S', '-c', 'import sys, ctypes; print(sys.executable)'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
})();

/** How pairs are checked: the ICMP prober where python3 is, else one iputils ping per pair (a process each: slower). */
const checker = python ? 'one ICMP prober process (python3 raw sockets)' : `ping -c1 -W${PING_WAIT} per pair, sources in parallel`;

type Pairs = Map<number, string[]>;

/** Pings each pair of `todo` (source index → targets) once; answers the pairs that did not reply. */
async function unanswered(sources: readonly string[], todo: Pairs): Promise<Pairs> {
  const left: Pairs = new Map();
  if (python) {
    const arg = JSON.stringify([...todo].map(([k, addrs]) => [`/run/netns/${sources[k]}`, addrs]));
    const keys = [...todo.keys()];
    const { stdout } = await run(python, ['-S', '-E', '-c', PROBER, arg], { encoding: 'utf8' });
    for (const line of stdout.split('\n').filter((l) => l !== '')) {
      const [k, addr] = line.split(' ') as [string, string];
      const source = keys[Number(k)]!;
      left.set(source, [...(left.get(source) ?? []), addr]);
    }
    return left;
  }
  const script = `for a in "$@"; do ping -c1 -W${PING_WAIT} -q "$a" >/dev/null 2>&1 || echo "$a"; done`;
  await Promise.all(
    [...todo].map(async ([k, addrs]) => {
      const { stdout } = await run('nsenter', [`--net=/run/netns/${sources[k]}`, 'sh', '-c', script, 'sh', ...addrs], { encoding: 'utf8' });
      const failed = stdout.split('\n').filter((l) => l !== '');
      if (failed.length) left.set(k, failed);
    }),
  );
  return left;
}

/**
 * Every ordered pair (i → j) of `clients` (netns, address) answers one ping: all pairs probed at
 * once, again and again for those that did not answer, until none is left or `timeoutMs` passed
 * (then it throws, naming what is still unreachable).
 */
async function allPairsReach(clients: readonly { netns: string; addr: string }[], timeoutMs: number): Promise<{ ms: number; retries: number }> {
  const t0 = process.hrtime.bigint();
  const sources = clients.map((c) => c.netns);
  let todo: Pairs = new Map(clients.map((c, k) => [k, clients.filter((o) => o !== c).map((o) => o.addr)]));
  let retries = -1;
  for (; todo.size > 0; retries++) {
    if (elapsedMs(t0) > timeoutMs) {
      throw new Error(`vl3: pairs still unreachable after ${timeoutMs} ms: ${[...todo].map(([k, addrs]) => `${clients[k]!.addr} → ${addrs.join(',')}`).join('; ')}`);
    }
    todo = await unanswered(sources, todo);
  }
  return { ms: elapsedMs(t0), retries };
}

interface Round {
  connectMs: number;
  pairsMs: number;
  /** One more all-pairs sweep right after: what the check itself costs once everything answers. */
  checkMs: number;
  pairRetries: number;
  convergeMs?: number;
  healMs?: number;
  moved?: number;
}

/**
 * One vl3 topology on the kernel datapath: node0 and node1 (forwarders in netns joined by an
 * underlay veth), NSE vl3-a on node0 (169.254.64.0/24) and vl3-b on node1 (169.254.65.0/24)
 * each in its own forwarding netns, vl3-b connected to vl3-a as nse-vl3 does, and `n` clients
 * (half on each node). Times the concurrent Requests of all clients and then all pairs'
 * reachability; with `die`, vl3-a then dies (node killed, netns deleted) and the clients it
 * served heal (the sandbox client's heal) — timed until every pair reaches again.
 */
async function round(n: number, die: boolean): Promise<Round> {
  const [node0, node1, nseA, nseB] = ['node0', 'node1', 'nse-a', 'nse-b'].map(ns) as [string, string, string, string];
  const clientNs = Array.from({ length: n }, (_, i) => ns(`c${i}`));
  const names = [node0, node1, nseA, nseB, ...clientNs];
  const made: string[] = [];
  const sandbox = await Sandbox.create();
  const nscs: Nsc[] = [];
  let peer: { close(): Promise<void> } | undefined;
  try {
    for (const name of names) {
      addNetns(name);
      made.push(name);
    }
    for (const nse of [nseA, nseB]) execFileSync('ip', ['netns', 'exec', nse, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    underlay(node0, node1, '169.254.250.1/30', '169.254.250.2/30');
    const mesh = await Mesh.build(sandbox, { nodes: 2, defaultForwarder: false });
    await mesh.addForwarder(0, { datapath: new KernelDatapath({ tunnelIp: '169.254.250.1', underlayNetns: `/run/netns/${node0}` }) });
    await mesh.addForwarder(1, { datapath: new KernelDatapath({ tunnelIp: '169.254.250.2', underlayNetns: `/run/netns/${node1}` }) });

    // The NSEs' own DNS addresses must be set (nse-vl3 sets it from its prefix): vl3DnsClient
    // sends it, and that is how the other NSE tells a peer (isVl3Peer) from a client.
    const ipamA = new Vl3Ipam('169.254.64.0/24');
    const dnsA = new Vl3Dns([]);
    dnsA.setServerIp(ipamA.selfIp());
    const ipamB = new Vl3Ipam('169.254.65.0/24');
    const dnsB = new Vl3Dns([]);
    dnsB.setServerIp(ipamB.selfIp());
    const vl3a = await mesh.endpoint(0, 'vl3-a', {
      services: ['vl3'],
      registerServices: true,
      payload: 'IP', // nse-vl3's default; the peer Request (peerRequest) asks for payload IP
      additional: (monitor) => [vl3DnsServer(dnsA, monitor), vl3MtuServer(monitor), strictVl3Ipam(ipamA), vl3Server(ipamA)],
      netnsUrl: () => inodeUrlOf(nseA),
    });
    await mesh.endpoint(1, 'vl3-b', {
      services: ['vl3'],
      registerServices: false,
      additional: (monitor) => [vl3DnsServer(dnsB, monitor), vl3MtuServer(monitor), strictVl3Ipam(ipamB), vl3Server(ipamB)],
      netnsUrl: () => inodeUrlOf(nseB),
    });

    // vl3-b (registered later) connects to vl3-a, as nse-vl3's peer client does: no heal.
    const s = sandbox.scheduler;
    const peerClient = client({
      name: 'vl3-b',
      pool: sandbox.poolFor('vl3-b'),
      url: mesh.nodes[1]!.nsmgr.url,
      dialTimeout: sandbox.dialTimeout,
      token: sandbox.token('vl3-b'),
      inodeUrlOf: inodeUrlOfFile,
      additional: [upstreamRefresh({ scheduler: s, localNotifications: true }), vl3MtuClient(), vl3Client(ipamB), vl3DnsClient(dnsB)],
      scheduler: s,
    });
    const peerConn = await firstValueFrom(
      peerClient.handler.request(
        peerRequest({ name: 'vl3-a', url: vl3a.url.href, since: 0 }, { self: 'vl3-b', networkService: 'vl3', labels: {}, netnsUrl: inodeUrlOf(nseB) }),
        Context.background.withDeadline(s.now() + 15_000),
      ),
    );
    peer = {
      close: async () => {
        try {
          await lastValueFrom(peerClient.handler.close(peerConn, Context.background.withDeadline(s.now() + 5000)), { defaultValue: undefined });
        } finally {
          peerClient.state.metadata.dispose();
        }
      },
    };

    for (const [i, netns] of clientNs.entries()) nscs.push({ netns, client: sandbox.client(`nsc-${i}`, mesh.nodes[i % 2]!.nsmgr.url, { retry: false }) });
    const request = (c: Nsc, i: number) =>
      c.client.request({
        connection: { id: `nsc-${i}`, networkService: 'vl3', labels: { podName: `nsc-${i}` } },
        mechanismPreferences: [{ cls: 'LOCAL', type: 'KERNEL', parameters: { inodeURL: inodeUrlOf(c.netns), name: 'nsm-1' } }],
      });

    // (a) all clients Request at once.
    const t0 = process.hrtime.bigint();
    const conns = await Promise.all(nscs.map(request));
    const connectMs = elapsedMs(t0);
    conns.forEach((conn, i) => (nscs[i]!.conn = conn));
    const addrs = conns.map((c) => (c.context?.ipContext?.srcIpAddrs[0] ?? '').replace(/\/32$/, ''));
    if (new Set(addrs).size !== n || addrs.includes('')) throw new Error(`vl3: the clients' addresses are not ${n} distinct ones: ${addrs.join(', ')}`);

    // (b) from all connected until every ordered pair answered one ping.
    const endpoints = nscs.map((c, i) => ({ netns: c.netns, addr: addrs[i]! }));
    const pairs = await allPairsReach(endpoints, 60_000);
    const check = await allPairsReach(endpoints, 60_000);
    const result: Round = { connectMs, pairsMs: pairs.ms, checkMs: check.ms, pairRetries: pairs.retries };

    if (die) {
      // (c) vl3-a dies as a Pod does: its node gone at once, its netns deleted; the clients it
      // served heal (reselect) to vl3-b. Timed until they have new addresses, and until all pairs reach.
      const moved = nscs.filter((c) => c.conn?.path?.pathSegments.at(-1)?.name === 'vl3-a');
      if (moved.length === 0) throw new Error('vl3: no client was served by vl3-a');
      const before = await Promise.all(moved.map((c) => addressIn(c.netns)));
      const t1 = process.hrtime.bigint();
      await vl3a.kill();
      delNetns(nseA);
      for (;;) {
        const current = await Promise.all(moved.map((c) => addressIn(c.netns)));
        const waiting = moved.filter((_, k) => current[k] === '' || current[k] === before[k]);
        if (waiting.length === 0) break;
        if (elapsedMs(t1) > 60_000) throw new Error(`vl3: clients of vl3-a not healed within 60 s: ${waiting.map((c) => c.netns).join(', ')}`);
        await sleep(20);
      }
      const healMs = elapsedMs(t1);
      const now = await Promise.all(nscs.map(async (c) => ({ netns: c.netns, addr: await addressIn(c.netns) })));
      await allPairsReach(now, 60_000);
      Object.assign(result, { convergeMs: elapsedMs(t1), healMs, moved: moved.length });
    }
    return result;
  } finally {
    // Closes outside the timing; a client of the dead NSE closes what its heal made (begin keeps the last connection).
    await Promise.allSettled(nscs.filter((c) => c.conn).map((c) => c.client.close(c.conn!, 5000)));
    await peer?.close().catch(() => undefined); // fails when vl3-a is dead
    await sandbox.cleanup();
    made.forEach(delNetns);
  }
}

const sorted = (xs: readonly number[]) => Float64Array.from(xs).sort();
const row = (name: string, samples: readonly number[], extra: Record<string, number | string>): BenchResult => {
  const s = sorted(samples);
  const total = samples.reduce((a, b) => a + b, 0);
  return { name, iterations: samples.length, opsPerSec: (samples.length / total) * 1000, p50Ms: quantile(s, 0.5), p99Ms: quantile(s, 0.99), extra };
};

/**
 * vl3 on the kernel datapath (two nodes, two vl3 NSEs joined as nse-vl3 joins them): time until N
 * clients (N = 10, 50) are connected and until all N·(N−1) ordered pairs reach each other, and
 * the convergence after a vl3 NSE dies. Each iteration is a fresh topology. Skipped (with the
 * reason) where the host cannot run the kernel datapath.
 */
export async function vl3Benchmarks(quick: boolean): Promise<BenchResult[]> {
  const missing = kernelDatapathMissing();
  if (missing) {
    console.warn(`vl3 benchmarks skipped: ${missing}`);
    return [];
  }
  const results: BenchResult[] = [];
  const plan: [n: number, iterations: number, die: boolean][] = quick ? [[10, 1, true]] : [[10, 5, true], [50, 3, false]];
  for (const [n, iterations, die] of plan) {
    const rounds: Round[] = [];
    for (let i = 0; i < iterations; i++) rounds.push(await round(n, die));
    const median = (xs: number[]) => Math.round(quantile(sorted(xs), 0.5));
    results.push(row(`vl3 connect ${n} clients (concurrent Requests, kernel datapath)`, rounds.map((r) => r.connectMs), { clients: n }));
    results.push(
      row(`vl3 all pairs reach, ${n} clients (${n * (n - 1)} pairs)`, rounds.map((r) => r.pairsMs), {
        pairs: n * (n - 1),
        checkOnlyP50Ms: median(rounds.map((r) => r.checkMs)),
        checkRetries: rounds.reduce((a, r) => a + r.pairRetries, 0),
        checker,
      }),
    );
    if (die) {
      results.push(
        row(`vl3 route convergence after an NSE dies, ${n} clients`, rounds.map((r) => r.convergeMs ?? NaN), {
          healP50Ms: median(rounds.map((r) => r.healMs ?? NaN)),
          movedClients: rounds.map((r) => r.moved).join('/'),
        }),
      );
    }
  }
  return results;
}
