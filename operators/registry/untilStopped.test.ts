import type { Observable } from 'rxjs';
import { describe, it } from 'vitest';
import { NetworkServiceEndpoint, type NetworkServiceEndpointQuery, type NetworkServiceEndpointResponse } from '../../proto/gen/registry.js';
import { Context } from '../core/context.js';
import { registryChain, type NSEHandler } from '../core/registry.js';
import { untilStopped } from './untilStopped.js';
import { marbles } from '../../test/marbles.js';

const nse = NetworkServiceEndpoint.fromPartial({ name: 'nse-1' });

/** The rest of the chain: every method answers with the given streams. */
function rest(register: Observable<NetworkServiceEndpoint>, find: Observable<NetworkServiceEndpointResponse>, unregister: Observable<void>): NSEHandler {
  return { register: () => register, find: () => find, unregister: () => unregister };
}

describe('untilStopped', () => {
  it('passes calls through while not stopped', () => {
    marbles(({ cold, expectObservable }) => {
      const stopped = cold<void>('-');
      const chain = registryChain([untilStopped(stopped)], rest(cold('--a|', { a: nse }), cold('-f-f|') as Observable<NetworkServiceEndpointResponse>, cold('-(u|)', { u: undefined })));
      expectObservable(chain.register(nse, Context.background)).toBe('--a|', { a: nse });
      expectObservable(chain.find({} as NetworkServiceEndpointQuery, Context.background)).toBe('-f-f|');
      expectObservable(chain.unregister(nse, Context.background)).toBe('-(u|)', { u: undefined });
    });
  });

  it('ends every call in flight, without a value, once stopped (a retrying Register, a watch)', () => {
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const stopped = hot<void>('----s');
      const retrying = cold<NetworkServiceEndpoint>('-------a|', { a: nse });
      const watch = cold('f-f-f-f-f') as Observable<NetworkServiceEndpointResponse>;
      const chain = registryChain([untilStopped(stopped)], rest(retrying, watch, cold('-')));
      expectObservable(chain.register(nse, Context.background)).toBe('----|');
      expectObservable(chain.find({} as NetworkServiceEndpointQuery, Context.background)).toBe('f-f-|');
      expectSubscriptions(retrying.subscriptions).toBe('^---!');
    });
  });
});
