import { firstValueFrom, filter, type Observable, type Subscription } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { k8sUnavailable, startApiServer, type ApiServer } from '../test/k8s/apiserver.js';
import { KubeClient } from './client.js';
import type { InformerView } from './informer.js';
import { Informers } from './informers.js';
import { configMaps, type KubeObject } from './resource.js';

/** Waits until the view satisfies `ok` (the informer is a live stream: later views replace earlier ones). */
function until<T>(view$: Observable<InformerView<T>>, ok: (v: InformerView<T>) => boolean): Promise<InformerView<T>> {
  return firstValueFrom(view$.pipe(filter(ok)));
}
const names = (v: InformerView<KubeObject>) => [...v.items.values()].map((o) => o.metadata.name).sort();
const configMap = (ns: string, name: string, data: Record<string, string> = {}) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data });

describe.skipIf(k8sUnavailable() !== undefined)('informers against a real kube-apiserver', () => {
  let api: ApiServer;
  beforeAll(async () => {
    // Without the watch cache, watches read etcd directly: a compacted resourceVersion gives 410.
    api = await startApiServer({ flags: ['--watch-cache=false'] });
  });
  afterAll(() => api?.stop());

  let n = 0;
  const namespace = () => {
    const ns = `informer-${++n}`;
    api.kubectl(['create', 'namespace', ns]);
    return ns;
  };

  it('lists, then follows creates, updates and deletes; one list+watch per kind and selector, shared', async () => {
    const ns = namespace();
    api.kubectl(['apply', '-f', '-'], configMap(ns, 'a'));
    const client = KubeClient.load(api.kubeconfig);
    const informers = new Informers(client);
    const view$ = informers.view<KubeObject>(configMaps, { namespace: ns });
    expect(informers.view(configMaps, { namespace: ns })).toBe(view$);
    const seen: InformerView<KubeObject>[] = [];
    const sub = view$.subscribe((v) => seen.push(v));
    try {
      expect(names(await until(view$, (v) => v.items.size > 0))).toEqual(['a']);
      api.kubectl(['apply', '-f', '-'], configMap(ns, 'b'));
      await until(view$, (v) => v.items.has(`${ns}/b`));
      api.kubectl(['apply', '-f', '-'], configMap(ns, 'a', { k: 'v' }));
      const updated = await until(view$, (v) => (v.items.get(`${ns}/a`)?.['data'] as Record<string, string> | undefined)?.['k'] === 'v');
      expect(updated.changes.map((c) => c.type)).toEqual(['MODIFIED']);
      api.kubectl(['delete', 'configmap', '-n', ns, 'b']);
      const deleted = await until(view$, (v) => !v.items.has(`${ns}/b`));
      expect(deleted.changes.map((c) => `${c.type} ${c.object.metadata.name}`)).toEqual(['DELETED b']);
      // A late reader gets the current view at once.
      expect(names(await firstValueFrom(view$))).toEqual(['a']);
      expect(seen[0]?.changes.every((c) => c.type === 'ADDED')).toBe(true);
    } finally {
      sub.unsubscribe();
      client.close();
    }
  });

  it('relists after the resourceVersion it resumes from was compacted away (410 Gone), and misses nothing', async () => {
    const ns = namespace();
    const quiet = namespace();
    api.kubectl(['apply', '-f', '-'], configMap(ns, 'a'));
    const client = KubeClient.load(api.kubeconfig);
    const retries: string[] = [];
    // The server ends each watch after 1 s: the informer reopens it from the last resourceVersion it saw.
    const informers = new Informers(client, { watchTimeoutSeconds: 1, onRetry: (e) => retries.push((e as Error).message) });
    const view$ = informers.view<KubeObject>(configMaps, { namespace: ns });
    const sub: Subscription = view$.subscribe();
    try {
      await until(view$, (v) => v.items.has(`${ns}/a`));
      // Writes elsewhere move etcd's revision on; compaction drops the one this informer holds.
      for (let i = 0; i < 5; i++) api.kubectl(['apply', '-f', '-'], configMap(quiet, `x${i}`));
      await api.compact();
      await expect.poll(() => retries.some((m) => /too old|expired|410|Gone/i.test(m)), { timeout: 10_000 }).toBe(true);
      api.kubectl(['apply', '-f', '-'], configMap(ns, 'after'));
      expect(names(await until(view$, (v) => v.items.has(`${ns}/after`)))).toContain('a');
    } finally {
      sub.unsubscribe();
      client.close();
    }
  });

  it('waits while the apiserver is down, says why, and picks up afterwards without a restart', async () => {
    const ns = namespace();
    const client = KubeClient.load(api.kubeconfig);
    const retries: string[] = [];
    const informers = new Informers(client, { backoff: { initial: 100, max: 500 }, onRetry: (e) => retries.push((e as Error).message) });
    const view$ = informers.view<KubeObject>(configMaps, { namespace: ns });
    const sub = view$.subscribe();
    try {
      await firstValueFrom(view$);
      await api.stopApiServer();
      await expect.poll(() => retries.some((m) => m.includes('unreachable')), { timeout: 10_000 }).toBe(true);
      expect(retries.find((m) => m.includes('unreachable'))).toMatch(/^cannot (list|watch) configmaps in namespace informer-\d+: https:\/\/127\.0\.0\.1:\d+ unreachable/);
      await api.startApiServer();
      api.kubectl(['apply', '-f', '-'], configMap(ns, 'back'));
      await until(view$, (v) => v.items.has(`${ns}/back`));
    } finally {
      sub.unsubscribe();
      client.close();
    }
  });

  it('RBAC forbidden: the reason names the verb and the resource', async () => {
    const ns = namespace();
    const client = KubeClient.load(api.kubeconfigFor('nobody'));
    const retries: string[] = [];
    const sub = new Informers(client, { onRetry: (e) => retries.push((e as Error).message) }).view(configMaps, { namespace: ns }).subscribe();
    try {
      await expect.poll(() => retries.length, { timeout: 10_000 }).toBeGreaterThan(0);
      expect(retries[0]).toMatch(new RegExp(`^cannot list configmaps in namespace ${ns}: .*"nobody" cannot list resource "configmaps"`));
    } finally {
      sub.unsubscribe();
      client.close();
    }
  });
});
