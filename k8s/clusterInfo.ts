import { combineLatest, distinctUntilChanged, map, type Observable } from 'rxjs';
import type { Informers } from './informers.js';
import { clusterProperties, configMaps, type KubeObject } from './resource.js';
import { formatStringMap, parseStringMap } from './yamlMap.js';

export interface ClusterInfoTarget {
  readonly namespace: string;
  readonly name: string;
  /** NSM_FILE_NAME: the ConfigMap key holding the YAML map. */
  readonly key: string;
  /** NSM_TRANSLATION_MAP: ClusterProperty name → key written (others keep their name). */
  readonly translation: Readonly<Record<string, string>>;
}

/** The ClusterProperties as `key: value`, renamed through the translation map. */
export function clusterPropertiesMap(properties: Iterable<KubeObject>, translation: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of properties) {
    const value = (p['spec'] as { value?: unknown } | undefined)?.value;
    const name = p.metadata.name ?? '';
    if (typeof value === 'string' && name !== '') out[translation[name] ?? name] = value;
  }
  return out;
}

/**
 * What cluster-info-k8s writes (upstream cmd-cluster-info-k8s): the ClusterProperty
 * (about.k8s.io) values, renamed, soft-merged over what the ConfigMap's file already holds —
 * keys are added or changed, never deleted. Emits the file's text when it changes.
 *
 * ```
 * properties: a----b-----
 * configMap:  x--y-------
 * text:       m--n-o-----   (each the merge of the latest two, when it differs)
 * ```
 */
export function clusterInfo(informers: Informers, target: ClusterInfoTarget, warn: (msg: string, fields: Record<string, unknown>) => void): Observable<string> {
  const properties$ = informers.view<KubeObject>(clusterProperties).pipe(map((v) => clusterPropertiesMap(v.items.values(), target.translation)));
  const current$ = informers.view<KubeObject>(configMaps, { namespace: target.namespace, fieldSelector: `metadata.name=${target.name}` }).pipe(
    map((v) => {
      const text = ((v.items.values().next().value as KubeObject | undefined)?.['data'] as Record<string, string> | undefined)?.[target.key] ?? '';
      try {
        return parseStringMap(text);
      } catch (e) {
        warn('the cluster-info file is not a YAML map: writing the properties over it', { configMap: `${target.namespace}/${target.name}`, key: target.key, why: (e as Error).message });
        return {};
      }
    }),
  );
  return combineLatest([properties$, current$]).pipe(
    map(([properties, current]) => formatStringMap({ ...current, ...properties })),
    distinctUntilChanged(),
  );
}
