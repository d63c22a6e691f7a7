import { lastValueFrom, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { Context } from '../core/context.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { connect } from './connect.js';

describe('connect', () => {
  it('Close: the client chain gets a copy (it advances the path in place); the rest of this hop still sees its own connection', async () => {
    const client: NetworkServiceHandler = {
      request: (r) => of(Connection.fromPartial(r.connection as Connection)),
      close: (c) => {
        c.id = 'client-segment-id'; // what a client chain's updatePath does
        return of(undefined);
      },
    };
    const seen: string[] = [];
    const rest: NetworkServiceHandler = { request: (r) => of(r.connection as Connection), close: (c) => (seen.push(c.id), of(undefined)) };
    const conn = Connection.fromPartial({ id: 'hop-id' });
    await lastValueFrom(chain([connect(client)], rest).close(conn, Context.background), { defaultValue: undefined });
    expect(seen).toEqual(['hop-id']);
    expect(conn.id).toBe('hop-id');
  });
});
