import { status } from '../core/status.js';
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../k8s/client.js';
import { Informers } from '../../k8s/informers.js';
import { NetworkServiceEndpoint, NetworkServiceEndpointQuery, type NetworkServiceEndpointResponse } from '../../proto/gen/registry.js';
import { k8sUnavailable, startApiServer, type ApiServer } from '../../test/k8s/apiserver.js';
import { installRegistryCrds } from '../../test/k8s/registryCrds.js';
import { k8sRegistry, type K8sRegistry } from '../chains/registryK8s.js';
import { Context } from '../core/context.js';
import { createLogger } from '../tools/log.js';
import { unsignedTokenGenerator } from '../tools/token.js';

const namespace = 'nsm-system';
const ctx = () => Context.background.withDeadline(Date.now() + 10_000);
const token = unsignedTokenGenerator('spiffe://nsm.local/registry', 3_600_000, () => Date.now());

describe.skipIf(k8sUnavailable() !== undefined)('registry-k8s custom resources on a real kube-apiserver', () => {
  let api: ApiServer;
  let client: KubeClient;
  let registry: K8sRegistry;
  const warnings: string[] = [];
  beforeAll(async () => {
    api = await startApiServer();
    installRegistryCrds(api, namespace);
    api.kubectl(['create', 'namespace', 'elsewhere']);
    client = KubeClient.load(api.kubeconfig);
    const log = createLogger('registry-k8s', 'WARN', { write: (line: string) => warnings.push(line) });
    registry = k8sRegistry({ client, informers: new Informers(client, { backoff: { initial: 100, max: 500 } }), namespace, token, log });
  });
  afterAll(async () => {
    registry?.dispose();
    client?.close();
    await api?.stop();
  });
  const find = (query: Partial<NetworkServiceEndpoint>) => lastValueFrom(registry.nse.find(NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: query }), ctx()).pipe(toArray()));
  const getJson = (ns: string, kind: string, name: string) => JSON.parse(api.kubectl(['get', '-n', ns, kind, name, '-o', 'json'])) as { spec: Record<string, unknown>; metadata: { resourceVersion: string } };

  it('writes upstream’s layout: snake_case spec, {seconds, nanos} timestamps, the object named after the NSE in NSM_NAMESPACE', async () => {
    const stored = await firstValueFrom(registry.nse.register(NetworkServiceEndpoint.fromPartial({ name: 'layout-1', networkServiceNames: ['svc'], networkServiceLabels: { svc: { labels: { app: 'a' } } }, url: 'tcp://10.0.0.1:5001' }), ctx()));
    const { spec } = getJson(namespace, 'nse', 'layout-1');
    expect(spec).toMatchObject({ name: 'layout-1', network_service_names: ['svc'], network_service_labels: { svc: { labels: { app: 'a' } } }, url: 'tcp://10.0.0.1:5001' });
    // nanos is left out when 0, as upstream's omitempty does: one expiry in a thousand falls on a whole second.
    const nanos = stored.expirationTime?.nanos ?? 0;
    expect(spec['expiration_time']).toEqual({ seconds: stored.expirationTime?.seconds, ...(nanos === 0 ? {} : { nanos }) });
    expect(Object.keys(spec).every((k) => /^[a-z_]+$/.test(k))).toBe(true);
    // Registered again (a refresh): the same object, its spec replaced.
    const before = getJson(namespace, 'nse', 'layout-1').metadata.resourceVersion;
    await firstValueFrom(registry.nse.register(NetworkServiceEndpoint.fromPartial({ ...stored, url: 'tcp://10.0.0.2:5001' }), ctx()));
    const after = getJson(namespace, 'nse', 'layout-1');
    expect(after.spec['url']).toBe('tcp://10.0.0.2:5001');
    expect(after.metadata.resourceVersion).not.toBe(before);
  });

  it('finds what upstream’s registry-k8s wrote, in any namespace, and a watcher hears kubectl’s edits', async () => {
    const seen: NetworkServiceEndpointResponse[] = [];
    const sub = registry.nse.find(NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: { name: 'upstream-1' }, watch: true }), Context.background).subscribe((r) => seen.push(r));
    try {
      const expiry = Math.floor(Date.now() / 1000) + 600;
      const cr = (url: string) =>
        JSON.stringify({
          apiVersion: 'networkservicemesh.io/v1',
          kind: 'NetworkServiceEndpoint',
          metadata: { name: 'upstream-1', namespace: 'elsewhere' },
          spec: { name: 'upstream-1', network_service_names: ['icmp'], network_service_labels: { icmp: { labels: { nodeName: 'n1' } } }, url, expiration_time: { seconds: expiry, nanos: 5 }, initial_registration_time: { seconds: expiry - 600 } },
        });
      api.kubectl(['apply', '-f', '-'], cr('tcp://10.1.0.1:5001'));
      await expect.poll(() => seen.length).toBe(1);
      expect(seen[0]?.networkServiceEndpoint).toMatchObject({ name: 'upstream-1', networkServiceNames: ['icmp'], networkServiceLabels: { icmp: { labels: { nodeName: 'n1' } } }, url: 'tcp://10.1.0.1:5001', expirationTime: { seconds: expiry, nanos: 5 }, initialRegistrationTime: { seconds: expiry - 600, nanos: 0 } });
      api.kubectl(['apply', '-f', '-'], cr('tcp://10.1.0.2:5001'));
      api.kubectl(['delete', '-n', 'elsewhere', 'nse', 'upstream-1']);
      await expect.poll(() => seen.map((r) => `${r.deleted ? '-' : ''}${r.networkServiceEndpoint?.url}`)).toEqual(['tcp://10.1.0.1:5001', 'tcp://10.1.0.2:5001', '-tcp://10.1.0.2:5001']);
    } finally {
      sub.unsubscribe();
    }
  });

  it('a name Kubernetes refuses is INVALID_ARGUMENT naming the rule; nothing is written', async () => {
    const err = await firstValueFrom(registry.nse.register(NetworkServiceEndpoint.fromPartial({ name: 'NSE_Upper', networkServiceNames: ['svc'], url: 'tcp://10.0.0.1:1' }), ctx())).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect((err as Error).message).toMatch(/NetworkServiceEndpoint name "NSE_Upper" is refused by Kubernetes as a resource name: it must be a lowercase RFC 1123 subdomain/);
    expect(api.kubectl(['get', 'nse', '-A', '-o', 'name'])).not.toMatch(/upper/i);
  });

  it('a malformed resource written by someone else is skipped with a warning; Find still answers with the rest', async () => {
    api.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'networkservicemesh.io/v1', kind: 'NetworkServiceEndpoint', metadata: { name: 'broken', namespace }, spec: { network_service_names: 'not-a-list', url: 7 } }));
    await firstValueFrom(registry.nse.register(NetworkServiceEndpoint.fromPartial({ name: 'healthy', networkServiceNames: ['svc'], url: 'tcp://10.0.0.3:1' }), ctx()));
    const names = (await find({})).map((r) => r.networkServiceEndpoint?.name);
    expect(names).toContain('healthy');
    expect(names).not.toContain('broken');
    expect(warnings.join('\n')).toMatch(/skipping a malformed NetworkServiceEndpoint resource.*nsm-system\/broken.*spec.network_service_names/);
  });

  it('an expired NSE left by a registry that died is not found, and its resource is deleted', async () => {
    const past = Math.floor(Date.now() / 1000) - 10;
    api.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'networkservicemesh.io/v1', kind: 'NetworkServiceEndpoint', metadata: { name: 'stale', namespace }, spec: { name: 'stale', network_service_names: ['svc'], url: 'tcp://10.0.0.4:1', expiration_time: { seconds: past } } }));
    // Each Find skips it; one that sees it in the informer deletes it.
    await expect
      .poll(async () => {
        expect(await find({ name: 'stale' })).toEqual([]);
        return api.kubectl(['get', '-n', namespace, 'nse', '-o', 'name']);
      })
      .not.toMatch(/stale/);
  });

  it('RBAC forbidden: PERMISSION_DENIED naming the verb and the resource', async () => {
    const nobody = KubeClient.load(api.kubeconfigFor('nobody'));
    const denied = k8sRegistry({ client: nobody, informers: new Informers(nobody), namespace, token });
    try {
      const err = await firstValueFrom(denied.nse.register(NetworkServiceEndpoint.fromPartial({ name: 'denied', networkServiceNames: ['svc'], url: 'tcp://10.0.0.5:1' }), ctx())).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: status.PERMISSION_DENIED });
      expect((err as Error).message).toMatch(/^cannot create networkserviceendpoints\.networkservicemesh\.io in namespace nsm-system: .*"nobody" cannot create resource "networkserviceendpoints"/);
    } finally {
      denied.dispose();
      nobody.close();
    }
  });

  it('a watching Find goes on through an apiserver restart', async () => {
    const seen: string[] = [];
    const sub = registry.nse.find(NetworkServiceEndpointQuery.fromPartial({ networkServiceEndpoint: { networkServiceNames: ['restart'] }, watch: true }), Context.background).subscribe((r) => seen.push(r.networkServiceEndpoint?.name ?? ''));
    try {
      await firstValueFrom(registry.nse.register(NetworkServiceEndpoint.fromPartial({ name: 'before', networkServiceNames: ['restart'], url: 'tcp://10.0.0.6:1' }), ctx()));
      await expect.poll(() => seen).toEqual(['before']);
      await api.stopApiServer();
      const err = await firstValueFrom(registry.nse.register(NetworkServiceEndpoint.fromPartial({ name: 'during', networkServiceNames: ['restart'], url: 'tcp://10.0.0.6:2' }), ctx())).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: status.UNAVAILABLE });
      await api.startApiServer();
      await firstValueFrom(registry.nse.register(NetworkServiceEndpoint.fromPartial({ name: 'after', networkServiceNames: ['restart'], url: 'tcp://10.0.0.6:3' }), ctx()));
      await expect.poll(() => seen, { timeout: 10_000 }).toEqual(['before', 'after']);
    } finally {
      sub.unsubscribe();
    }
  });
});
