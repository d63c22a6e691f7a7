import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { registryChain, type NSEHandler, type NSHandler } from '../core/registry.js';
import { nseBegin, type NSEBeginElement } from '../registry/begin.js';
import { nseExpire, type ExpireElement } from '../registry/expire.js';
import { nseInterdomain, nsInterdomain } from '../registry/interdomain.js';
import { newNSEStore, newNSStore, nseMemory, nsMemory, type NSEStore, type NSStore } from '../registry/memory.js';
import { setPayload } from '../registry/setPayload.js';
import { setRegistrationTime } from '../registry/setRegistrationTime.js';
import { validateNetworkService, validateNetworkServiceEndpoint } from '../registry/validate.js';

export interface MemoryRegistryOptions {
  /** Longest an NSE stays registered without a refresh, ms (NSM_EXPIRE_PERIOD; default 1 min). */
  expirePeriod?: number;
  /** Where `name@domain` belongs (NSM_PROXY_REGISTRY_URL). */
  proxyRegistryUrl?: string;
  scheduler?: SchedulerLike;
}

/** A registry's two chains, its stores and what a leak check or shutdown needs. */
export interface MemoryRegistry {
  readonly ns: NSHandler;
  readonly nse: NSEHandler;
  readonly stores: { readonly ns: NSStore; readonly nse: NSEStore };
  readonly state: { readonly begin: NSEBeginElement; readonly expire: ExpireElement };
  /** Disarms every expiry timer (the registry is going away). */
  dispose(): void;
}

/**
 * The memory registry (upstream registry/chains/memory), after input validation:
 * - NSE: begin → interdomain switch → setRegistrationTime → expire(NSM_EXPIRE_PERIOD) → memory;
 * - NS: interdomain switch → setPayload → memory.
 * (grpcmetadata, updatePath and authorize join with the identity issue.)
 */
export function memoryRegistry(options: MemoryRegistryOptions = {}): MemoryRegistry {
  const scheduler = options.scheduler ?? asyncScheduler;
  const stores = { ns: newNSStore(), nse: newNSEStore() };
  const begin = nseBegin({ scheduler });
  const expire = nseExpire({ defaultPeriod: options.expirePeriod ?? 60_000, scheduler });
  const nse = registryChain([
    validateNetworkServiceEndpoint({ scheduler }),
    begin,
    nseInterdomain(options.proxyRegistryUrl),
    setRegistrationTime({ scheduler }),
    expire,
    nseMemory(stores.nse, { scheduler }),
  ]);
  const ns = registryChain([validateNetworkService(), nsInterdomain(options.proxyRegistryUrl), setPayload(), nsMemory(stores.ns)]);
  return {
    ns,
    nse,
    stores,
    state: { begin, expire },
    dispose: () => {
      for (const timer of expire.names.values()) timer.unsubscribe();
    },
  };
}
