import { createSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { asyncScheduler, combineLatest, defer, Observable, throwError, type SchedulerLike } from 'rxjs';
import { catchError, map, timeout } from 'rxjs/operators';
import dns2 from 'dns2';

/** A DNS server to ask (resolv.conf `nameserver`, port 53 unless told). */
export interface NameServer {
  readonly address: string;
  readonly port: number;
}

export interface DnsResolverOptions {
  readonly servers: readonly NameServer[];
  /** How long to wait for one server's answer, ms (resolv.conf `options timeout:n`; Go: 5 s). */
  readonly timeoutMs?: number;
  /** Rounds over all servers (resolv.conf `options attempts:n`; Go: 2). */
  readonly attempts?: number;
  readonly scheduler?: SchedulerLike;
}

/** An SRV answer: where the service listens. */
export interface SrvRecord {
  readonly target: string;
  readonly port: number;
  readonly priority: number;
  readonly weight: number;
}

/** Why a lookup failed: the name does not exist (or has no such record), no server answered in time, or the servers failed. */
export class DnsLookupError extends Error {
  constructor(
    readonly reason: 'not-found' | 'timeout' | 'failed',
    readonly lookedUp: string,
    readonly type: string,
    detail: string,
  ) {
    super(`${type} ${lookedUp}: ${detail}`);
    this.name = 'DnsLookupError';
  }
}

export interface DnsResolver {
  /** The SRV records of `name` itself (no `_service._proto.` prefix, as upstream asks), by priority. */
  srv(name: string): Observable<SrvRecord[]>;
  /** The A and AAAA addresses of `name`, IPv4 first (Go's LookupIPAddr). */
  ip(name: string): Observable<string[]>;
}

const RCODE_NXDOMAIN = 3;
type RecordType = 'A' | 'AAAA' | 'SRV';

/** One query to one server: the answer packet, or an error; unsubscribing closes the socket. */
function ask(server: NameServer, name: string, type: RecordType): Observable<dns2.Packet> {
  return new Observable<dns2.Packet>((subscriber) => {
    const query = new dns2.Packet();
    query.header.id = randomInt(0x10000);
    query.header.rd = 1;
    query.questions.push({ name, type: dns2.Packet.TYPE[type], class: dns2.Packet.CLASS.IN } as dns2.Packet.Question);
    const socket = createSocket(isIPv6(server.address) ? 'udp6' : 'udp4');
    socket.on('error', (e) => subscriber.error(e));
    socket.on('message', (message, from) => {
      if (from.port !== server.port) return;
      let answer: dns2.Packet;
      try {
        answer = dns2.Packet.parse(message);
      } catch {
        return; // not an answer (a stray datagram): keep waiting
      }
      if (answer.header.id !== query.header.id) return;
      subscriber.next(answer);
      subscriber.complete();
    });
    socket.send(query.toBuffer(), server.port, server.address);
    return () => socket.close();
  });
}

/**
 * A stub resolver over UDP (dns2's packet codec), asking as Go's resolver does: each round tries
 * the servers in order, `attempts` rounds, `timeoutMs` per server. NXDOMAIN or an empty answer
 * ends the lookup at once (not found); a server failure (SERVFAIL, REFUSED…) or silence moves to
 * the next server. Search domains are not applied: NSM asks for full names.
 *
 * ```
 * server 1   ──q──── timeout ─┐
 * server 2                    └─q──a|     → records of a
 * server 2 (NXDOMAIN)         └─q──x|     → DnsLookupError(not-found)
 * ```
 */
export function dnsResolver(options: DnsResolverOptions): DnsResolver {
  const scheduler = options.scheduler ?? asyncScheduler;
  const timeoutMs = options.timeoutMs ?? 5000;
  const tries = options.servers.length * Math.max(1, options.attempts ?? 2);

  const lookup = (name: string, type: RecordType): Observable<dns2.Packet.Resource[]> => {
    const attempt = (i: number, timedOut: boolean): Observable<dns2.Packet.Resource[]> =>
      defer(() => {
        if (i >= tries) {
          const why = options.servers.length === 0 ? 'no name server configured' : timedOut ? `no answer within ${timeoutMs} ms from ${options.servers.map((s) => `${s.address}:${s.port}`).join(', ')}` : 'every name server failed';
          return throwError(() => new DnsLookupError(options.servers.length && timedOut ? 'timeout' : 'failed', name, type, why));
        }
        const server = options.servers[i % options.servers.length] as NameServer;
        return ask(server, name, type).pipe(
          timeout({ first: timeoutMs, scheduler, with: () => throwError(() => new DnsLookupError('timeout', name, type, 'timeout')) }),
          map((answer) => {
            if (answer.header.rcode === RCODE_NXDOMAIN) throw new DnsLookupError('not-found', name, type, `no such name (NXDOMAIN from ${server.address}:${server.port})`);
            if (answer.header.rcode !== 0) throw new DnsLookupError('failed', name, type, `rcode ${answer.header.rcode} from ${server.address}:${server.port}`);
            const records = answer.answers.filter((r) => r.type === dns2.Packet.TYPE[type]);
            if (records.length === 0) throw new DnsLookupError('not-found', name, type, `no ${type} record`);
            return records;
          }),
          catchError((e: unknown) => (e instanceof DnsLookupError && e.reason === 'not-found' ? throwError(() => e) : attempt(i + 1, timedOut || (e instanceof DnsLookupError && e.reason === 'timeout')))),
        );
      });
    return attempt(0, false);
  };

  const addresses = (name: string, type: 'A' | 'AAAA') =>
    lookup(name, type).pipe(
      map((records) => records.map((r) => r.address ?? '').filter((a) => a !== '')),
      catchError((e: unknown) => (e instanceof DnsLookupError && e.reason === 'not-found' ? [[] as string[]] : throwError(() => e))),
    );

  return {
    srv: (name) =>
      lookup(name, 'SRV').pipe(
        map((records) =>
          records
            .map((r) => ({ target: (r.target ?? '').replace(/\.$/, ''), port: r.port ?? 0, priority: r.priority ?? 0, weight: r.weight ?? 0 }))
            .sort((a, b) => a.priority - b.priority),
        ),
      ),
    ip: (name) =>
      combineLatest([addresses(name, 'A'), addresses(name, 'AAAA')]).pipe(
        map(([v4, v6]) => {
          const all = [...v4, ...v6];
          if (all.length === 0) throw new DnsLookupError('not-found', name, 'A/AAAA', 'no address');
          return all;
        }),
      ),
  };
}

/**
 * The name servers and options of a resolv.conf: `nameserver` lines (port 53), `options
 * timeout:n attempts:n`. Unknown lines are ignored, as libc and Go do.
 */
export function parseResolvConf(text: string): Pick<DnsResolverOptions, 'servers' | 'timeoutMs' | 'attempts'> {
  const servers: NameServer[] = [];
  let timeoutMs: number | undefined;
  let attempts: number | undefined;
  for (const raw of text.split('\n')) {
    const [keyword, ...args] = raw.replace(/[#;].*$/, '').trim().split(/\s+/);
    if (keyword === 'nameserver' && args[0]) servers.push({ address: args[0].replace(/%.*$/, ''), port: 53 });
    if (keyword === 'options') {
      for (const option of args) {
        const [name, value] = option.split(':');
        const n = Number(value);
        if (name === 'timeout' && Number.isInteger(n) && n > 0) timeoutMs = n * 1000;
        if (name === 'attempts' && Number.isInteger(n) && n > 0) attempts = n;
      }
    }
  }
  return { servers, ...(timeoutMs ? { timeoutMs } : {}), ...(attempts ? { attempts } : {}) };
}
