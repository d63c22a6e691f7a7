import { endpoint as endpointChain } from '../../operators/chains/endpoint.js';
import { defaultServerPolicies, resolvePolicies } from '../../operators/authorize/policies.js';
import type { NetworkServiceElement } from '../../operators/core/networkservice.js';
import { ipamForPolicy } from '../../operators/networkservice/ipamPolicy.js';
import { kernelMechanismServer } from '../../operators/networkservice/kernelMechanismServer.js';
import { mechanisms } from '../../operators/networkservice/mechanisms.js';
import { parseCidrGroups } from '../../operators/tools/cidrGroups.js';
import { parseNsmUrl } from '../../operators/tools/nsmUrl.js';
import { ownNetnsUrl } from '../../dataplane/kernel/netns.js';
import type { NetworkServiceEndpoint } from '../../proto/gen/registry.js';
import { serveEndpoint } from '../cli/serveEndpoint.js';
import { embedded, type LogOptions } from './embedded.js';
import { security, type IdentityOptions } from './identity.js';

export interface EndpointOptions extends IdentityOptions, LogOptions {
  /** The NSE's name (its path segment). */
  readonly name: string;
  /** The nsmgr to register through and be called by, e.g. `unix:///var/lib/networkservicemesh/nsm.io.sock`. */
  readonly connectTo: string;
  readonly serviceNames: readonly string[];
  /** Your chain elements: each Request and Close passes them after the common ones and before IPAM and the mechanism. */
  readonly elements?: readonly NetworkServiceElement[];
  /** Address pools for point-to-point pairs, as NSM_CIDR_PREFIX (default 169.254.0.0/16). */
  readonly cidrPrefix?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** ETHERNET (default) or IP. */
  readonly payload?: string;
}

/** An endpoint serving and registered; `stop` unregisters it and releases everything. */
export interface RunningEndpoint {
  readonly registration: NetworkServiceEndpoint;
  stop(): Promise<void>;
}

/**
 * Runs a network service endpoint in this process, as `nsm-rx nse-icmp-responder` runs (its
 * chain, registration and refresh, unix socket, shutdown), with your elements in its chain:
 * resolves once it is registered through its nsmgr (tried until the nsmgr answers). Clients get
 * a point-to-point pair of addresses from `cidrPrefix`; a KERNEL mechanism names this process's
 * network namespace, where a kernel forwarder puts the endpoint's interface.
 */
export async function startEndpoint(options: EndpointOptions): Promise<RunningEndpoint> {
  // Bad input fails here, naming what is wrong, before anything is started.
  const connectTo = parseNsmUrl(options.connectTo);
  const pools = parseCidrGroups(options.cidrPrefix ?? '169.254.0.0/16');
  const ctx = embedded(options.name, options);
  const secure = await security(options.name, options, ctx);
  const hop = endpointChain({
    name: options.name,
    token: secure.token,
    policies: secure.enforce(resolvePolicies(defaultServerPolicies.split(','))),
    additional: [...(options.elements ?? []), ipamForPolicy('polite', pools), mechanisms({ KERNEL: [kernelMechanismServer(ownNetnsUrl)], NOOP: [] })],
  });
  const registered = new Promise<NetworkServiceEndpoint>((resolve, reject) => {
    serveEndpoint(
      hop,
      {
        name: options.name,
        connectTo,
        serviceNames: options.serviceNames,
        payload: options.payload ?? 'ETHERNET',
        labels: options.labels ?? {},
        registerService: true,
        unregisterItself: true,
        monitorPolicies: [],
        registryClientPolicies: [],
      },
      secure,
      ctx,
      { serving: (_, nse) => resolve(nse) },
    ).catch(reject);
  });
  const stop = async () => {
    await ctx.lifecycle.shutdown('stopped');
    ctx.lifecycle.dispose();
  };
  return { registration: await registered, stop };
}
