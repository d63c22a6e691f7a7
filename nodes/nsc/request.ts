import { NetworkServiceRequest } from '../../proto/gen/networkservice.js';
import type { NetworkServiceUrl } from '../../operators/tools/nsurl.js';
import { ownNetnsUrl } from '../../dataplane/kernel/netns.js';

/**
 * The request for `<name>-<i>` from one NSM_NETWORK_SERVICES entry; a KERNEL mechanism names
 * this process's netns (`inode://dev/ino`, what upstream's sendfd turns its netns file into).
 */
export function requestFor(name: string, i: number, ns: NetworkServiceUrl): NetworkServiceRequest {
  const mechanism = ns.mechanism.type === 'KERNEL' ? { ...ns.mechanism, parameters: { ...ns.mechanism.parameters, inodeURL: ownNetnsUrl() } } : ns.mechanism;
  return NetworkServiceRequest.fromPartial({
    connection: { id: `${name}-${i}`, networkService: ns.networkService, labels: ns.labels },
    mechanismPreferences: [mechanism],
  });
}
