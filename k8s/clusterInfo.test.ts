import { describe, expect, it } from 'vitest';
import { clusterPropertiesMap, softMerge } from './clusterInfo.js';
import type { KubeObject } from './resource.js';

const property = (name: string, value: unknown): KubeObject => ({ metadata: { name }, spec: { value } });
const warnings: string[] = [];
const warn = (msg: string) => warnings.push(msg);

describe('cluster-info', () => {
  it('ClusterProperties renamed through NSM_TRANSLATION_MAP, others keep their name; a property without a string value is left out', () => {
    expect(clusterPropertiesMap([property('id.k8s.io', 'cluster1'), property('clusterset.k8s.io', 'set-a'), property('odd', 5)], { 'id.k8s.io': 'clusterName' })).toEqual({ clusterName: 'cluster1', 'clusterset.k8s.io': 'set-a' });
  });

  it('soft merge as upstream: written only when a property differs, keys never deleted, a broken file written over with a warning', () => {
    expect(softMerge('clusterName: cluster1\nowner: ops\n', { clusterName: 'cluster1' }, warn)).toBeUndefined();
    expect(softMerge('owner:   ops\n', {}, warn)).toBeUndefined();
    expect(softMerge('clusterName: cluster1\nowner: ops\n', { clusterName: 'cluster2' }, warn)).toBe('clusterName: cluster2\nowner: ops\n');
    expect(softMerge(undefined, { clusterName: 'cluster1' }, warn)).toBe('clusterName: cluster1\n');
    expect(softMerge(undefined, {}, warn)).toBeUndefined();
    expect(warnings).toEqual([]);
    expect(softMerge('- a list\n', { clusterName: 'c' }, warn)).toBe('clusterName: c\n');
    expect(warnings.join()).toMatch(/not a YAML map/);
  });
});
