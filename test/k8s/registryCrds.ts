import { inCheckout } from '../process/processMesh.js';
import type { ApiServer } from './apiserver.js';

/** Installs the NetworkService and NetworkServiceEndpoint CRDs of deploy/ and `namespace`, and waits until both CRDs serve. */
export function installRegistryCrds(api: ApiServer, namespace: string): void {
  const dir = inCheckout('deploy/apps/registry-k8s');
  api.kubectl(['apply', '-f', `${dir}/crd-ns.yaml`, '-f', `${dir}/crd-nse.yaml`]);
  api.kubectl(['wait', '--for=condition=established', '--timeout=20s', 'crd/networkservices.networkservicemesh.io', 'crd/networkserviceendpoints.networkservicemesh.io']);
  api.kubectl(['create', 'namespace', namespace]);
}
