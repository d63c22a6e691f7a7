import { describe, expect, it } from 'vitest';
import { admissionPatch, containerNameOf, type AdmissionRequest, type InjectionConfig, type JsonPatchOperation } from './patch.js';

const config: InjectionConfig = {
  annotation: 'networkservicemesh.io',
  labels: { 'spiffe.io/spiffe-id': 'true' },
  nsurlEnvName: 'NSM_NETWORK_SERVICES',
  initContainerImages: ['ghcr.io/nsm-rx/nsc-init:1.0'],
  containerImages: ['ghcr.io/nsm-rx/nsc:1.0'],
  envs: [{ name: 'NSM_LOG_LEVEL', value: 'TRACE' }],
  resources: { limits: { memory: '80Mi', cpu: '200m' }, requests: { memory: '40Mi', cpu: '100m' } },
};
const annotated = { 'networkservicemesh.io': 'kernel://icmp-responder/nsm-1' };
const pod = (metadata: Record<string, unknown>, spec: Record<string, unknown> = { containers: [{ name: 'app', image: 'alpine' }] }) => ({ metadata, spec });
const request = (kind: string, object: unknown, operation = 'CREATE', namespace = 'apps'): AdmissionRequest => ({ uid: 'u1', kind: { kind }, namespace, operation, object });
const noNamespace = () => undefined;
const patchOf = (r: ReturnType<typeof admissionPatch>): JsonPatchOperation[] => {
  if ('skip' in r) throw new Error(`skipped: ${r.skip}`);
  return r.patch;
};

describe('admissionPatch', () => {
  it('an annotated Pod gets nsc-init, the nsc sidecar with its environment and mounts, the socket volumes and the labels', () => {
    const ops = patchOf(admissionPatch(request('Pod', pod({ generateName: 'web-', annotations: annotated, labels: { app: 'web' } })), config, noNamespace));
    expect(ops.map((o) => o.path)).toEqual(['/spec/initContainers', '/spec/containers', '/spec/volumes', '/metadata/labels']);
    const [init, containers, volumes, labels] = ops.map((o) => o.value) as [unknown[], { name: string; env: unknown[]; volumeMounts: unknown[]; resources: unknown }[], unknown[], unknown];
    expect(init).toHaveLength(1);
    expect(containers.map((c) => c.name)).toEqual(['app', 'nsc']);
    expect(containers[1]?.env).toEqual([
      { name: 'NSM_LOG_LEVEL', value: 'TRACE' },
      { name: 'SPIFFE_ENDPOINT_SOCKET', value: 'unix:///run/spire/sockets/agent.sock' },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'NSM_NETWORK_SERVICES', value: 'kernel://icmp-responder/nsm-1' },
      { name: 'NSM_NAME', value: '$(POD_NAME)' },
    ]);
    expect(containers[1]?.volumeMounts).toEqual([
      { name: 'spire-agent-socket', mountPath: '/run/spire/sockets', readOnly: true },
      { name: 'nsm-socket', mountPath: '/var/lib/networkservicemesh', readOnly: true },
    ]);
    expect(containers[1]?.resources).toEqual({ limits: { memory: '80Mi', cpu: '200m' }, requests: { memory: '40Mi', cpu: '100m' } });
    expect(volumes).toEqual([
      { name: 'spire-agent-socket', hostPath: { path: '/run/spire/sockets', type: 'Directory' } },
      { name: 'nsm-socket', hostPath: { path: '/var/lib/networkservicemesh', type: 'Directory' } },
    ]);
    expect(labels).toEqual({ app: 'web', 'spiffe.io/spiffe-id': 'true' });
  });

  it('a bare Pod (no generateName) gets a unique NSM_NAME; sriovToken URLs become init-container limits', () => {
    const ops = patchOf(admissionPatch(request('Pod', pod({ name: 'p', annotations: { 'networkservicemesh.io': 'kernel://a/nsm-1?sriovToken=intel/10G,kernel://b/nsm-2?sriovToken=intel/10G' } })), config, noNamespace));
    const init = ops[0]?.value as { env: { name: string; value?: string }[]; resources: { limits: Record<string, string> } }[];
    expect(init[0]?.env.find((e) => e.name === 'NSM_NAME')?.value).toMatch(/^\$\(POD_NAME\)-[0-9a-f-]{36}$/);
    expect(init[0]?.resources.limits['intel/10G']).toBe('2');
  });

  it('NSM_NAME as upstream: $(POD_NAME) when the template has generateName, else a fresh suffix (a workload’s template has none)', () => {
    const nsmNameOf = (ops: JsonPatchOperation[]) => (ops[1]?.value as { env: { name: string; value?: string }[] }[])[1]?.env.find((e) => e.name === 'NSM_NAME')?.value;
    expect(nsmNameOf(patchOf(admissionPatch(request('Pod', pod({ generateName: 'web-', annotations: annotated })), config, noNamespace)))).toBe('$(POD_NAME)');
    const deployment = { metadata: { annotations: annotated }, spec: { template: { metadata: {}, spec: { containers: [{ name: 'app', image: 'alpine' }] } } } };
    expect(nsmNameOf(patchOf(admissionPatch(request('Deployment', deployment), config, noNamespace)))).toMatch(/^\$\(POD_NAME\)-[0-9a-f-]{36}$/);
  });

  it('a Pod that already holds the injected containers (made from a patched template, in an annotated Namespace) passes unpatched', () => {
    const ns = () => ({ annotations: annotated, labels: {} });
    const fromTemplate = pod({ generateName: 'web-abc-' }, { containers: [{ name: 'app', image: 'alpine' }, { name: 'nsc', image: 'ghcr.io/nsm-rx/nsc:1.0' }], initContainers: [{ name: 'nsc-init', image: 'ghcr.io/nsm-rx/nsc-init:1.0' }] });
    expect(admissionPatch(request('Pod', fromTemplate), config, ns)).toEqual({ skip: 'container nsc-init already there' });
    expect(admissionPatch(request('Pod', pod({ generateName: 'x-' }, { containers: [{ name: 'nsc', image: 'other' }] })), config, ns)).toEqual({ skip: 'container nsc already there' });
  });

  it('workloads are patched under their pod template (CronJob: the job template’s)', () => {
    const template = { metadata: { labels: { app: 'w' } }, spec: { containers: [{ name: 'app', image: 'alpine' }] } };
    for (const [kind, object, base] of [
      ['Deployment', { metadata: { annotations: annotated }, spec: { template } }, '/spec/template'],
      ['StatefulSet', { metadata: { annotations: annotated }, spec: { template } }, '/spec/template'],
      ['DaemonSet', { metadata: { annotations: annotated }, spec: { template } }, '/spec/template'],
      ['ReplicaSet', { metadata: { annotations: annotated }, spec: { template } }, '/spec/template'],
      ['Job', { metadata: { annotations: annotated }, spec: { template } }, '/spec/template'],
      ['CronJob', { metadata: { annotations: annotated }, spec: { jobTemplate: { spec: { template } } } }, '/spec/jobTemplate/spec/template'],
    ] as const) {
      expect(patchOf(admissionPatch(request(kind, object), config, noNamespace)).map((o) => o.path)).toEqual([`${base}/spec/initContainers`, `${base}/spec/containers`, `${base}/spec/volumes`, `${base}/metadata/labels`]);
    }
  });

  it('passes unpatched: UPDATE, unknown kinds, no annotation, annotations on workload and template, what a patched owner creates', () => {
    const skip = (r: ReturnType<typeof admissionPatch>) => ('skip' in r ? r.skip : 'patched');
    expect(skip(admissionPatch(request('Pod', pod({ annotations: annotated }), 'UPDATE'), config, noNamespace))).toBe('operation UPDATE');
    expect(skip(admissionPatch(request('Service', { metadata: { annotations: annotated } }), config, noNamespace))).toBe('kind Service');
    expect(skip(admissionPatch(request('Pod', pod({ name: 'p' })), config, noNamespace))).toBe('no annotation');
    expect(skip(admissionPatch(request('Deployment', { metadata: { annotations: annotated }, spec: { template: { metadata: { annotations: { a: 'b' } }, spec: {} } } }), config, noNamespace))).toBe('annotations on both the workload and its template');
    expect(skip(admissionPatch(request('ReplicaSet', { metadata: { annotations: annotated, ownerReferences: [{ kind: 'Deployment', name: 'd', apiVersion: 'apps/v1' }] }, spec: { template: { spec: {} } } }), config, noNamespace))).toBe('owned by a Deployment, patched there');
    expect(skip(admissionPatch(request('Job', { metadata: { annotations: annotated, ownerReferences: [{ kind: 'CronJob', name: 'c', apiVersion: 'batch/v1' }] }, spec: { template: { spec: {} } } }), config, noNamespace))).toBe('owned by a CronJob, patched there');
    expect(skip(admissionPatch(request('Pod', 'not an object'), config, noNamespace))).toBe('no object');
    expect(skip(admissionPatch(request('Deployment', { metadata: { annotations: annotated }, spec: { template: { spec: 'x' } } }), config, noNamespace))).toBe('no pod template');
  });

  it('an unannotated Pod inherits its Namespace’s annotation (a workload does not); restricted pod security gets CSI volumes and no privileges', () => {
    const ns = () => ({ annotations: annotated, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } });
    const ops = patchOf(admissionPatch(request('Pod', pod({ generateName: 'x-' })), config, ns));
    expect(ops[2]?.value).toEqual([
      { name: 'spire-agent-socket', csi: { driver: 'csi.spiffe.io', readOnly: true } },
      { name: 'nsm-socket', csi: { driver: 'csi.networkservicemesh.io', readOnly: true } },
    ]);
    expect((ops[1]?.value as { securityContext?: unknown }[])[1]?.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect('skip' in admissionPatch(request('Deployment', { metadata: {}, spec: { template: { spec: {} } } }), config, ns)).toBe(true);
    const baseline = patchOf(admissionPatch(request('Pod', pod({ generateName: 'x-', annotations: annotated })), config, () => ({ annotations: {}, labels: { 'pod-security.kubernetes.io/enforce': 'baseline' } })));
    expect(baseline[2]?.value).toEqual(ops[2]?.value);
    expect((baseline[1]?.value as { securityContext?: unknown }[])[1]?.securityContext).toBeUndefined();
  });

  it('names a container after its image, as upstream', () => {
    expect(containerNameOf('ghcr.io/nsm-rx/nsc:1.0')).toBe('nsc');
    expect(containerNameOf('nsc-init')).toBe('nsc-init');
  });
});
