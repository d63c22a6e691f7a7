import { startApiServer } from '../k8s/apiserver.js';
import { installRegistryCrds } from '../k8s/registryCrds.js';
import { nsmRx, registryFigures, type StartRegistry } from './registry.bench.js';
import type { BenchResult } from './stats.js';

/** NSEs stored while Register and the fan-out to 100 Find-watchers are measured. */
const NSES = 1000;

/**
 * registry-k8s against a real kube-apiserver + etcd on loopback (test/k8s/apiserver.ts), side by
 * side with registry-memory in the same run: Register p50/p99 (a custom resource written, and
 * seen by the registry's informer before Register returns) and Register → 100 Find-watchers at
 * 1,000 NSEs.
 */
export async function k8sBenchmarks(quick: boolean): Promise<BenchResult[]> {
  const api = await startApiServer();
  try {
    installRegistryCrds(api, 'nsm-system');
    const k8s: StartRegistry = (mesh, socket) => mesh.start(undefined, 'registry-k8s', { NSM_LISTEN_ON: `unix://${socket}`, NSM_NAMESPACE: 'nsm-system', NSM_EXPIRE_PERIOD: '1h', KUBECONFIG: api.kubeconfig }).child;
    const total = quick ? 400 : NSES;
    return [...(await registryFigures('registry-k8s', k8s, total, quick)), ...(await registryFigures('registry-memory', nsmRx, total, quick))];
  } finally {
    await api.stop();
  }
}
