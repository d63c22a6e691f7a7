import { map } from 'rxjs/operators';
import { NetworkServiceEndpointRegistryService, NetworkServiceRegistryService } from '../../proto/gen/registry.js';
import type { NSEHandler, NSHandler } from '../../operators/core/registry.js';
import type { GrpcServer } from './server.js';

/** Serves both registries (NS and NSE) from registry chains on `server`. */
export function serveRegistries(server: GrpcServer, ns: NSHandler, nse: NSEHandler): GrpcServer {
  return server
    .serve('registry.NetworkServiceRegistry', NetworkServiceRegistryService, {
      register: (item, ctx) => ns.register(item, ctx),
      find: (query, ctx) => ns.find(query, ctx),
      unregister: (item, ctx) => ns.unregister(item, ctx).pipe(map(() => ({}))),
    })
    .serve('registry.NetworkServiceEndpointRegistry', NetworkServiceEndpointRegistryService, {
      register: (item, ctx) => nse.register(item, ctx),
      find: (query, ctx) => nse.find(query, ctx),
      unregister: (item, ctx) => nse.unregister(item, ctx).pipe(map(() => ({}))),
    });
}
