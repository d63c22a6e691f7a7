import { EventEmitter } from 'node:events';
import type { Client } from '@grpc/grpc-js';
import type { MonitorScopeSelector } from '../proto/gen/connection.js';
import type { PooledChannel } from '../streams/grpc/channelPool.js';
import { tcpUrl } from '../operators/tools/nsmUrl.js';

/** A grpc-js server stream as a MonitorConnections reader sees it: emit 'data', 'error', 'end'. */
export class FakeStream extends EventEmitter {
  cancelled = false;
  constructor(readonly selector: MonitorScopeSelector) {
    super();
  }
  cancel(): void {
    this.cancelled = true;
  }
}

/** A channel to a next hop whose MonitorConnections calls are FakeStreams, in call order. */
export function fakeChannel(port = 5001): { channel: PooledChannel; streams: FakeStream[] } {
  const streams: FakeStream[] = [];
  const client = {
    makeServerStreamRequest: (_path: string, _ser: unknown, _de: unknown, selector: MonitorScopeSelector) => {
      const stream = new FakeStream(selector);
      streams.push(stream);
      return stream;
    },
  };
  const channel: PooledChannel = { client: client as unknown as Client, url: tcpUrl('127.0.0.1', port), release: () => undefined };
  return { channel, streams };
}
