import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { loadAll } from 'js-yaml';
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
  env?: { name: string }[];
}
interface Rendered {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: { template?: { spec: { containers: Container[]; initContainers?: Container[] } } };
}

/** Images of workloads users bring (the example's client), not nsm-rx's. */
const workloadImages = new Set(['alpine:3.20']);

describe.skipIf(k8sUnavailable() !== undefined)('deploy/: every kustomization against a real kube-apiserver', () => {
  let api: ApiServer;
  beforeAll(async () => {
    api = await startApiServer();
  });
  afterAll(() => api?.stop());
  const dirs = kustomizations();
  /** The objects `kubectl kustomize` renders. */
  const objects = (dir: string): Rendered[] => loadAll(api.kubectl(['kustomize', dir])).filter((o): o is Rendered => typeof o === 'object' && o !== null);

  it('finds the bases and examples', () => {
    expect(dirs.map((d) => relative(deploy, d)).sort()).toEqual(
      expect.arrayContaining(['apps/admission-webhook-k8s', 'apps/cluster-info', 'apps/forwarder-kernel', 'apps/identity', 'apps/nsmgr', 'apps/registry-k8s', 'apps/registry-memory', 'examples/basic', 'examples/icmp-responder', 'examples/memory']),
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

  it('every container runs an nsm-rx component image (ghcr.io/nsm-rx/<component>) and sets only NSM_* variables that component reads', async () => {
    for (const dir of dirs) {
      for (const o of objects(dir)) {
        const pod = o.spec?.template?.spec;
        for (const c of [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])]) {
          if (workloadImages.has(c.image)) continue;
          const component = /^ghcr\.io\/nsm-rx\/([a-z0-9-]+):[\w.-]+$/.exec(c.image)?.[1];
          expect({ image: c.image, component: component !== undefined && Object.hasOwn(components, component) }).toEqual({ image: c.image, component: true });
          const spec = { ...commonSpec, ...(await (components[component as string] as (typeof components)[string]).load()).spec };
          const declared = new Set(Object.values(spec).map((v) => v.env));
          const unknown = (c.env ?? []).map((e) => e.name).filter((n) => n.startsWith('NSM_') && !declared.has(n));
          expect({ where: `${relative(deploy, dir)} ${o.kind}/${o.metadata.name} ${c.name}`, unknown }).toEqual({ where: `${relative(deploy, dir)} ${o.kind}/${o.metadata.name} ${c.name}`, unknown: [] });
        }
      }
    }
  });
});
