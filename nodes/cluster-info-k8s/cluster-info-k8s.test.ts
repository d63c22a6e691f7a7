import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { k8sUnavailable, startApiServer, type ApiServer } from '../../test/k8s/apiserver.js';
import { inCheckout } from '../../test/process/processMesh.js';
import { useProcessMesh } from '../../test/process/useProcessMesh.js';

const mesh = useProcessMesh();
const property = (name: string, value: string) => JSON.stringify({ apiVersion: 'about.k8s.io/v1alpha1', kind: 'ClusterProperty', metadata: { name }, spec: { value } });

describe.skipIf(k8sUnavailable() !== undefined)('nsm-rx cluster-info-k8s against a real kube-apiserver', () => {
  let api: ApiServer;
  beforeAll(async () => {
    api = await startApiServer();
    api.kubectl(['apply', '-f', inCheckout('deploy/apps/cluster-info/crd-clusterproperty.yaml')]);
    api.kubectl(['wait', '--for=condition=established', '--timeout=20s', 'crd/clusterproperties.about.k8s.io']);
    api.kubectl(['create', 'namespace', 'nsm-system']);
  });
  afterAll(() => api?.stop());

  it('ClusterProperties, renamed through NSM_TRANSLATION_MAP, are soft-merged into the ConfigMap: keys are added and changed, never removed', async () => {
    api.kubectl(['create', 'configmap', '-n', 'nsm-system', 'cluster-info', '--from-literal=config.yaml=owner: ops\n']);
    api.kubectl(['apply', '-f', '-'], property('id.k8s.io', 'cluster1'));
    mesh().start(undefined, 'cluster-info-k8s', { KUBECONFIG: api.kubeconfig, NSM_NAMESPACE: 'nsm-system' });
    const file = () => (JSON.parse(api.kubectl(['get', 'configmap', '-n', 'nsm-system', 'cluster-info', '-o', 'json'])) as { data: Record<string, string> }).data['config.yaml'];
    await expect.poll(file, { timeout: 15_000 }).toBe('clusterName: cluster1\nowner: ops\n');
    api.kubectl(['apply', '-f', '-'], property('id.k8s.io', 'cluster2'));
    api.kubectl(['apply', '-f', '-'], property('clusterset.k8s.io', 'set-a'));
    await expect.poll(file).toBe('clusterName: cluster2\nclusterset.k8s.io: set-a\nowner: ops\n');
    api.kubectl(['delete', 'clusterproperty', 'clusterset.k8s.io']);
    await new Promise((r) => setTimeout(r, 500));
    expect(file()).toBe('clusterName: cluster2\nclusterset.k8s.io: set-a\nowner: ops\n');
  });
});
