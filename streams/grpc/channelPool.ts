import { Client, connectivityState, credentials, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { grpcTarget, type NsmUrl } from '../../operators/tools/nsmUrl.js';

/** A channel borrowed from the pool; `release` gives it back. */
export interface PooledChannel {
  readonly client: Client;
  readonly url: NsmUrl;
  release(): void;
}

interface Entry {
  readonly client: Client;
  refs: number;
  idle: NodeJS.Timeout | undefined;
}

export interface ChannelPoolOptions {
  credentials?: ChannelCredentials;
  channelOptions?: ChannelOptions;
  /** How long an unused channel stays open for the next borrower (ms). */
  idleMs?: number;
}

/**
 * Shares one grpc-js channel per next-hop URL among all users (every hop keeps calling the same
 * few next hops; a fresh HTTP/2 connection per call or per connection would cost a handshake).
 * Reference counted; a channel nobody borrows lingers `idleMs`, then closes.
 * A plain `Client` is kept so that `close()` means closing the channel (DESIGN.md pitfall).
 */
export class ChannelPool {
  private readonly channels = new Map<string, Entry>();
  private readonly creds: ChannelCredentials;
  private readonly channelOptions: ChannelOptions;
  private readonly idleMs: number;

  constructor(options: ChannelPoolOptions = {}) {
    this.creds = options.credentials ?? credentials.createInsecure();
    this.channelOptions = {
      'grpc.enable_retries': 0,
      // A restarted next hop should be reachable again quickly (grpc-js backs off up to 120 s).
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
      ...options.channelOptions,
    };
    this.idleMs = options.idleMs ?? 30_000;
  }

  /**
   * Whether this pool's channel to `url` failed its last connection attempt (and is backing
   * off): the peer was unreachable moments ago. False when there is no such channel.
   */
  failing(url: NsmUrl): boolean {
    return this.channels.get(url.href)?.client.getChannel().getConnectivityState(false) === connectivityState.TRANSIENT_FAILURE;
  }

  acquire(url: NsmUrl): PooledChannel {
    let entry = this.channels.get(url.href);
    if (entry === undefined) {
      entry = { client: new Client(grpcTarget(url), this.creds, this.channelOptions), refs: 0, idle: undefined };
      this.channels.set(url.href, entry);
    }
    clearTimeout(entry.idle);
    entry.idle = undefined;
    entry.refs++;
    const held = entry;
    let released = false;
    return {
      client: held.client,
      url,
      release: () => {
        if (released) return;
        released = true;
        if (--held.refs > 0) return;
        // Given back after closeAll (or a drop): nothing would ever reuse it.
        if (this.channels.get(url.href) !== held) return held.client.close();
        held.idle = setTimeout(() => this.drop(url.href, held), this.idleMs);
        held.idle.unref();
      },
    };
  }

  private drop(key: string, entry: Entry): void {
    if (entry.refs > 0 || this.channels.get(key) !== entry) return;
    this.channels.delete(key);
    entry.client.close();
  }

  /** Channels currently borrowed (leak checks: 0 once every connection is closed). */
  get borrowed(): number {
    let n = 0;
    for (const e of this.channels.values()) if (e.refs > 0) n++;
    return n;
  }

  /** Closes every channel, borrowed or not (shutdown). */
  closeAll(): void {
    for (const e of this.channels.values()) {
      clearTimeout(e.idle);
      e.client.close();
    }
    this.channels.clear();
  }
}
