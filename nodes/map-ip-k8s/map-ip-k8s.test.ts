import { existsSync, readFileSync, statSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { k8sUnavailable, startApiServer, type ApiServer } from '../../test/k8s/apiserver.js';
import { stop } from '../../test/process/processMesh.js';
import { useProcessMesh } from '../../test/process/useProcessMesh.js';

const mesh = useProcessMesh();
const node = (name: string, addresses: { type: string; address: string }[]) => JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name }, status: { addresses } });
const read = (file: string) => () => (existsSync(file) ? readFileSync(file, 'utf8') : '');
/** The daemon's own "pod IP" on this host, found as it finds it (first non-loopback address). */
const hostIp = () => Object.values(networkInterfaces()).flat().find((a) => a !== undefined && !a.internal)?.address;

describe.skipIf(k8sUnavailable() !== undefined)('nsm-rx map-ip-k8s against a real kube-apiserver', () => {
  let api: ApiServer;
  beforeAll(async () => {
    api = await startApiServer();
    for (const ns of ['mi-extra', 'mi-rbac']) api.kubectl(['create', 'namespace', ns]);
    // Node status is a subresource: created with the object, as a kubelet would register.
    api.kubectl(['create', '-f', '-'], node('n1', [{ type: 'InternalIP', address: '10.0.0.5' }, { type: 'ExternalIP', address: '34.1.2.3' }]));
  });
  afterAll(() => api?.stop());

  it('Nodes’ internal → external addresses, its own pod IP, the extra ConfigMap; updates, deleted Nodes and entries leave the file; shutdown exits cleanly', async () => {
    const file = join(mesh().dir, 'external_ips.yaml');
    api.kubectl(['create', '-f', '-'], node('n2', [{ type: 'InternalIP', address: '10.0.0.6' }]));
    api.kubectl(['create', 'configmap', '-n', 'mi-extra', 'extra-ips', '--from-literal=a.yaml=192.168.1.1: 1.1.1.1\n', '--from-literal=bad.yaml=- a list']);
    const daemon = mesh().start(undefined, 'map-ip-k8s', { KUBECONFIG: api.kubeconfig, NSM_OUTPUT_PATH: file, NSM_NODE_NAME: 'n1', NSM_NAMESPACE: 'mi-extra', NSM_FROM_CONFIG_MAP: 'extra-ips', NSM_LOG_LEVEL: 'INFO' });
    await expect.poll(read(file), { timeout: 15_000 }).toMatch(/^10\.0\.0\.5: 34\.1\.2\.3\n10\.0\.0\.6: 10\.0\.0\.6\n/m);
    expect(read(file)()).toContain('34.1.2.3: 34.1.2.3\n');
    expect(read(file)()).toContain('192.168.1.1: 1.1.1.1\n');
    const own = hostIp();
    if (own !== undefined) expect(read(file)()).toMatch(new RegExp(`^"?${own.replace(/[.:]/g, '\\$&')}"?: 34\\.1\\.2\\.3$`, 'm'));
    expect(statSync(file).mode & 0o777).toBe(0o644);
    await expect.poll(() => daemon.out).toMatch(/not a YAML map.*mi-extra\/extra-ips.*bad\.yaml/);

    // A cloud gives n2 an external address: its status changes, the map follows.
    api.kubectl(['patch', 'node', 'n2', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { addresses: [{ type: 'InternalIP', address: '10.0.0.6' }, { type: 'ExternalIP', address: '35.0.0.6' }] } })]);
    await expect.poll(read(file)).toContain('10.0.0.6: 35.0.0.6\n');
    // The extra ConfigMap is followed (upstream reads it once, at start): changed, then deleted.
    api.kubectl(['patch', 'configmap', '-n', 'mi-extra', 'extra-ips', '--type=merge', '-p', JSON.stringify({ data: { 'a.yaml': '192.168.1.9: 9.9.9.9\n' } })]);
    await expect.poll(read(file)).toContain('192.168.1.9: 9.9.9.9\n');
    expect(read(file)()).not.toContain('192.168.1.1');
    api.kubectl(['delete', 'configmap', '-n', 'mi-extra', 'extra-ips']);
    await expect.poll(read(file)).not.toContain('192.168.1.9');
    api.kubectl(['delete', 'node', 'n2']);
    await expect.poll(read(file)).not.toContain('10.0.0.6');
    expect(await stop(daemon)).toBe(0);
  });

  it('RBAC forbidden: says which verb on which resource, waits, and works once allowed', async () => {
    const file = join(mesh().dir, 'external_ips.yaml');
    const daemon = mesh().start(undefined, 'map-ip-k8s', { KUBECONFIG: api.kubeconfigFor('map-ip'), NSM_OUTPUT_PATH: file });
    await expect.poll(() => daemon.out, { timeout: 15_000 }).toMatch(/waiting for the Kubernetes API.*cannot list nodes.*forbidden/);
    expect(existsSync(file)).toBe(false);
    api.kubectl(['create', 'clusterrole', 'map-ip-reader', '--verb=get,list,watch', '--resource=nodes']);
    api.kubectl(['create', 'clusterrolebinding', 'map-ip-reader', '--clusterrole=map-ip-reader', '--user=map-ip']);
    await expect.poll(read(file), { timeout: 20_000 }).toContain('10.0.0.5: 34.1.2.3\n');
    expect(daemon.child.exitCode).toBeNull();
  });

  it('waits through an apiserver restart, saying why, and follows the Nodes again without a restart of its own', async () => {
    const file = join(mesh().dir, 'external_ips.yaml');
    const daemon = mesh().start(undefined, 'map-ip-k8s', { KUBECONFIG: api.kubeconfig, NSM_OUTPUT_PATH: file });
    await expect.poll(read(file), { timeout: 15_000 }).toContain('10.0.0.5: 34.1.2.3\n');
    await api.stopApiServer();
    await expect.poll(() => daemon.out, { timeout: 15_000 }).toMatch(/waiting for the Kubernetes API.*unreachable/);
    await api.startApiServer();
    api.kubectl(['create', '-f', '-'], node('n3', [{ type: 'InternalIP', address: '10.0.0.7' }]));
    await expect.poll(read(file), { timeout: 20_000 }).toContain('10.0.0.7: 10.0.0.7\n');
    expect(daemon.child.exitCode).toBeNull();
  });
});
