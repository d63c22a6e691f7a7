import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { k8sUnavailable, startApiServer, type ApiServer } from '../../test/k8s/apiserver.js';
import { inCheckout, nscEvents, stop } from '../../test/process/processMesh.js';
import { useProcessMesh } from '../../test/process/useProcessMesh.js';

const mesh = useProcessMesh();
const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : '');
const service = (ns: string, name: string, clusterIP: string) =>
  JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { clusterIP, ports: [{ port: 80 }] } });

it('NSM_EXCLUDED_PREFIXES that is not a list of CIDRs: exit 2 naming the variable, the expected form and the bad value (upstream refuses to start too)', () => {
  const r = spawnSync(process.execPath, [inCheckout('bin/nsm-rx.js'), 'exclude-prefixes-k8s'], { encoding: 'utf8', env: { ...process.env, NSM_EXCLUDED_PREFIXES: '10.0.0.0/8,banana' }, timeout: 20_000 });
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('NSM_EXCLUDED_PREFIXES="10.0.0.0/8,banana": expected comma-separated CIDRs such as 10.96.0.0/12,fd00::/64 ("banana" is not a CIDR)');
});

describe.skipIf(k8sUnavailable() !== undefined)('nsm-rx exclude-prefixes-k8s against a real kube-apiserver', () => {
  let api: ApiServer;
  beforeAll(async () => {
    api = await startApiServer();
    for (const ns of ['ep-file', 'ep-map', 'ep-mesh']) api.kubectl(['create', 'namespace', ns]);
  });
  afterAll(() => api?.stop());

  it('file mode: NSM_EXCLUDED_PREFIXES, Node pod CIDRs, Service cluster IPs, the user ConfigMap and kubeadm-config, merged and rewritten as they change, through an apiserver restart', async () => {
    const file = join(mesh().dir, 'config', 'excluded_prefixes.yaml');
    const daemon = mesh().start(undefined, 'exclude-prefixes-k8s', { KUBECONFIG: api.kubeconfig, NSM_EXCLUDED_PREFIXES: '192.168.0.0/16', NSM_OUTPUT_FILE_PATH: file, NSM_CONFIG_MAP_NAMESPACE: 'ep-file', NSM_LOG_LEVEL: 'INFO' });
    api.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1' }, spec: { podCIDR: '10.244.5.0/24', podCIDRs: ['10.244.5.0/24'] } }));
    await expect.poll(() => read(file), { timeout: 15_000 }).toMatch(/^Prefixes:\n(- .*\n)*- 10\.244\.5\.0\/24\n/);
    expect(read(file)).toContain('- 192.168.0.0/16\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);

    api.kubectl(['apply', '-f', '-'], service('ep-file', 'web', '10.96.50.5'));
    await expect.poll(() => read(file)).toContain('- 10.96.50.5/32\n');
    api.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'excluded-prefixes-config', namespace: 'ep-file' }, data: { 'excluded_prefixes_input.yaml': 'prefixes:\n- 172.20.0.0/16\n- bogus\n' } }));
    await expect.poll(() => read(file)).toContain('- 172.20.0.0/16\n');
    await expect.poll(() => daemon.out).toMatch(/not an IP prefix.*bogus/);
    api.kubectl(['delete', 'configmap', '-n', 'ep-file', 'excluded-prefixes-config']);
    await expect.poll(() => read(file)).not.toContain('172.20.0.0/16');

    // kubeadm's subnets, dual stack; unreadable YAML keeps them; deleting the map removes them.
    const kubeadm = 'apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nnetworking:\n  podSubnet: 10.250.0.0/16,fd00:250::/56\n  serviceSubnet: fd00:96::/112\n';
    api.kubectl(['create', 'configmap', '-n', 'kube-system', 'kubeadm-config', `--from-literal=ClusterConfiguration=${kubeadm}`]);
    await expect.poll(() => read(file)).toMatch(/- 10\.250\.0\.0\/16\n(- .*\n)*- fd00:96::\/112\n- fd00:250::\/56\n/);
    api.kubectl(['patch', 'configmap', '-n', 'kube-system', 'kubeadm-config', '--type=merge', '-p', JSON.stringify({ data: { ClusterConfiguration: 'networking:\n\tpodSubnet: [' } })]);
    await expect.poll(() => daemon.out).toMatch(/kubeadm-config: its ClusterConfiguration is not readable YAML/);
    expect(read(file)).toContain('- 10.250.0.0/16\n');
    api.kubectl(['delete', 'configmap', '-n', 'kube-system', 'kubeadm-config']);
    await expect.poll(() => read(file)).not.toContain('10.250.0.0/16');

    await api.stopApiServer();
    await expect.poll(() => daemon.out, { timeout: 15_000 }).toMatch(/waiting for the Kubernetes API.*unreachable/);
    await api.startApiServer();
    api.kubectl(['apply', '-f', '-'], service('ep-file', 'after-restart', '10.96.50.6'));
    await expect.poll(() => read(file), { timeout: 15_000 }).toContain('- 10.96.50.6/32\n');
    expect(daemon.child.exitCode).toBeNull();
  });

  it('RBAC: while its lists are forbidden it waits naming the verb and the resource; once granted it writes, without a restart', async () => {
    const file = join(mesh().dir, 'rbac', 'excluded_prefixes.yaml');
    const daemon = mesh().start(undefined, 'exclude-prefixes-k8s', { KUBECONFIG: api.kubeconfigFor('ep-reader'), NSM_OUTPUT_FILE_PATH: file, NSM_CONFIG_MAP_NAMESPACE: 'ep-file' });
    await expect.poll(() => daemon.out, { timeout: 15_000 }).toMatch(/waiting for the Kubernetes API.*cannot list nodes: .*ep-reader.* cannot list resource .*nodes/);
    expect(read(file)).toBe('');
    api.kubectl(['create', 'clusterrole', 'ep-reader', '--verb=get,list,watch', '--resource=nodes,services,configmaps']);
    api.kubectl(['create', 'clusterrolebinding', 'ep-reader', '--clusterrole=ep-reader', '--user=ep-reader']);
    await expect.poll(() => read(file), { timeout: 15_000 }).toMatch(/^Prefixes:/);
    expect(daemon.child.exitCode).toBeNull();
  });

  it('a file it cannot write is logged with its path and why; it keeps watching and writes at the next change once it can', async () => {
    const dir = join(mesh().dir, 'blocked');
    writeFileSync(dir, 'a file where the directory should be');
    const file = join(dir, 'excluded_prefixes.yaml');
    const daemon = mesh().start(undefined, 'exclude-prefixes-k8s', { KUBECONFIG: api.kubeconfig, NSM_OUTPUT_FILE_PATH: file, NSM_CONFIG_MAP_NAMESPACE: 'ep-file' });
    await expect.poll(() => daemon.out, { timeout: 15_000 }).toMatch(/cannot write the excluded prefixes file.*blocked\/excluded_prefixes\.yaml.*EEXIST/);
    rmSync(dir);
    api.kubectl(['apply', '-f', '-'], service('ep-file', 'after-unblock', '10.96.60.1'));
    await expect.poll(() => read(file), { timeout: 15_000 }).toContain('- 10.96.60.1/32\n');
    expect(daemon.child.exitCode).toBeNull();
  });

  it('config-map mode: writes nsm-config in the pod’s namespace and puts back an edit made by someone else; SIGTERM exits 0', async () => {
    const daemon = mesh().start(undefined, 'exclude-prefixes-k8s', { KUBECONFIG: api.kubeconfig, POD_NAMESPACE: 'ep-map', NSM_PREFIXES_OUTPUT_TYPE: 'config-map', NSM_EXCLUDED_PREFIXES: '100.64.0.0/10' });
    const output = () => {
      try {
        return (JSON.parse(api.kubectl(['get', 'configmap', '-n', 'ep-map', 'nsm-config', '-o', 'json'])) as { data: Record<string, string> }).data['excluded_prefixes_output.yaml'] ?? '';
      } catch {
        return '';
      }
    };
    await expect.poll(output, { timeout: 15_000 }).toContain('- 100.64.0.0/10\n');
    api.kubectl(['patch', 'configmap', '-n', 'ep-map', 'nsm-config', '--type=merge', '-p', JSON.stringify({ data: { 'excluded_prefixes_output.yaml': 'Prefixes: []\n' } })]);
    await expect.poll(output, { timeout: 15_000 }).toContain('- 100.64.0.0/10\n');
    // Its watches and client connections are released at SIGTERM: the process exits by itself.
    expect(await stop(daemon)).toBe(0);
  });

  it('end to end: a Service inside an NSE’s CIDR → the nsmgr’s excluded prefixes → the NSE no longer hands out its address', async () => {
    const file = join(mesh().dir, 'excluded.yaml');
    api.kubectl(['apply', '-f', '-'], service('ep-mesh', 'in-the-way', '10.96.100.100'));
    mesh().start(undefined, 'exclude-prefixes-k8s', { KUBECONFIG: api.kubeconfig, NSM_OUTPUT_FILE_PATH: file });
    await expect.poll(() => read(file), { timeout: 15_000 }).toContain('- 10.96.100.100/32\n');

    mesh().start(undefined, 'registry-memory', { NSM_LISTEN_ON: mesh().sock('registry') });
    mesh().start(undefined, 'nsmgr', { NSM_NAME: 'nsmgr', NSM_LISTEN_ON: mesh().sock('nsmgr'), NSM_REGISTRY_URL: mesh().sock('registry'), NSM_EXCLUDED_PREFIXES_FILE: file });
    mesh().start(undefined, 'forwarder-noop', { NSM_NAME: 'forwarder', NSM_CONNECT_TO: mesh().sock('nsmgr'), NSM_LISTEN_ON: mesh().sock('forwarder') });
    // Without the Service, this NSE would take 10.96.100.100 itself and give the client .101.
    mesh().start(undefined, 'nse-icmp-responder', { NSM_NAME: 'icmp-server', NSM_CONNECT_TO: mesh().sock('nsmgr'), NSM_CIDR_PREFIX: '10.96.100.100/30' });
    const nsc = mesh().start(undefined, 'nsc', { NSM_NAME: 'nsc', NSM_CONNECT_TO: mesh().sock('nsmgr'), NSM_NETWORK_SERVICES: 'kernel://icmp-responder/nsm-1', NSM_LIVENESS_CHECK_ENABLED: 'false' });
    await expect.poll(() => nscEvents(nsc, 'connected').length, { timeout: 20_000 }).toBe(1);
    const { srcIpAddrs, dstIpAddrs } = (nscEvents(nsc, 'connected')[0] as { context: { ipContext: { srcIpAddrs: string[]; dstIpAddrs: string[] } } }).context.ipContext;
    // The NSE's IPAM hands out its prefix's first free address to itself, the next to the client.
    expect({ nse: dstIpAddrs, nsc: srcIpAddrs }).toEqual({ nse: ['10.96.100.101/32'], nsc: ['10.96.100.102/32'] });
  });
});
