import { describe, expect, it } from 'vitest';
import type { InformerView } from './informer.js';
import { marbles } from '../test/marbles.js';
import { configMapPrefixes, formatPrefixes, kubeadmPrefixes, lastReadable, mergedPrefixes, mergePrefixes, nodePrefixes, servicePrefixes } from './excludedPrefixes.js';
import type { KubeObject } from './resource.js';

const view = (...objects: KubeObject[]): InformerView<KubeObject> => ({ items: new Map(objects.map((o, i) => [String(i), o])), changes: [], resourceVersion: '1' });
const warnings: string[] = [];
const warn = (msg: string, fields: Record<string, unknown>) => warnings.push(`${msg} ${JSON.stringify(fields)}`);

describe('excluded prefixes from the cluster', () => {
  it('Nodes’ pod CIDRs (dual stack or the single field), Services’ cluster IPs as host prefixes, headless ones skipped', () => {
    expect(nodePrefixes(view({ metadata: { name: 'a' }, spec: { podCIDR: '10.244.0.0/24', podCIDRs: ['10.244.0.0/24', 'fd00:1::/64'] } }, { metadata: { name: 'b' }, spec: { podCIDR: '10.244.1.0/24' } }, { metadata: { name: 'c' }, spec: {} }), warn)).toEqual(['10.244.0.0/24', 'fd00:1::/64', '10.244.1.0/24']);
    expect(servicePrefixes(view({ metadata: { name: 's' }, spec: { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10', 'fd00:96::a'] } }, { metadata: { name: 'h' }, spec: { clusterIP: 'None' } }), warn)).toEqual(['10.96.0.10/32', 'fd00:96::a/128']);
  });

  it('kubeadm-config’s podSubnet and serviceSubnet (comma lists), nothing without the map', () => {
    const cm = { metadata: { name: 'kubeadm-config' }, data: { ClusterConfiguration: 'apiVersion: kubeadm.k8s.io/v1beta3\nnetworking:\n  dnsDomain: cluster.local\n  podSubnet: 10.244.0.0/16,fd00:10:244::/56\n  serviceSubnet: 10.96.0.0/12\n' } };
    expect(kubeadmPrefixes(cm, warn)).toEqual(['10.244.0.0/16', 'fd00:10:244::/56', '10.96.0.0/12']);
    expect(kubeadmPrefixes(undefined, warn)).toEqual([]);
  });

  it('the user ConfigMap’s `prefixes:`; a value that is not a CIDR is skipped with a warning; unreadable YAML is undefined (kept as before)', () => {
    warnings.length = 0;
    const cm = (text: string) => ({ metadata: { name: 'excluded-prefixes-config', namespace: 'default' }, data: { 'excluded_prefixes_input.yaml': text } });
    expect(configMapPrefixes(cm('prefixes:\n- 172.16.0.0/16\n- not-a-cidr\n- 10.1.1.1\n'), 'excluded_prefixes_input.yaml', warn)).toEqual(['172.16.0.0/16']);
    expect(warnings.join()).toMatch(/not an IP prefix.*not-a-cidr.*not an IP prefix.*10\.1\.1\.1/);
    expect(configMapPrefixes(cm('prefixes:\n\t- x'), 'excluded_prefixes_input.yaml', warn)).toBeUndefined();
    expect(warnings.join()).toMatch(/not readable YAML.*Tabs are not allowed/);
    expect(kubeadmPrefixes({ metadata: { name: 'kubeadm-config' }, data: { ClusterConfiguration: 'networking:\n\tpodSubnet: x' } }, warn)).toBeUndefined();
    expect(configMapPrefixes(cm('prefixes: [10.0.0.0/8]'), 'other-key', warn)).toEqual([]);
    expect(configMapPrefixes(undefined, 'excluded_prefixes_input.yaml', warn)).toEqual([]);
  });

  it('a source’s unreadable list keeps the one before it; a deleted map clears it', () =>
    marbles(({ cold, expectObservable }) => {
      const source = cold<readonly string[] | undefined>('a-x-d', { a: ['10.0.0.0/8'], x: undefined, d: [] });
      expectObservable(source.pipe(lastReadable())).toBe('a-a-d', { a: ['10.0.0.0/8'], d: [] });
    }));

  it('merges as upstream’s prefix pool: contained and adjacent prefixes collapse, IPv4 before IPv6; written as `Prefixes:`', () => {
    const merged = mergePrefixes([['10.96.0.10/32', 'fd00::/64'], ['10.96.0.0/12', '10.244.0.0/24', '10.244.1.0/24'], ['fd00::1/128']]);
    expect(merged).toEqual(['10.96.0.0/12', '10.244.0.0/23', 'fd00::/64']);
    expect(formatPrefixes(merged)).toBe('Prefixes:\n- 10.96.0.0/12\n- 10.244.0.0/23\n- fd00::/64\n');
    expect(formatPrefixes([])).toBe('Prefixes: []\n');
  });

  it('merged stream: nothing until every source has its first list, then the list only when it changes', () =>
    marbles(({ cold, expectObservable }) => {
      const env = cold('e', { e: ['192.168.0.0/16'] });
      // n2 adds a Node CIDR inside the first: the merged list stays the same.
      const nodes = cold('-a---b--', { a: ['10.244.0.0/16'], b: ['10.244.0.0/16', '10.244.3.0/24'] });
      // s2: a relist after a reconnect, the same Services; s3 an adjacent cluster IP.
      const services = cold('--s-s--t', { s: ['10.96.0.10/32'], t: ['10.96.0.10/32', '10.96.0.11/32'] });
      expectObservable(mergedPrefixes([env, nodes, services])).toBe('--p----q', {
        p: ['10.96.0.10/32', '10.244.0.0/16', '192.168.0.0/16'],
        q: ['10.96.0.10/31', '10.244.0.0/16', '192.168.0.0/16'],
      });
    }));
});
