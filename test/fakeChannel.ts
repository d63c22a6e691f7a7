import { defer, Observable } from 'rxjs';
import { MonitorScopeSelector } from '../proto/gen/connection.js';
import type { PooledChannel } from '../streams/grpc/channelPool.js';
import type { ClientChannel } from '../streams/grpc/clientChannel.js';
import { tcpUrl } from '../operators/tools/nsmUrl.js';

/** A MonitorConnections call as the test drives it: what it emits, and whether the reader cancelled it. */
export class FakeStream {
  cancelled = false;
  private ended = false;
  private readonly subscribers = new Set<{ next(v: unknown): void; error(e: unknown): void; complete(): void }>();
  constructor(readonly selector: MonitorScopeSelector) {}

  /** The call's answers, as ClientChannel.call gives them. */
  answers<T>(): Observable<T> {
    return new Observable<T>((subscriber) => {
      const s = subscriber as { next(v: unknown): void; error(e: unknown): void; complete(): void };
      this.subscribers.add(s);
      return () => {
        this.subscribers.delete(s);
        if (!this.ended) this.cancelled = true;
      };
    });
  }

  emit(event: 'data', value: unknown): void;
  emit(event: 'error', err: unknown): void;
  emit(event: 'end'): void;
  emit(event: 'data' | 'error' | 'end', value?: unknown): void {
    for (const s of [...this.subscribers]) {
      if (event === 'data') s.next(value);
      else {
        this.ended = true;
        if (event === 'error') s.error(value);
        else s.complete();
      }
    }
  }
}

/** A channel to a next hop whose MonitorConnections calls are FakeStreams, in call order. */
export function fakeChannel(port = 5001): { channel: PooledChannel; streams: FakeStream[] } {
  const streams: FakeStream[] = [];
  const client: Pick<ClientChannel, 'call'> = {
    call: <Req, Res>(_method: unknown, requests: { one: Req } | { all: Observable<Req> }) =>
      defer(() => {
        const stream = new FakeStream('one' in requests ? (requests.one as MonitorScopeSelector) : MonitorScopeSelector.fromPartial({}));
        streams.push(stream);
        return stream.answers<Res>();
      }),
  };
  const channel: PooledChannel = { client: client as ClientChannel, url: tcpUrl('127.0.0.1', port), release: () => undefined };
  return { channel, streams };
}
