import { Client, credentials, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { grpcTarget, type NsmUrl } from '../../operators/tools/nsmUrl.js';

/** A channel borrowed from the pool; `release` gives it back (the last release closes it). */
export interface PooledChannel {
  readonly client: Client;
  readonly url: NsmUrl;
  release(): void;
}

/**
 * Shares one grpc-js channel per target among all users (every hop keeps dialing the same few
 * next hops; re-dialing per call would cost a handshake each time). Reference counted.
 * A plain `Client` is kept so that `close()` means closing the channel (DESIGN.md pitfall).
 */
export class ChannelPool {
  private readonly channels = new Map<string, { client: Client; refs: number }>();

  constructor(
    private readonly creds: ChannelCredentials = credentials.createInsecure(),
    private readonly options: ChannelOptions = {},
  ) {}

  acquire(url: NsmUrl): PooledChannel {
    let entry = this.channels.get(url.href);
    if (entry === undefined) {
      entry = { client: new Client(grpcTarget(url), this.creds, { 'grpc.enable_retries': 0, ...this.options }), refs: 0 };
      this.channels.set(url.href, entry);
    }
    entry.refs++;
    const held = entry;
    let released = false;
    return {
      client: held.client,
      url,
      release: () => {
        if (released) return;
        released = true;
        if (--held.refs === 0 && this.channels.get(url.href) === held) {
          this.channels.delete(url.href);
          held.client.close();
        }
      },
    };
  }

  /** Number of open channels (leak checks). */
  get size(): number {
    return this.channels.size;
  }

  /** Closes every channel, borrowed or not (shutdown). */
  closeAll(): void {
    for (const { client } of this.channels.values()) client.close();
    this.channels.clear();
  }
}
