import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { k8sUnavailable, startApiServer, type ApiServer } from '../k8s/apiserver.js';
import { installRegistryCrds } from '../k8s/registryCrds.js';
import { describeKernel, pings, tcpTransfer, underlay, useNamespaces } from '../kernel/namespaces.js';
import { nscEvents, ProcessMesh, stop } from './processMesh.js';

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
    const [node0, node1, nscNs, nseNs] = [ns.make('node0'), ns.make('node1'), ns.make('nsc'), ns.make('nse')];
    underlay(node0, node1, '169.254.250.1/30', '169.254.250.2/30');
    mesh.node(node0, 0, '169.254.250.1');
    mesh.node(node1, 1, '169.254.250.2');
    mesh.nse(nseNs, 1);
    const client = mesh.nsc(nscNs);
    await expect.poll(() => nscEvents(client, 'connected').length, { timeout: 30_000 }).toBe(1);
    expect(nscEvents(client, 'connected')[0]?.path.pathSegments.map((s) => s.name)).toEqual(['nsc', 'nsmgr-0', 'forwarder-0', 'nsmgr-1', 'forwarder-1', 'icmp-responder']);
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
