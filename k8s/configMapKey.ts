import { catchError, combineLatest, concatMap, defer, EMPTY, filter, map, type Observable } from 'rxjs';
import { isStatus, type KubeClient } from './client.js';
import type { Informers } from './informers.js';
import { configMaps, type KubeObject } from './resource.js';

export interface ConfigMapKey {
  readonly namespace: string;
  readonly name: string;
  readonly key: string;
}

/**
 * Keeps `data[key]` of a ConfigMap at the latest text of `desired$`: it writes when the text
 * changes and when someone else edits or deletes the map (the informer shows it), creating the
 * map when missing. A failed write is reported and retried at the next change. Runs while
 * subscribed; emits nothing.
 *
 * ```
 * desired$:  a-------b----
 * configMap: -x--y-------- (y: an external edit)
 * writes:    -a--a---b----
 * ```
 */
export function keepConfigMapKey(client: KubeClient, informers: Informers, target: ConfigMapKey, desired$: Observable<string>, onError: (e: Error) => void): Observable<never> {
  const current$ = informers.view<KubeObject>(configMaps, { namespace: target.namespace, fieldSelector: `metadata.name=${target.name}` }).pipe(map((v) => v.items.values().next().value as KubeObject | undefined));
  return combineLatest([desired$, current$]).pipe(
    filter(([text, cm]) => (cm?.['data'] as Record<string, string> | undefined)?.[target.key] !== text),
    concatMap(([text, cm]) =>
      defer(() =>
        cm === undefined
          ? client.create(configMaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: target.name, namespace: target.namespace }, data: { [target.key]: text } })
          : client.patch(configMaps, target.namespace, target.name, { data: { [target.key]: text } }),
      ).pipe(
        catchError((e: unknown) => {
          // Created meanwhile by someone else: the informer shows it and the patch follows.
          if (!isStatus(e, 409)) onError(e as Error);
          return EMPTY;
        }),
      ),
    ),
    filter((): false => false),
  ) as Observable<never>;
}
