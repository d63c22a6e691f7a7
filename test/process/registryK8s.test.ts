import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { k8sUnavailable, startApiServer, type ApiServer } from '../k8s/apiserver.js';
import { installRegistryCrds } from '../k8s/registryCrds.js';
import { describeKernel, pings, tcpTransfer, useNamespaces } from '../kernel/namespaces.js';
import { ProcessMesh, stop } from './processMesh.js';
import { remoteConnection } from './remoteConnection.js';

let api: ApiServer | undefined;
let mesh: ProcessMesh;
const unavailable = k8sUnavailable();

describeKernel('a process mesh on registry-k8s (a real kube-apiserver) instead of registry-memory', () => {
  const ns = useNamespaces();
  beforeAll(async () => {
    if (unavailable !== undefined) return;
    api = await startApiServer();
    installRegistryCrds(api, 'nsm-system');
  });
  afterAll(() => api?.stop());
  beforeEach(() => {
    // registry-k8s talks to the apiserver on this netns's loopback; the nsmgrs reach it by its unix socket.
    mesh = new ProcessMesh({}, (m) => m.start(undefined, 'registry-k8s', { NSM_LISTEN_ON: m.sock('registry'), NSM_NAMESPACE: 'nsm-system', KUBECONFIG: api?.kubeconfig ?? '' }));
  });
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') console.error(mesh.dump());
    await mesh.dispose();
  });

  it.skipIf(unavailable !== undefined)('remote: nsc → nsmgr-0 → forwarder-0 → nsmgr-1 → forwarder-1 → NSE over VXLAN, the NSEs kept as custom resources; ping and TCP pass', async () => {
    const { nscNs, nseNs, client } = await remoteConnection(mesh, ns);
    // The forwarders and the endpoint are NetworkServiceEndpoint resources in NSM_NAMESPACE.
    expect(api?.kubectl(['get', 'nse', '-n', 'nsm-system', '-o', 'name']).split('\n').filter(Boolean).sort()).toEqual([
      'networkserviceendpoint.networkservicemesh.io/forwarder-0',
      'networkserviceendpoint.networkservicemesh.io/forwarder-1',
      'networkserviceendpoint.networkservicemesh.io/icmp-responder',
    ]);
    expect(pings(nscNs, '169.254.1.0')).toBe(true);
    expect(await tcpTransfer(nscNs, nseNs, '169.254.1.0', 4 << 20)).toBe(4 << 20);
    expect(await stop(client)).toBe(0);
  });
});
