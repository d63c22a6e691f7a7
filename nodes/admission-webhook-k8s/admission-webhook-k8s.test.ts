import { spawnSync } from 'node:child_process';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { k8sUnavailable, startApiServer, type ApiServer } from '../../test/k8s/apiserver.js';
import { ProcessMesh, stop } from '../../test/process/processMesh.js';
import { useProcessMesh } from '../../test/process/useProcessMesh.js';

const mesh = useProcessMesh();
const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
/** POST to the webhook as a misbehaving caller would (its certificate is its own CA's). */
const post = (port: number, body: string) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/mutate', method: 'POST', rejectUnauthorized: false }, (res) => {
      let text = '';
      res.on('data', (b: Buffer) => (text += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });

/** The certificate the webhook serves: its SANs, serial and RSA key size (when RSA). */
const servedCertificate = (port: number) =>
  new Promise<{ subjectaltname: string; serialNumber: string; bits?: number }>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const { subjectaltname = '', serialNumber, bits } = socket.getPeerCertificate();
      socket.end();
      resolve({ subjectaltname, serialNumber, bits });
    });
    socket.on('error', reject);
  });

interface StoredPod {
  metadata: { labels?: Record<string, string> };
  spec: { initContainers?: { name: string; env: { name: string; value?: string }[] }[]; containers: { name: string; env?: { name: string; value?: string }[] }[]; volumes?: { name: string }[] };
}

describe.skipIf(k8sUnavailable() !== undefined)('nsm-rx admission-webhook-k8s called by a real kube-apiserver', () => {
  let api: ApiServer;
  beforeAll(async () => {
    api = await startApiServer();
  });
  afterAll(() => api?.stop());

  it('selfregister: registers itself; annotated Pods, Pods of annotated Namespaces, Deployments and CronJobs are stored with nsc-init and the nsc; others and Pods already holding the nsc untouched; bad requests get 400; the configuration goes on exit', async () => {
    const port = await freePort();
    const webhook = mesh().start(undefined, 'admission-webhook-k8s', {
      KUBECONFIG: api.kubeconfig,
      NSM_WEBHOOK_MODE: 'selfregister',
      NSM_NAME: 'nsm-rx-webhook',
      NSM_LISTEN_ON: `127.0.0.1:${port}`,
      NSM_WEBHOOK_URL: `https://127.0.0.1:${port}/mutate`,
      NSM_INIT_CONTAINER_IMAGES: 'ghcr.io/nsm-rx/nsc-init:0.1.0',
      NSM_CONTAINER_IMAGES: 'ghcr.io/nsm-rx/nsc:0.1.0',
      NSM_LABELS: 'spiffe.io/spiffe-id:true',
      NSM_ENVS: 'NSM_LOG_LEVEL=TRACE',
      NSM_LOG_LEVEL: 'INFO',
    });
    await expect.poll(() => api.kubectl(['get', 'mutatingwebhookconfigurations', '-o', 'name']), { timeout: 15_000 }).toContain('nsm-rx-webhook');
    const registered = JSON.parse(api.kubectl(['get', 'mutatingwebhookconfiguration', 'nsm-rx-webhook', '-o', 'json'])) as { webhooks: { name: string; failurePolicy: string; clientConfig: { url?: string; caBundle?: string }; rules: { operations: string[]; resources: string[] }[] }[] };
    expect(registered.webhooks).toHaveLength(1);
    expect(registered.webhooks[0]).toMatchObject({ name: 'nsm-rx-webhook.networkservicemesh.io', failurePolicy: 'Fail', clientConfig: { url: `https://127.0.0.1:${port}/mutate`, caBundle: expect.any(String) as string } });
    expect(registered.webhooks[0]?.rules.flatMap((r) => r.resources)).toEqual(['pods', 'deployments', 'statefulsets', 'daemonsets', 'replicasets', 'jobs', 'cronjobs']);
    // Upstream's key (RSA-2048), for the Service's names and the URL's address.
    expect(await servedCertificate(port)).toMatchObject({ bits: 2048, subjectaltname: 'DNS:default.default, DNS:default.default.svc, IP Address:127.0.0.1' });

    api.kubectl(['create', 'namespace', 'apps']);
    const create = (name: string, annotations: Record<string, string> = {}, ns = 'apps') =>
      api.kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, annotations }, spec: { containers: [{ name: 'app', image: 'alpine' }] } }));
    const stored = (name: string, ns = 'apps') => JSON.parse(api.kubectl(['get', 'pod', '-n', ns, name, '-o', 'json'])) as StoredPod;

    create('annotated', { 'networkservicemesh.io': 'kernel://icmp-responder/nsm-1' });
    const pod = stored('annotated');
    expect(pod.spec.initContainers?.map((c) => c.name)).toEqual(['nsc-init']);
    expect(pod.spec.containers.map((c) => c.name)).toEqual(['app', 'nsc']);
    expect(pod.spec.containers[1]?.env?.find((e) => e.name === 'NSM_NETWORK_SERVICES')?.value).toBe('kernel://icmp-responder/nsm-1');
    expect(pod.spec.containers[1]?.env?.find((e) => e.name === 'NSM_LOG_LEVEL')?.value).toBe('TRACE');
    expect(pod.spec.volumes?.map((v) => v.name)).toEqual(expect.arrayContaining(['spire-agent-socket', 'nsm-socket']));
    expect(pod.metadata.labels?.['spiffe.io/spiffe-id']).toBe('true');

    create('plain');
    expect(stored('plain').spec.containers.map((c) => c.name)).toEqual(['app']);
    expect(stored('plain').spec.initContainers).toBeUndefined();

    api.kubectl(['create', 'namespace', 'meshed']);
    api.kubectl(['annotate', 'namespace', 'meshed', 'networkservicemesh.io=kernel://svc/nsm-1']);
    // The webhook reads Namespaces from its informer: the annotation arrives a moment later.
    await expect
      .poll(() => {
        const name = `inherits-${Math.random().toString(36).slice(2, 8)}`;
        create(name, {}, 'meshed');
        return stored(name, 'meshed').spec.containers.map((c) => c.name);
      })
      .toEqual(['app', 'nsc']);

    // A Pod made from a patched template (what an annotated Deployment's ReplicaSet creates in an
    // annotated Namespace) already has its sidecar: stored as it is, not refused for a duplicate.
    api.kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'from-template', namespace: 'meshed' }, spec: { containers: [{ name: 'app', image: 'alpine' }, { name: 'nsc', image: 'ghcr.io/nsm-rx/nsc:0.1.0' }] } }));
    expect(stored('from-template', 'meshed').spec.containers.map((c) => c.name)).toEqual(['app', 'nsc']);
    expect(stored('from-template', 'meshed').spec.initContainers).toBeUndefined();

    api.kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'apps', annotations: { 'networkservicemesh.io': 'kernel://icmp-responder/nsm-1' } }, spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'alpine' }] } } } }));
    const deployment = JSON.parse(api.kubectl(['get', 'deployment', '-n', 'apps', 'web', '-o', 'json'])) as { spec: { template: StoredPod } };
    expect(deployment.spec.template.spec.containers.map((c) => c.name)).toEqual(['app', 'nsc']);
    expect(deployment.spec.template.metadata.labels).toEqual({ app: 'web', 'spiffe.io/spiffe-id': 'true' });

    // CronJob: the template under /spec/jobTemplate/spec/template.
    const podTemplate = { spec: { restartPolicy: 'Never', containers: [{ name: 'app', image: 'alpine' }] } };
    api.kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'nightly', namespace: 'apps', annotations: { 'networkservicemesh.io': 'kernel://icmp-responder/nsm-1' } }, spec: { schedule: '0 0 * * *', jobTemplate: { spec: { template: podTemplate } } } }));
    const cronJob = JSON.parse(api.kubectl(['get', 'cronjob', '-n', 'apps', 'nightly', '-o', 'json'])) as { spec: { jobTemplate: { spec: { template: StoredPod } } } };
    expect(cronJob.spec.jobTemplate.spec.template.spec.initContainers?.map((c) => c.name)).toEqual(['nsc-init']);
    expect(cronJob.spec.jobTemplate.spec.template.spec.containers.map((c) => c.name)).toEqual(['app', 'nsc']);

    expect(await post(port, '{not json')).toMatchObject({ status: 400, body: expect.stringMatching(/^malformed AdmissionReview/) as string });
    expect(await post(port, '{"request":{}}')).toMatchObject({ status: 400, body: expect.stringMatching(/request.uid and request.kind.kind are required/) as string });
    const unknown = await post(port, JSON.stringify({ request: { uid: 'x', kind: { kind: 'Secret' }, operation: 'CREATE', object: { metadata: {} } } }));
    expect(JSON.parse(unknown.body)).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'x', allowed: true } });

    expect(await stop(webhook)).toBe(0);
    expect(api.kubectl(['get', 'mutatingwebhookconfigurations', '-o', 'name'])).not.toContain('nsm-rx-webhook');
  });

  it('spire mode: serves its X.509-SVID from the Workload API and follows its rotation', async () => {
    // A mesh of its own: its identity provider issues SVIDs of 2 s, renewed at half of that.
    const spire = new ProcessMesh({ NSM_SVID_TTL: '2s' });
    try {
      const port = await freePort();
      const webhook = spire.start(undefined, 'admission-webhook-k8s', { KUBECONFIG: api.kubeconfig, NSM_LISTEN_ON: `127.0.0.1:${port}`, NSM_CONTAINER_IMAGES: 'ghcr.io/nsm-rx/nsc:0.1.0' });
      await expect.poll(async () => (await servedCertificate(port).catch(() => undefined))?.subjectaltname, { timeout: 15_000 }).toMatch(/^URI:spiffe:\/\/nsm\.local\//);
      const first = await servedCertificate(port);
      await expect.poll(async () => (await servedCertificate(port)).serialNumber, { timeout: 15_000 }).not.toBe(first.serialNumber);
      expect(await stop(webhook)).toBe(0);
    } finally {
      await spire.dispose();
    }
  });
});

describe('nsm-rx admission-webhook-k8s configuration', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  it.each([
    ['NSM_ENVS', 'NSM_LOG_LEVEL=TRACE,FOO', /NSM_ENVS.*K=V/s],
    ['NSM_LISTEN_ON', 'unix:///tmp/x.sock', /NSM_LISTEN_ON.*TCP/s],
    ['NSM_WEBHOOK_URL', 'http://127.0.0.1:8443/mutate', /NSM_WEBHOOK_URL.*https/s],
  ])('%s=%s exits 2 naming the variable and the expected form', (name, value, message) => {
    const r = spawnSync(process.execPath, ['bin/nsm-rx.js', 'admission-webhook-k8s'], { cwd: root, encoding: 'utf8', env: { ...process.env, [name]: value }, timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
