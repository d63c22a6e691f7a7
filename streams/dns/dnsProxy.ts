import { createSocket, type Socket } from 'node:dgram';
import { createServer, isIP, type Socket as NetSocket } from 'node:net';
import type { Observable, Subscription } from 'rxjs';
import type { DNSConfig } from '../../proto/gen/connectioncontext.js';

export interface DnsProxy {
  /** The port it answers on, UDP and TCP. */
  readonly port: number;
  close(): Promise<void>;
}

export interface DnsProxyOptions {
  /** Address to answer on (default 127.0.0.1). */
  host?: string;
  /** Port (default: any free one). */
  port?: number;
  /** The servers to ask: the DNS configs of the client's connections, as they change. */
  configs: Observable<readonly DNSConfig[]>;
  /** How long to wait for the first answer, ms (upstream fanout: 1 s... 5 s; default 2 s). */
  timeoutMs?: number;
  /** Answers found here are given at once, the servers not asked (vl3 DNS: its own clients' names). */
  local?: (query: Buffer) => Buffer | undefined;
  /**
   * The servers are peers answering from their own records (vl3 DNS fanout): queries go to them
   * without "recursion desired", and a query that arrives without it is answered from `local`
   * alone (NXDOMAIN otherwise), so peers asking each other never loop (upstream norecursion).
   */
  peers?: boolean;
  /** The port of a server named without one (default 53; upstream vl3dns WithDNSPort). */
  serverPort?: number;
}

/** `ip` or `ip:port` (IPv6 as `[ip]:port`) → where to send; `defaultPort` (53) when it names none. */
function target(server: string, defaultPort = 53): { address: string; port: number; family: 4 | 6 } | undefined {
  const bracketed = /^\[(.+)\]:(\d+)$/.exec(server);
  const hostPort = /^([^:]+):(\d+)$/.exec(server);
  const [address, port] = bracketed ? [bracketed[1] ?? '', Number(bracketed[2])] : hostPort ? [hostPort[1] ?? '', Number(hostPort[2])] : [server, defaultPort];
  const family = isIP(address);
  return family === 4 || family === 6 ? { address, port, family } : undefined;
}

/** An answer to `query` (same id and question) with no records and `rcode`. */
function failure(query: Buffer, rcode: number): Buffer {
  const out = Buffer.from(query);
  if (out.length >= 4) {
    out[2] = ((out[2] ?? 0) | 0x80) & 0xf9; // QR=1, keep opcode and RD
    out[3] = ((out[3] ?? 0) & 0xf0) | rcode;
  }
  return out;
}
/** SERVFAIL: nobody could be asked, or nobody answered. */
const servfail = (query: Buffer): Buffer => failure(query, 2);
const nxdomain = (query: Buffer): Buffer => failure(query, 3);

/** The RD bit of a message's header (byte 2, lowest bit). */
const recursionDesired = (message: Buffer): boolean => ((message[2] ?? 0) & 0x01) === 1;
const withRecursionBit = (message: Buffer, on: boolean): Buffer => {
  const out = Buffer.from(message);
  if (out.length >= 3) out[2] = on ? (out[2] ?? 0) | 0x01 : (out[2] ?? 0) & 0xfe;
  return out;
};

/** Reads DNS-over-TCP frames (a 2-byte length, then the message) from `socket`, one message at a time. */
function onTcpMessages(socket: NetSocket, each: (message: Buffer) => void): void {
  let buffered = Buffer.alloc(0);
  socket.on('data', (data: Buffer) => {
    buffered = Buffer.concat([buffered, data]);
    while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
      const length = buffered.readUInt16BE(0);
      each(buffered.subarray(2, 2 + length));
      buffered = buffered.subarray(2 + length);
    }
  });
}

const tcpFrame = (message: Buffer): Buffer => Buffer.concat([Buffer.from([message.length >> 8, message.length & 0xff]), message]);

/**
 * The client's local DNS proxy (upstream dnsutils fanout behind the dnscontext client): a DNS
 * server on UDP and TCP (as upstream's) that sends each query, as it came, over UDP to every
 * server of the current DNS configs and answers with the first successful reply (NOERROR);
 * when none succeeds, with the last failure once every server answered or the time is up
 * (upstream: SERVFAIL); SERVFAIL when there is no server or no reply in time, and for a query
 * that comes back while it is being asked (a loop).
 * IPv4 servers (an IPv6 one is skipped); search-domain expansion is left to the resolver that
 * asks (resolv.conf `search`).
 */
export async function serveDnsProxy(options: DnsProxyOptions): Promise<DnsProxy> {
  if (options.port !== undefined) return serveOn(options, options.port);
  // Any free port: UDP picks one, and TCP may find that number taken; then pick again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await serveOn(options, 0);
    } catch (e) {
      if (attempt >= 5 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    }
  }
}

function serveOn(options: DnsProxyOptions, port: number): Promise<DnsProxy> {
  const timeoutMs = options.timeoutMs ?? 2000;
  let servers: string[] = [];
  const subscription: Subscription = options.configs.subscribe((configs) => {
    servers = [...new Set(configs.flatMap((c) => c.dnsServerIps))];
  });
  const pending = new Set<{ socket: Socket; timer: NodeJS.Timeout }>();
  const server = createSocket('udp4');
  const tcp = createServer();
  const connections = new Set<NetSocket>();

  const inFlight = new Set<number>();

  const ask = (received: Buffer, replyTo: (answer: Buffer) => void): void => {
    const own = options.local?.(received);
    if (own) return replyTo(own);
    const rd = recursionDesired(received);
    if (options.peers && !rd) return replyTo(nxdomain(received));
    // Peers are asked without recursion; the asker gets its own RD bit back.
    const query = options.peers ? withRecursionBit(received, false) : received;
    const reply = options.peers ? (answer: Buffer) => replyTo(withRecursionBit(answer, rd)) : replyTo;
    const asked = servers.map((server) => target(server, options.serverPort)).filter((t): t is NonNullable<typeof t> => t?.family === 4);
    // Upstream noloop: a query back while it is being asked (a config naming this proxy) fails.
    const id = query.length >= 2 ? query.readUInt16BE(0) : -1;
    if (asked.length === 0 || inFlight.has(id)) return reply(servfail(query));
    inFlight.add(id);
    const upstream = createSocket('udp4');
    let failed: Buffer | undefined; // the last answer that was not a success
    let answers = 0;
    const done = (answer: Buffer) => {
      clearTimeout(entry.timer);
      inFlight.delete(id);
      pending.delete(entry);
      upstream.close();
      reply(answer);
    };
    const entry = { socket: upstream, timer: setTimeout(() => done(failed ?? servfail(query)), timeoutMs) };
    pending.add(entry);
    upstream.on('message', (answer) => {
      answers++;
      // Upstream fanout: the first success wins; a failure (NXDOMAIN…) waits for the others.
      if (((answer[3] ?? 0) & 0x0f) === 0) done(answer);
      else if (answers === asked.length) done(answer);
      else failed = answer;
    });
    upstream.on('error', () => undefined); // an unreachable server just does not answer
    for (const t of asked) upstream.send(query, t.port, t.address);
  };

  server.on('message', (query, client) => ask(query, (answer) => server.send(answer, client.port, client.address)));
  tcp.on('connection', (socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    socket.on('error', () => undefined); // a client gone mid-answer
    onTcpMessages(socket, (query) => ask(query, (answer) => socket.writable && socket.write(tcpFrame(answer))));
  });

  const close = () =>
    new Promise<void>((closed) => {
      subscription.unsubscribe();
      for (const p of pending) {
        clearTimeout(p.timer);
        p.socket.close();
      }
      pending.clear();
      for (const c of connections) c.destroy();
      tcp.close();
      server.close(() => closed());
    });
  return new Promise((resolve, reject) => {
    // Could not listen (address in use, not ours): nothing may stay behind.
    const failed = (e: Error) => void close().then(() => reject(e));
    server.once('error', failed);
    server.bind(port, options.host ?? '127.0.0.1', () => {
      const bound = server.address().port;
      tcp.once('error', failed);
      tcp.listen(bound, options.host ?? '127.0.0.1', () => resolve({ port: bound, close }));
    });
  });
}
