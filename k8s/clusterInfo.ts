import { map, type Observable } from 'rxjs';
import type { DesiredText } from './configMapKey.js';
import type { Informers } from './informers.js';
import { clusterProperties, type KubeObject } from './resource.js';
import { formatStringMap, parseStringMap } from '../streams/yamlMap.js';

/** NSM_TRANSLATION_MAP: ClusterProperty name → key written (others keep their name). */
export type Translation = Readonly<Record<string, string>>;

/** The ClusterProperties as `key: value`, renamed through the translation map. */
export function clusterPropertiesMap(properties: Iterable<KubeObject>, translation: Translation): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of properties) {
    const value = (p['spec'] as { value?: unknown } | undefined)?.value;
    const name = p.metadata.name ?? '';
    if (typeof value === 'string' && name !== '') out[translation[name] ?? name] = value;
  }
  return out;
}

/**
 * Upstream's soft update: the file's map with the properties set over it, or undefined when
 * every property already holds its value (no write). Keys are never deleted; a file that is
 * not a YAML map is written over, with a warning.
 */
export function softMerge(current: string | undefined, properties: Readonly<Record<string, string>>, warn: (msg: string, fields: Record<string, unknown>) => void): string | undefined {
  let values: Record<string, string> = {};
  try {
    values = parseStringMap(current ?? '');
  } catch (e) {
    warn('the cluster-info file is not a YAML map: writing the properties over it', { why: (e as Error).message });
  }
  if (Object.entries(properties).every(([k, v]) => values[k] === v)) return undefined;
  return formatStringMap({ ...values, ...properties });
}

/**
 * What cluster-info-k8s writes (upstream cmd-cluster-info-k8s, which lists every second): the
 * ClusterProperty (about.k8s.io) values from their informer, renamed, soft-merged over the
 * ConfigMap's file (see softMerge); for keepConfigMapKey.
 */
export function clusterInfo(informers: Informers, translation: Translation, warn: (msg: string, fields: Record<string, unknown>) => void): Observable<DesiredText> {
  return informers.view<KubeObject>(clusterProperties).pipe(
    map((v) => clusterPropertiesMap(v.items.values(), translation)),
    map((properties) => (current: string | undefined) => softMerge(current, properties, warn)),
  );
}
