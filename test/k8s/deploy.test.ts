import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { components } from '../../nodes/cli/components.js';
import { commonSpec } from '../../nodes/cli/config.js';
import { inCheckout } from '../process/processMesh.js';
import { k8sUnavailable, startApiServer, type ApiServer } from './apiserver.js';

const deploy = inCheckout('deploy');

/** Every folder of deploy/ holding a kustomization. */
function kustomizations(dir = deploy): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return kustomizations(path);
    return name === 'kustomization.yaml' ? [dir] : [];
  });
}

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
}
interface Rendered {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: { template?: { spec: { containers: Container[]; initContainers?: Container[] } } };
}

/** Images of workloads users bring (the example's client), not nsm-rx's. */
const workloadImages = new Set(['alpine:3.20']);

/** The component an nsm-rx image runs (deploy/Dockerfile: `nsm-rx <COMPONENT>`), or undefined. */
const componentOf = (image: string): string | undefined => /^ghcr\.io\/nsm-rx\/([a-z0-9-]+):[\w.-]+$/.exec(image)?.[1];

/** Variables whose value is a list of images the component starts (the webhook's injected containers). */
const imageListVariables = new Set(['NSM_CONTAINER_IMAGES', 'NSM_INIT_CONTAINER_IMAGES']);

/**
 * What each ServiceAccount must be allowed, from what its component does (the calls of
 * k8s/informers, k8s/configMapKey, k8s/registryResources, k8s/admission/selfRegister):
 * [verb, resource, namespace or '' for all namespaces / cluster-scoped].
 */
const needs: Record<string, [string, string, string][]> = {
  'registry-k8s-sa': [
    ...['list', 'watch'].flatMap((v) => ['networkservices.networkservicemesh.io', 'networkserviceendpoints.networkservicemesh.io'].map((r): [string, string, string] => [v, r, ''])),
    ...['get', 'create', 'update', 'delete'].flatMap((v) => ['networkservices.networkservicemesh.io', 'networkserviceendpoints.networkservicemesh.io'].map((r): [string, string, string] => [v, r, 'nsm-system'])),
  ],
  // exclude-prefixes-k8s, the nsmgr pod's sidecar: Nodes, every Service, kube-system/kubeadm-config, the user ConfigMap.
  'nsmgr-sa': [...['list', 'watch'].flatMap((v) => ['nodes', 'services', 'configmaps'].map((r): [string, string, string] => [v, r, ''])), ['patch', 'configmaps', 'nsm-system']],
  'admission-webhook-sa': [['create', 'mutatingwebhookconfigurations.admissionregistration.k8s.io', ''], ['delete', 'mutatingwebhookconfigurations.admissionregistration.k8s.io', ''], ['list', 'namespaces', ''], ['watch', 'namespaces', '']],
  // map-ip-k8s, the nsmgr-proxy pod's sidecar: every Node, NSM_FROM_CONFIG_MAP in its namespace.
  'nsmgr-proxy-sa': [['list', 'nodes', ''], ['watch', 'nodes', ''], ['list', 'configmaps', 'nsm-system'], ['watch', 'configmaps', 'nsm-system']],
  'cluster-info-sa': [['list', 'clusterproperties.about.k8s.io', ''], ['watch', 'clusterproperties.about.k8s.io', ''], ['list', 'configmaps', 'nsm-system'], ['watch', 'configmaps', 'nsm-system'], ['create', 'configmaps', 'nsm-system'], ['patch', 'configmaps', 'nsm-system']],
};
const rbacKinds = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);

describe.skipIf(k8sUnavailable() !== undefined)('deploy/: every kustomization against a real kube-apiserver', () => {
  let api: ApiServer;
  beforeAll(async () => {
    api = await startApiServer();
  });
  afterAll(() => api?.stop());
  const dirs = kustomizations();
  const rendered = new Map<string, Rendered[]>();
  /** The objects `kubectl kustomize` renders (once per folder). */
  const objects = (dir: string): Rendered[] => {
    const known = rendered.get(dir);
    if (known !== undefined) return known;
    const out = parseAllDocuments(api.kubectl(['kustomize', dir])).map((d) => d.toJS() as unknown).filter((o): o is Rendered => typeof o === 'object' && o !== null);
    rendered.set(dir, out);
    return out;
  };

  it('finds the bases and examples', () => {
    expect(dirs.map((d) => relative(deploy, d)).sort()).toEqual(
      expect.arrayContaining(['apps/admission-webhook-k8s', 'apps/cluster-info', 'apps/forwarder-kernel', 'apps/identity', 'apps/nsmgr', 'apps/registry-k8s', 'apps/registry-memory', 'apps/registry-proxy-dns', 'apps/nsmgr-proxy', 'examples/basic', 'examples/interdomain', 'examples/icmp-responder', 'examples/memory', 'examples/vl3-basic']),
    );
  });

  it('the apiserver accepts every object of every kustomization (server-side dry run)', () => {
    // A dry run creates nothing: what others depend on — namespaces and CRDs — goes in first for real.
    const all = dirs.flatMap(objects);
    for (const o of all.filter((x) => x.kind === 'Namespace' || x.kind === 'CustomResourceDefinition')) api.kubectl(['apply', '-f', '-'], JSON.stringify(o));
    api.kubectl(['wait', '--for=condition=established', '--timeout=30s', 'crd', '--all']);
    for (const dir of dirs) {
      const out = api.kubectl(['apply', '--dry-run=server', '-k', dir]);
      const accepted = out.split('\n').filter((l) => /\((server dry run)\)$/.test(l));
      expect({ dir: relative(deploy, dir), accepted: accepted.length }).toEqual({ dir: relative(deploy, dir), accepted: objects(dir).length });
    }
  });

  /** Every container of every rendered workload, with where it is. */
  const containers = (): { where: string; c: Container }[] =>
    dirs.flatMap((dir) =>
      objects(dir).flatMap((o) => {
        const pod = o.spec?.template?.spec;
        return [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])].map((c) => ({ where: `${relative(deploy, dir)} ${o.kind}/${o.metadata.name} ${c.name}`, c }));
      }),
    );

  it('every container runs an existing component: its image is ghcr.io/nsm-rx/<component> and no command or args replace `nsm-rx <component>`', () => {
    const checked = containers().filter(({ c }) => !workloadImages.has(c.image));
    expect(checked.length).toBeGreaterThan(8);
    for (const { where, c } of checked) {
      const component = componentOf(c.image);
      expect({ where, image: c.image, component: component !== undefined && Object.hasOwn(components, component), command: c.command, args: c.args }).toEqual({ where, image: c.image, component: true, command: undefined, args: undefined });
      // Images the component itself starts (the webhook's injected nsc and nsc-init) are components too.
      for (const e of c.env ?? []) {
        if (!imageListVariables.has(e.name)) continue;
        for (const image of (e.value ?? '').split(',')) expect({ where, variable: e.name, image, component: Object.hasOwn(components, componentOf(image) ?? '') }).toEqual({ where, variable: e.name, image, component: true });
      }
    }
  });

  it('every NSM_* variable a container sets is one its component reads', async () => {
    for (const { where, c } of containers()) {
      const component = componentOf(c.image);
      if (component === undefined || !Object.hasOwn(components, component)) continue; // the test above fails for it
      const spec = { ...commonSpec, ...(await (components[component] as (typeof components)[string]).load()).spec };
      const declared = new Set(Object.values(spec).map((v) => v.env));
      const unknown = (c.env ?? []).map((e) => e.name).filter((n) => n.startsWith('NSM_') && !declared.has(n));
      expect({ where, unknown }).toEqual({ where, unknown: [] });
    }
  });

  it('deploy/README builds the image of every component the manifests run', () => {
    const built = /for c in ([a-z0-9 -]+); do/.exec(readFileSync(join(deploy, 'README.md'), 'utf8'))?.[1]?.split(' ') ?? [];
    const run = new Set(containers().flatMap(({ c }) => [c.image, ...(c.env ?? []).filter((e) => imageListVariables.has(e.name)).flatMap((e) => (e.value ?? '').split(','))]).map(componentOf).filter((x) => x !== undefined));
    expect([...run].filter((c) => !built.includes(c))).toEqual([]);
  });

  it('each ServiceAccount may do what its component does, once the RBAC objects are applied in nsm-system', () => {
    api.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'nsm-system' } }));
    const rbac = dirs.flatMap(objects).filter((o) => rbacKinds.has(o.kind));
    for (const o of rbac) api.kubectl(['apply', '-n', 'nsm-system', '-f', '-'], JSON.stringify(o));
    const can = (sa: string, verb: string, resource: string, ns: string): boolean => {
      const scope = ns === '' ? ['--all-namespaces'] : ['-n', ns];
      try {
        return api.kubectl(['auth', 'can-i', verb, resource, ...scope, `--as=system:serviceaccount:nsm-system:${sa}`]).trim() === 'yes';
      } catch {
        return false; // `no` exits 1
      }
    };
    expect(Object.keys(needs).filter((sa) => !rbac.some((o) => o.kind === 'ServiceAccount' && o.metadata.name === sa))).toEqual([]);
    const denied = Object.entries(needs).flatMap(([sa, list]) => list.filter(([verb, resource, ns]) => !can(sa, verb, resource, ns)).map((n) => `${sa}: ${n.join(' ')}`));
    expect(denied).toEqual([]);
    // and no more than that: a ServiceAccount is not an admin.
    expect(can('nsmgr-sa', 'delete', 'nodes', '')).toBe(false);
    expect(can('registry-k8s-sa', 'list', 'secrets', '')).toBe(false);
  });
});
