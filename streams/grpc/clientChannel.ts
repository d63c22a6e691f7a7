import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { BehaviorSubject, defer, first, map, take, timer, type Observable, type Subscription } from 'rxjs';
import { messageOf, unavailable } from '../../operators/core/errors.js';
import type { PeerIdentity } from '../../operators/core/peer.js';
import type { NsmUrl } from '../../operators/tools/nsmUrl.js';
import { peerIdentityOf, secureContextOf } from '../spiffe/tls.js';
import type { X509Context, X509Source } from '../spiffe/svid.js';
import { socketOfInode } from './inodeSocket.js';
import { startCall, type CallSettings } from './clientCall.js';
import type { MethodDef } from './method.js';

/**
 * Where a channel stands, as gRPC's connectivity states: `idle` (no connection; the next call
 * or `connect` makes one), `connecting`, `ready`, `failing` (the last attempt failed; calls fail
 * at once until the backoff ends and the channel is idle again) and `shutdown` (closed).
 */
export type ChannelState = 'idle' | 'connecting' | 'ready' | 'failing' | 'shutdown';

/** How long a channel waits after a failed connection attempt: doubling from `initialMs` to `maxMs`. */
export interface ReconnectBackoff {
  readonly initialMs: number;
  readonly maxMs: number;
}

export interface ClientChannelOptions {
  /** Mutual TLS with this identity (SPIFFE); plaintext (h2c) without. */
  source?: X509Source;
  reconnectBackoff?: ReconnectBackoff;
  /** The largest answer accepted (4 MiB, as grpc-go's and grpc-js's clients default). */
  maxReceiveBytes?: number;
}

/** A restarted next hop should be reachable again quickly (grpc-js's default backs off up to 120 s). */
const defaultBackoff: ReconnectBackoff = { initialMs: 100, maxMs: 1000 };

/**
 * No caps of Node's own on a connection that carries a node's calls: a monitor stream per NSM
 * connection stays open (Node assumes a peer allows 100 streams until it says otherwise, and
 * grpc-go says nothing when it allows any number), and paths ride in headers.
 */
const http2Options = { peerMaxConcurrentStreams: 2 ** 32 - 1, maxSessionMemory: Number.MAX_SAFE_INTEGER, maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER };

/** Where to connect for `url`; an inode URL is a listening unix socket of this host (throws NOT_FOUND when none). */
function addressOf(url: NsmUrl): { path: string } | { host: string; port: number } {
  const t = url.scheme === 'inode' ? socketOfInode(url) : url;
  if (t.scheme === 'tcp') return { host: t.host === '' ? '127.0.0.1' : t.host, port: t.port };
  if (t.scheme === 'unix') return { path: t.path };
  throw new Error(`${url.href}: not a socket address`);
}

/**
 * One HTTP/2 connection to a gRPC server, made when first needed and made again after it is
 * lost, with its calls as cold Observables (upstream's grpc.ClientConn). A failed attempt
 * fails the calls waiting for it and those made during the backoff that follows, as a grpc-js
 * channel does for calls without wait-for-ready. With a SPIFFE source the server must present
 * an SVID of the source's bundles (any SPIFFE ID: authorization is the policies' job, as
 * upstream's tlsconfig.AuthorizeAny), and `peer` is the identity it proved.
 */
export class ClientChannel {
  private readonly state = new BehaviorSubject<ChannelState>('idle');
  /** The channel's state now and every change. */
  readonly states: Observable<ChannelState> = this.state.asObservable();
  /** The connection new calls go on (connecting or ready). */
  private session: ClientHttp2Session | undefined;
  /** The wait for the source's first SVID, then the backoff after a failed attempt. */
  private pending: Subscription | undefined;
  private readonly backoff: ReconnectBackoff;
  private nextBackoffMs: number;
  /** The server's identity from the latest handshake (undefined on plaintext). */
  peer: PeerIdentity | undefined;
  /** Why the last attempt failed ('' after a success): the socket's or TLS's error. */
  private why = '';

  /** What every call reads of the channel. */
  private readonly forCalls: { peer(): PeerIdentity | undefined; readonly maxReceiveBytes: number };

  constructor(
    private readonly target: NsmUrl,
    private readonly options: ClientChannelOptions = {},
  ) {
    this.forCalls = { peer: () => this.peer, maxReceiveBytes: options.maxReceiveBytes ?? 4 * 1024 * 1024 };
    this.backoff = options.reconnectBackoff ?? defaultBackoff;
    this.nextBackoffMs = this.backoff.initialMs;
  }

  get current(): ChannelState {
    return this.state.value;
  }

  /** Why the last connection attempt failed; '' when it did not. */
  get failure(): string {
    return this.why;
  }

  /** Starts connecting if the channel is idle. */
  connect(): void {
    if (this.state.value !== 'idle') return;
    this.state.next('connecting');
    const source = this.options.source;
    if (source === undefined) return this.open(undefined);
    this.pending = source.updates.pipe(take(1)).subscribe((ctx) => this.open(ctx));
  }

  private open(ctx: X509Context | undefined): void {
    let address: { path: string } | { host: string; port: number };
    try {
      address = addressOf(this.target);
    } catch (e) {
      this.why = messageOf(e);
      return this.failed();
    }
    const socket: Socket = ctx
      ? tlsConnect({
          ...address,
          secureContext: secureContextOf(ctx),
          ALPNProtocols: ['h2'],
          // SPIFFE verifies the URI SAN, not a host name.
          servername: 'nsm',
          checkServerIdentity: (_host, cert) => {
            const peer = peerIdentityOf(cert);
            if (peer === undefined) return new Error(`the server certificate (${cert.subject?.CN ?? 'no CN'}) carries no SPIFFE ID`);
            this.peer = peer;
            return undefined;
          },
        })
      : netConnect(address);
    const authority = 'path' in address ? 'localhost' : `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
    const session = http2Connect(`${ctx ? 'https' : 'http'}://${authority}`, { createConnection: () => socket, ...http2Options });
    // Idle connections do not keep the process alive; calls ref it (see clientCall).
    session.unref();
    this.session = session;
    session.once('connect', () => {
      if (this.session !== session) return;
      this.nextBackoffMs = this.backoff.initialMs;
      this.why = '';
      this.state.next('ready');
    });
    // A failed or lost connection also closes: 'close' and 'goaway' tell the channel.
    session.on('error', (e) => (this.why = e.message));
    session.once('goaway', () => this.lost(session));
    session.once('close', () => this.lost(session));
  }

  /** `session` can take no new calls: a ready channel is idle again, a connecting one failing for a backoff. */
  private lost(session: ClientHttp2Session): void {
    if (this.session !== session) return;
    this.session = undefined;
    if (!session.destroyed) session.close(); // after a GOAWAY, once its last call ended
    if (this.state.value === 'ready') this.state.next('idle');
    else this.failed();
  }

  /** The attempt failed: calls fail until the backoff ends. */
  private failed(): void {
    this.state.next('failing');
    const wait = this.nextBackoffMs;
    this.nextBackoffMs = Math.min(wait * 2, this.backoff.maxMs);
    this.pending = timer(wait).subscribe(() => this.state.next('idle'));
  }

  /** The ready connection; connects when idle; UNAVAILABLE when the attempt fails or the channel is closed. */
  private ready(): Observable<ClientHttp2Session> {
    return defer(() => {
      this.connect();
      return this.state;
    }).pipe(
      first((s) => s !== 'idle' && s !== 'connecting'),
      map((s) => {
        if (s === 'ready' && this.session !== undefined) return this.session;
        throw unavailable(s === 'shutdown' ? `the channel to ${this.target.href} is closed` : `cannot connect to ${this.target.href}: ${this.why || 'the connection closed'}`);
      }),
    );
  }

  /**
   * A call of `method` as a cold Observable of its answers, sending `request` (unary and
   * server-streaming) or every message of `requests` (their completion half-closes).
   */
  call<Req, Res>(method: MethodDef<Req, Res>, requests: { one: Req } | { all: Observable<Req> }, settings: CallSettings): Observable<Res> {
    const session = () => (this.state.value === 'ready' && this.session) || this.ready();
    return startCall(session, method, requests, settings, this.forCalls);
  }

  /** Closes the connection: calls on it finish (HTTP/2 GOAWAY), new calls fail. */
  close(): void {
    if (this.state.value === 'shutdown') return;
    this.pending?.unsubscribe();
    const session = this.session;
    this.session = undefined;
    session?.close();
    this.state.next('shutdown');
  }
}
