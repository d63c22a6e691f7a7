import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { k8sUnavailable, startApiServer, type ApiServer } from '../../test/k8s/apiserver.js';
import { inCheckout, stop } from '../../test/process/processMesh.js';
import { useProcessMesh } from '../../test/process/useProcessMesh.js';

const mesh = useProcessMesh();
const property = (name: string, value: string) => JSON.stringify({ apiVersion: 'about.k8s.io/v1alpha1', kind: 'ClusterProperty', metadata: { name }, spec: { value } });

describe.skipIf(k8sUnavailable() !== undefined)('nsm-rx cluster-info-k8s against a real kube-apiserver', () => {
  let api: ApiServer;
  beforeAll(async () => {
    api = await startApiServer();
    // The About API's CRD as deploy/ ships it: the apiserver does not know ClusterProperty otherwise.
    api.kubectl(['apply', '-f', inCheckout('deploy/apps/cluster-info/crd-clusterproperty.yaml')]);
    api.kubectl(['wait', '--for=condition=established', '--timeout=20s', 'crd/clusterproperties.about.k8s.io']);
    for (const ns of ['ci-merge', 'ci-rbac', 'ci-restart']) api.kubectl(['create', 'namespace', ns]);
  });
  afterAll(() => api?.stop());

  /** The ConfigMap's config.yaml, '' while the map is missing. */
  const file = (ns: string) => () => {
    try {
      return (JSON.parse(api.kubectl(['get', 'configmap', '-n', ns, 'cluster-info', '-o', 'json'])) as { data?: Record<string, string> }).data?.['config.yaml'] ?? '';
    } catch {
      return '';
    }
  };

  it('ClusterProperties, renamed through NSM_TRANSLATION_MAP, are soft-merged into the ConfigMap: keys are added and changed, never removed; an edit of a property’s key is put back; shutdown exits cleanly', async () => {
    api.kubectl(['create', 'configmap', '-n', 'ci-merge', 'cluster-info', '--from-literal=config.yaml=owner: ops\n']);
    api.kubectl(['apply', '-f', '-'], property('id.k8s.io', 'cluster1'));
    const daemon = mesh().start(undefined, 'cluster-info-k8s', { KUBECONFIG: api.kubeconfig, NSM_NAMESPACE: 'ci-merge' });
    await expect.poll(file('ci-merge'), { timeout: 15_000 }).toBe('clusterName: cluster1\nowner: ops\n');
    api.kubectl(['apply', '-f', '-'], property('id.k8s.io', 'cluster2'));
    api.kubectl(['apply', '-f', '-'], property('clusterset.k8s.io', 'set-a'));
    await expect.poll(file('ci-merge')).toBe('clusterName: cluster2\nclusterset.k8s.io: set-a\nowner: ops\n');

    // Someone else edits: their own key stays as they wrote it, the property's value comes back.
    api.kubectl(['patch', 'configmap', '-n', 'ci-merge', 'cluster-info', '--type=merge', '-p', JSON.stringify({ data: { 'config.yaml': 'clusterName: wrong\nowner: dev\n' } })]);
    await expect.poll(file('ci-merge')).toBe('clusterName: cluster2\nclusterset.k8s.io: set-a\nowner: dev\n');

    // A deleted property leaves its key; a later change proves the daemon saw the deletion.
    api.kubectl(['delete', 'clusterproperty', 'clusterset.k8s.io']);
    api.kubectl(['apply', '-f', '-'], property('id.k8s.io', 'cluster3'));
    await expect.poll(file('ci-merge')).toBe('clusterName: cluster3\nclusterset.k8s.io: set-a\nowner: dev\n');
    expect(await stop(daemon)).toBe(0);
  });

  it('RBAC forbidden: says which verb on which resource (list, then create), waits, and works once allowed without a restart', async () => {
    const daemon = mesh().start(undefined, 'cluster-info-k8s', { KUBECONFIG: api.kubeconfigFor('cluster-info'), NSM_NAMESPACE: 'ci-rbac' });
    await expect.poll(() => daemon.out, { timeout: 15_000 }).toMatch(/waiting for the Kubernetes API.*cannot list clusterproperties\.about\.k8s\.io.*forbidden/);
    api.kubectl(['create', 'clusterrole', 'cluster-info-reader', '--verb=get,list,watch', '--resource=clusterproperties.about.k8s.io']);
    api.kubectl(['create', 'clusterrolebinding', 'cluster-info-reader', '--clusterrole=cluster-info-reader', '--user=cluster-info']);
    await expect.poll(() => daemon.out, { timeout: 15_000 }).toMatch(/cannot list configmaps in namespace ci-rbac.*forbidden/);
    api.kubectl(['create', 'role', '-n', 'ci-rbac', 'cluster-info-reader', '--verb=get,list,watch', '--resource=configmaps']);
    api.kubectl(['create', 'rolebinding', '-n', 'ci-rbac', 'cluster-info-reader', '--role=cluster-info-reader', '--user=cluster-info']);
    await expect.poll(() => daemon.out, { timeout: 15_000 }).toMatch(/cannot write the cluster-info ConfigMap.*cannot create configmaps in namespace ci-rbac.*forbidden/);
    // Allowed to write: the failed write is tried again by itself, nothing else has to change.
    api.kubectl(['create', 'role', '-n', 'ci-rbac', 'cluster-info-writer', '--verb=create,patch', '--resource=configmaps']);
    api.kubectl(['create', 'rolebinding', '-n', 'ci-rbac', 'cluster-info-writer', '--role=cluster-info-writer', '--user=cluster-info']);
    await expect.poll(file('ci-rbac'), { timeout: 20_000 }).toMatch(/^clusterName: cluster\d\n/);
    expect(daemon.child.exitCode).toBeNull();
  });

  it('waits through an apiserver restart, saying why, and follows the properties again without a restart of its own', async () => {
    const daemon = mesh().start(undefined, 'cluster-info-k8s', { KUBECONFIG: api.kubeconfig, NSM_NAMESPACE: 'ci-restart', NSM_TRANSLATION_MAP: 'id.k8s.io:clusterName,region.k8s.io:region' });
    await expect.poll(file('ci-restart'), { timeout: 15_000 }).toMatch(/^clusterName: /);
    await api.stopApiServer();
    await expect.poll(() => daemon.out, { timeout: 15_000 }).toMatch(/waiting for the Kubernetes API.*unreachable/);
    await api.startApiServer();
    api.kubectl(['apply', '-f', '-'], property('region.k8s.io', 'eu-1'));
    await expect.poll(file('ci-restart'), { timeout: 20_000 }).toContain('region: eu-1\n');
    expect(daemon.child.exitCode).toBeNull();
  });
});
