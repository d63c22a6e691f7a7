import type { NSEHandler, NSHandler } from '../core/registry.js';
import { nsCustomResources, nseCustomResources, type CustomResourcesOptions } from '../registry/customResources.js';
import { registryChains, type MemoryRegistryOptions } from './registry.js';

// Its own file: the Kubernetes client it loads is ~40 MiB a registry-memory does not need.

export interface K8sRegistryOptions extends MemoryRegistryOptions, Omit<CustomResourcesOptions, 'scheduler'> {}

/** A registry keeping its entries in Kubernetes, and what shutdown needs. */
export interface K8sRegistry {
  readonly ns: NSHandler;
  readonly nse: NSEHandler;
  /** Ends every registration's expiry loop and the informers' keep-alive (the registry is going away). */
  dispose(): void;
}

/**
 * registry-k8s (upstream cmd-registry-k8s over sdk-k8s): the registry's chains ({@link registryChains}) over
 * NetworkService and NetworkServiceEndpoint custom resources in `namespace`.
 */
export function k8sRegistry(options: K8sRegistryOptions): K8sRegistry {
  const stores = { ns: nsCustomResources(options), nse: nseCustomResources(options) };
  const { ns, nse, begin } = registryChains(options, stores);
  return {
    ns,
    nse,
    dispose: () => {
      begin.dispose();
      stores.ns.dispose();
      stores.nse.dispose();
    },
  };
}
