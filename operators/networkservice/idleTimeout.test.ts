import { of, throwError } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { marbles } from '../../test/marbles.js';
import { Context } from '../core/context.js';
import { unavailable } from '../core/errors.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { idleTimeout } from './idleTimeout.js';

const ok: NetworkServiceHandler = { request: (r) => of(Connection.fromPartial(r.connection as Connection)), close: () => of(undefined) };
const failing: NetworkServiceHandler = { request: () => throwError(() => unavailable('no')), close: () => of(undefined) };
const req = (id: string) => NetworkServiceRequest.fromPartial({ connection: { id } });

describe('idleTimeout', () => {
  it('without any connection the endpoint is idle after the timeout from its start', () => {
    marbles(({ flush }, scheduler) => {
      const idle: number[] = [];
      idleTimeout({ timeout: 5, onIdle: () => idle.push(scheduler.now()), scheduler });
      flush();
      expect(idle).toEqual([5]);
    });
  });

  it('a connection stops the count; its Close starts it again; refreshes change nothing', () => {
    marbles(({ flush }, scheduler) => {
      const idle: number[] = [];
      const element = idleTimeout({ timeout: 5, onIdle: () => idle.push(scheduler.now()), scheduler });
      const handler = chain([element], ok);
      scheduler.schedule(() => handler.request(req('a'), Context.background).subscribe(), 2);
      scheduler.schedule(() => handler.request(req('a'), Context.background).subscribe(), 6);
      scheduler.schedule(() => handler.close(Connection.fromPartial({ id: 'a' }), Context.background).subscribe(), 10);
      flush();
      expect(idle).toEqual([15]);
    });
  });

  it('a first Request that fails leaves the endpoint idle (the count starts again); dispose stops it', () => {
    marbles(({ flush }, scheduler) => {
      const idle: number[] = [];
      const handler = chain([idleTimeout({ timeout: 5, onIdle: () => idle.push(scheduler.now()), scheduler })], failing);
      scheduler.schedule(() => handler.request(req('a'), Context.background).subscribe({ error: () => undefined }), 2);
      flush();
      expect(idle).toEqual([7]);
      const disposed = idleTimeout({ timeout: 5, onIdle: () => idle.push(-1), scheduler });
      disposed.dispose();
      flush();
      expect(idle).toEqual([7]);
    });
  });
});
