import { skip, type Subscription } from 'rxjs';
import type { NsmUrl } from '../../operators/tools/nsmUrl.js';
import type { TokenGenerator } from '../../operators/tools/token.js';
import type { X509Source } from '../spiffe/svid.js';
import type { CallChannel } from './call.js';
import type { CallObserver } from '../../operators/tools/metrics.js';
import type { CallTracing } from '../../operators/tools/tracing.js';
import { ClientChannel, type ClientChannelOptions, type ReconnectBackoff } from './clientChannel.js';

/** A channel borrowed from the pool; `release` gives it back. */
export interface PooledChannel extends CallChannel {
  readonly client: ClientChannel;
  readonly url: NsmUrl;
  release(): void;
}

/** Whether `channel` failed its last connection attempt and is backing off before the next. */
export function backingOff(channel: { readonly client: ClientChannel }): boolean {
  return channel.client.current === 'failing';
}

interface Entry {
  readonly client: ClientChannel;
  refs: number;
  idle: NodeJS.Timeout | undefined;
}

export interface ChannelPoolOptions {
  /** Mutual TLS with this identity (SPIFFE); without it, plaintext (NSM_INSECURE). */
  source?: X509Source;
  /** The token every call carries (upstream per-RPC credentials), unless a chain sends its own. */
  token?: TokenGenerator;
  reconnectBackoff?: ReconnectBackoff;
  /** The largest answer accepted (4 MiB by default). */
  maxReceiveBytes?: number;
  /** How long an unused channel stays open for the next borrower (ms). */
  idleMs?: number;
  /** Told of every call made on the pool's channels and how it ended (Prometheus). */
  observe?: CallObserver;
  /** A client span for every call made on the pool's channels (TELEMETRY=true). */
  tracing?: CallTracing;
}

/**
 * Shares one channel per next-hop URL among all users (every hop keeps calling the same
 * few next hops; a fresh HTTP/2 connection per call or per connection would cost a handshake).
 * Reference counted; a channel nobody borrows lingers `idleMs`, then closes.
 * With a SPIFFE source every channel is mutual TLS and remembers whom it verified; when the
 * SVID's key changes, later borrowers get fresh channels (a connection presents the certificate
 * of its handshake, and tokens signed with a new key would not verify against it).
 */
export class ChannelPool {
  private readonly channels = new Map<string, Entry>();
  private readonly source: X509Source | undefined;
  private readonly channelOptions: ClientChannelOptions;
  private readonly observe: CallObserver | undefined;
  private readonly tracing: CallTracing | undefined;
  private readonly idleMs: number;
  private readonly rekeyed: Subscription | undefined;
  readonly token: TokenGenerator | undefined;

  constructor(options: ChannelPoolOptions = {}) {
    this.source = options.source;
    this.token = options.token;
    const { source, reconnectBackoff, maxReceiveBytes } = options;
    this.channelOptions = { source, reconnectBackoff, maxReceiveBytes };
    this.idleMs = options.idleMs ?? 30_000;
    this.observe = options.observe;
    this.tracing = options.tracing;
    let key = this.source?.current.svid.key;
    this.rekeyed = this.source?.updates.pipe(skip(1)).subscribe((ctx) => {
      if (key !== undefined && ctx.svid.key.equals(key)) return;
      key = ctx.svid.key;
      this.retire();
    });
  }

  /**
   * Whether this pool's channel to `url` failed its last connection attempt (and is backing
   * off): the peer was unreachable moments ago. False when there is no such channel.
   */
  failing(url: NsmUrl): boolean {
    const entry = this.channels.get(url.href);
    return entry !== undefined && backingOff(entry);
  }

  private open(url: NsmUrl): Entry {
    return { client: new ClientChannel(url, this.channelOptions), refs: 0, idle: undefined };
  }

  /**
   * The channel to `url` new calls go over, one more borrower counted: opened if needed, and
   * anew when the one there is backing off after a failed connect — a dial then tries at once
   * (as upstream's, which dials anew): a dead peer is known in a millisecond, and one back at
   * the same URL is reached without waiting out the backoff.
   */
  private borrow(url: NsmUrl): Entry {
    let entry = this.channels.get(url.href);
    if (entry !== undefined && backingOff(entry)) {
      this.channels.delete(url.href);
      if (entry.refs === 0) this.close(entry); // else when its last borrower gives it back
      entry = undefined;
    }
    if (entry === undefined) {
      entry = this.open(url);
      this.channels.set(url.href, entry);
    }
    clearTimeout(entry.idle);
    entry.idle = undefined;
    entry.refs++;
    return entry;
  }

  private giveBack(url: NsmUrl, entry: Entry): void {
    if (--entry.refs > 0) return;
    // Given back after closeAll, a drop or a re-key: nothing would ever reuse it.
    if (this.channels.get(url.href) !== entry) return entry.client.close();
    entry.idle = setTimeout(() => this.drop(url.href, entry), this.idleMs);
    entry.idle.unref();
  }

  /**
   * A channel to `url` until `release`. One kept across a re-key (a connection's, for its
   * refreshes and heals) makes its later calls over a channel of the new key: the connection's
   * next hop checks our tokens against the certificate of the handshake. Calls already running
   * finish on the old channel.
   */
  acquire(url: NsmUrl): PooledChannel {
    let current = this.borrow(url);
    let released = false;
    const latest = (): Entry => {
      if (released || this.channels.get(url.href) === current || this.rekeyed === undefined || this.rekeyed.closed) return current;
      // The old channel closes when its last holder moves on: gracefully, HTTP/2 lets the
      // streams still on it (a monitor) finish.
      const old = current;
      current = this.borrow(url);
      this.giveBack(url, old);
      return current;
    };
    return {
      get client() {
        return latest().client;
      },
      url,
      token: this.token,
      observe: this.observe,
      tracing: this.tracing,
      peer: () => latest().client.peer,
      release: () => {
        if (released) return;
        released = true;
        this.giveBack(url, current);
      },
    };
  }

  private drop(key: string, entry: Entry): void {
    if (entry.refs > 0 || this.channels.get(key) !== entry) return;
    this.channels.delete(key);
    entry.client.close();
  }

  private close(entry: Entry): void {
    clearTimeout(entry.idle);
    entry.client.close();
  }

  /** Later calls get new channels; borrowed ones close when given back. */
  private retire(): void {
    for (const e of this.channels.values()) if (e.refs === 0) this.close(e); // a borrowed one has no idle timer
    this.channels.clear();
  }

  /** Channels currently borrowed (leak checks: 0 once every connection is closed). */
  get borrowed(): number {
    let n = 0;
    for (const e of this.channels.values()) if (e.refs > 0) n++;
    return n;
  }

  /** Closes every channel, borrowed or not (shutdown). */
  closeAll(): void {
    this.rekeyed?.unsubscribe();
    for (const e of this.channels.values()) this.close(e);
    this.channels.clear();
  }
}
