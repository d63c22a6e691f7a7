import { generateKeyPairSync } from 'node:crypto';
import { defer, of, type SchedulerLike } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../proto/gen/connection.js';
import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import { Context } from '../core/context.js';
import { chain, type NetworkServiceHandler } from '../core/networkservice.js';
import { metadata } from '../networkservice/metadata.js';
import { signEs256 } from '../tools/jwt.js';
import { marbles } from '../../test/marbles.js';
import { authorizeClient } from './authorizeClient.js';
import { resolvePolicies } from './policies.js';

const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
/** Tokens of the returned path live 10 s (scheduler time starts at 0). */
const token = signEs256({ sub: 'spiffe://nsm.local/nse', aud: ['spiffe://nsm.local/nsc'], exp: 10 }, key);
const request = (id: string) => NetworkServiceRequest.fromPartial({ connection: { id, networkService: 'ns', path: { index: 0, pathSegments: [{ name: 'nsc', id, token }] } } });

/** metadata → authorizeClient(tokens_expired) → a server returning the path [nsc, nse]; the times Closes arrived. */
function setup(scheduler: SchedulerLike) {
  const closes: string[] = [];
  const server: NetworkServiceHandler = {
    request: (req) =>
      defer(() => {
        const conn = Connection.fromPartial(req.connection as Connection);
        conn.path?.pathSegments.push({ name: 'nse', id: `${conn.id}-nse`, token, expires: undefined, metrics: {} });
        return of(conn);
      }),
    close: (conn) => defer(() => (closes.push(`${scheduler.now()} ${conn.id}`), of(undefined))),
  };
  const meta = metadata();
  const handler = chain([meta, authorizeClient({ policies: resolvePolicies(['etc/nsm/opa/common/tokens_expired.rego']), scheduler })], server);
  return { handler, meta, closes };
}

describe('authorizeClient', () => {
  it('Closes a refused connection only if it never passed: a refresh failing the policy keeps it (upstream authorize client)', () => {
    marbles(({ flush }, scheduler) => {
      const t = setup(scheduler);
      const results: string[] = [];
      const send = (id: string) =>
        t.handler.request(request(id), Context.background).subscribe({
          next: () => results.push(`${scheduler.now()} ${id} ok`),
          error: (e: { code?: number; message?: string }) => results.push(`${scheduler.now()} ${id} ${e.code}: ${e.message}`),
        });
      // c-1 passes at 0 and is refreshed at 20 s, past its tokens' exp; c-2 asks first at 20 s.
      scheduler.schedule(() => send('c-1'), 0);
      scheduler.schedule(() => send('c-1'), 20_000);
      scheduler.schedule(() => send('c-2'), 20_000);
      flush();
      expect(results).toEqual([
        '0 c-1 ok',
        expect.stringMatching(/^20000 c-1 7: authorize client: tokens_expired: /),
        expect.stringMatching(/^20000 c-2 7: authorize client: tokens_expired: /),
      ]);
      expect(t.closes).toEqual(['20000 c-2']);
      // c-1 is still held (and still counts as authorized); the refused c-2 left nothing.
      expect([...t.meta.connections.keys()]).toEqual(['c-1']);
    });
  });
});
