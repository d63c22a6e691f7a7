import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { k8sUnavailable, startApiServer, type ApiServer } from '../../test/k8s/apiserver.js';
import { useProcessMesh } from '../../test/process/useProcessMesh.js';

const mesh = useProcessMesh();
const node = (name: string, addresses: { type: string; address: string }[]) => JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name }, status: { addresses } });

describe.skipIf(k8sUnavailable() !== undefined)('nsm-rx map-ip-k8s against a real kube-apiserver', () => {
  let api: ApiServer;
  beforeAll(async () => {
    api = await startApiServer();
  });
  afterAll(() => api?.stop());

  it('Nodes’ internal → external addresses and the extra ConfigMap go to the file; a deleted Node leaves it', async () => {
    const file = join(mesh().dir, 'external_ips.yaml');
    const read = () => (existsSync(file) ? readFileSync(file, 'utf8') : '');
    // Node status is a subresource: created with the object, as a kubelet would register.
    api.kubectl(['create', '-f', '-'], node('n1', [{ type: 'InternalIP', address: '10.0.0.5' }, { type: 'ExternalIP', address: '34.1.2.3' }]));
    api.kubectl(['create', '-f', '-'], node('n2', [{ type: 'InternalIP', address: '10.0.0.6' }]));
    api.kubectl(['create', 'configmap', '-n', 'default', 'extra-ips', '--from-literal=a.yaml=192.168.1.1: 1.1.1.1\n', '--from-literal=bad.yaml=- a list']);
    const daemon = mesh().start(undefined, 'map-ip-k8s', { KUBECONFIG: api.kubeconfig, NSM_OUTPUT_PATH: file, NSM_NODE_NAME: 'n1', NSM_FROM_CONFIG_MAP: 'extra-ips', NSM_LOG_LEVEL: 'INFO' });
    await expect.poll(read, { timeout: 15_000 }).toMatch(/^10\.0\.0\.5: 34\.1\.2\.3\n10\.0\.0\.6: 10\.0\.0\.6\n/m);
    expect(read()).toContain('34.1.2.3: 34.1.2.3\n');
    expect(read()).toContain('192.168.1.1: 1.1.1.1\n');
    await expect.poll(() => daemon.out).toMatch(/not a YAML map/);
    api.kubectl(['delete', 'node', 'n2']);
    await expect.poll(read).not.toContain('10.0.0.6');
  });
});
