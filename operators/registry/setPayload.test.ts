import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { NetworkService } from '../../proto/gen/registry.js';
import { Context } from '../core/context.js';
import { registryChain } from '../core/registry.js';
import { newNSStore, nsMemory } from './memory.js';
import { setPayload } from './setPayload.js';

const ctx = Context.background;

describe('setPayload', () => {
  it('registers a service without payload with "IP" (TestSetPayload_Empty)', async () => {
    const input = NetworkService.fromPartial({ name: 'ns-1' });
    const answer = await firstValueFrom(registryChain([setPayload()]).register(input, ctx));
    expect(answer.payload).toBe('IP');
    expect(input.payload).toBe(''); // the caller's object is left alone
  });

  it('keeps a payload that was given (TestSetPayload_Ethernet)', async () => {
    const answer = await firstValueFrom(registryChain([setPayload()]).register(NetworkService.fromPartial({ name: 'ns-1', payload: 'ETHERNET' }), ctx));
    expect(answer.payload).toBe('ETHERNET');
  });

  it('uses a configured default (TestSetPayload_WithCustomPayload)', async () => {
    const answer = await firstValueFrom(registryChain([setPayload({ payload: 'some payload' })]).register(NetworkService.fromPartial({ name: 'ns-1' }), ctx));
    expect(answer.payload).toBe('some payload');
  });

  it('a memory registry stores and finds the defaulted payload (Test_RegistryMemory_ShouldSetDefaultPayload)', async () => {
    const store = newNSStore();
    const handler = registryChain([setPayload(), nsMemory(store)]);
    await firstValueFrom(handler.register(NetworkService.fromPartial({ name: 'ns-1' }), ctx));
    const found = await lastValueFrom(handler.find({ networkService: NetworkService.fromPartial({ name: 'ns-1' }), watch: false }, ctx).pipe(toArray()));
    expect(found.map((r) => r.networkService?.payload)).toEqual(['IP']);
    // Find and Unregister pass through untouched
    await firstValueFrom(handler.unregister(NetworkService.fromPartial({ name: 'ns-1' }), ctx));
    expect(store.size).toBe(0);
  });
});
