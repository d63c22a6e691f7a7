import { EMPTY, type Observable } from 'rxjs';
import { map } from 'rxjs/operators';
import { describe, expect, it } from 'vitest';
import { NetworkServiceEndpoint, type NetworkServiceEndpointQuery, type NetworkServiceEndpointResponse } from '../proto/gen/registry.js';
import { marbles } from '../test/marbles.js';
import { vl3Peers } from './vl3Peers.js';

const nse = (name: string, seconds: number): NetworkServiceEndpointResponse => ({
  networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ name, url: `unix:///${name}`, networkServiceNames: ['vl3'], initialRegistrationTime: { seconds, nanos: 0 } }),
  deleted: false,
});
const gone = (name: string): NetworkServiceEndpointResponse => ({ networkServiceEndpoint: NetworkServiceEndpoint.fromPartial({ name }), deleted: true });
const names = (view: ReadonlyMap<string, unknown>) => [...view.keys()].sort().join(',') || '-';

describe('vl3Peers', () => {
  it('the service’s NSEs registered before self (ties by name), once self is registered; a peer that goes or restarts leaves', () => {
    marbles(({ cold, expectObservable, flush }) => {
      const queries: NetworkServiceEndpointQuery[] = [];
      const watch = cold('-a-s-b-t-x-r', { a: nse('a', 1), s: nse('s', 5), b: nse('b', 5), t: nse('t', 9), x: gone('a'), r: nse('b', 10) });
      const find = (q: NetworkServiceEndpointQuery): Observable<NetworkServiceEndpointResponse> => (queries.push(q), q.watch ? watch : EMPTY);
      const peers = vl3Peers(find, ['vl3'], 's');
      // a (earlier) joins with s; b ties with s and sorts first; t is later; a goes; b restarts later than s.
      expectObservable(peers.pipe(map(names)), '^ 20ms !').toBe('x--y-z---w-v', { x: '-', y: 'a', z: 'a,b', w: 'b', v: '-' });
      flush();
      expect(queries[0]?.networkServiceEndpoint?.networkServiceNames).toEqual(['vl3']);
    });
  });
});
