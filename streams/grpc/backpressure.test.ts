import { status } from '../../operators/core/status.js';
import { Metadata } from '../../operators/core/callMetadata.js';
import { Subject, concat, firstValueFrom, range } from 'rxjs';
import { map, take, toArray } from 'rxjs/operators';
import { afterEach, describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint, NetworkServiceEndpointQuery } from '../../proto/gen/registry.js';
import { registryChain, type NSEHandler } from '../../operators/core/registry.js';
import { nseRegistryClient } from '../../operators/registry/grpcClient.js';
import { parseNsmUrl } from '../../operators/tools/nsmUrl.js';
import { Context } from '../../operators/core/context.js';
import { ChannelPool } from './channelPool.js';
import { serveRegistries } from './registry.js';
import { serverStreamHandler } from './serve.js';
import type { RequestListener, ServedCall } from './serverCall.js';
import { toNsmError, type NsmError } from '../../operators/core/errors.js';
import { GrpcServer } from './server.js';

/**
 * A server stream whose reader takes nothing: what a served call looks like to the handler when
 * the peer's HTTP/2 flow control has stopped it (writes queue up).
 */
class StuckCall implements ServedCall<object, number> {
  readonly metadata = new Metadata();
  readonly peer = 'stuck';
  readonly identity = undefined;
  readonly timeoutMs = undefined;
  written: number[] = [];
  error: NsmError | undefined;
  ended = false;
  cancel: () => void = () => undefined;
  get pending(): number {
    return this.written.length;
  }
  listen(listener: RequestListener<object>): void {
    listener.message({});
  }
  sendHeaders(): void {}
  write(message: number): void {
    this.written.push(message);
  }
  end(): void {
    this.ended = true;
  }
  fail(err: unknown): void {
    this.error = toNsmError(err);
  }
  onCancel(cancelled: () => void): void {
    this.cancel = cancelled;
  }
}

describe('server-stream back-pressure', () => {
  it('lets a snapshot larger than the limit through, then cuts a reader that keeps falling behind', () => {
    const changes = new Subject<number>();
    let sourceSubscribers = 0;
    const handler = serverStreamHandler<object, number>(
      '/test/Find',
      () => {
        sourceSubscribers++;
        return concat(range(0, 5000), changes);
      },
      undefined,
      100,
    );
    const call = new StuckCall();
    handler(call);
    expect(call.written).toHaveLength(5000); // the whole snapshot, despite the limit of 100
    expect(call.error).toBeUndefined();
    for (let i = 0; i < 99; i++) changes.next(i);
    expect(call.error).toBeUndefined();
    changes.next(99);
    changes.next(100);
    expect(call.error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(call.error?.message).toMatch(/fell 5100 messages behind; call again for a fresh view/);
    expect(changes.observed).toBe(false); // the source was unsubscribed
    changes.next(101);
    expect(call.written).toHaveLength(5100);
    expect(sourceSubscribers).toBe(1);
  });

  it('a cancelled reader unsubscribes its source', () => {
    const changes = new Subject<number>();
    const handler = serverStreamHandler<object, number>('/test/Find', () => changes);
    const call = new StuckCall();
    handler(call);
    expect(changes.observed).toBe(true);
    call.cancel();
    expect(changes.observed).toBe(false);
  });

  describe('over gRPC', () => {
    const pool = new ChannelPool();
    let server: GrpcServer | undefined;
    afterEach(async () => {
      await server?.stop(100);
      pool.closeAll();
    });

    it('a reader that keeps up gets a 20,000-entry snapshot whole', async () => {
      const nse: NSEHandler = registryChain([
        { find: () => range(0, 20_000).pipe(map((i) => ({ networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ name: `nse-${i}` }), deleted: false }))) },
      ]);
      server = new GrpcServer({ maxBuffered: 100 });
      serveRegistries(server, registryChain([]), nse);
      const [url] = await server.listen([parseNsmUrl('tcp://127.0.0.1:0')]);
      const remote = registryChain([nseRegistryClient({ pool, url: url! })]);
      const all = await firstValueFrom(remote.find(NetworkServiceEndpointQuery.fromPartial({ watch: true }), Context.background).pipe(take(20_000), toArray()));
      expect(all.at(-1)?.networkServiceEndpoint?.name).toBe('nse-19999');
    });
  });
});
