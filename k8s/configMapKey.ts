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
 * What a component wants under the key, given what the key holds now (undefined: the map or
 * the key is missing): the text to write, or undefined to leave the map alone.
 */
export type DesiredText = (current: string | undefined) => string | undefined;

/** The text the map should be set to, and the map as the informer last showed it. */
export interface ConfigMapWrite {
  readonly text: string;
  readonly configMap: KubeObject | undefined;
}

const textOf = (cm: KubeObject | undefined, key: string): string | undefined => (cm?.['data'] as Record<string, string> | undefined)?.[key];

/**
 * The writes that keep `data[key]` where `desired$` wants it: one each time the wish or the
 * map changes (an edit or a deletion by someone else included) and the two disagree.
 *
 * ```
 * desired$:  a-------b----
 * configMap: -x--a--y----- (y: an external edit)
 * writes:    -a-----a-b---
 * ```
 */
export function configMapKeyWrites(desired$: Observable<DesiredText>, configMap$: Observable<KubeObject | undefined>, key: string): Observable<ConfigMapWrite> {
  return combineLatest([desired$, configMap$]).pipe(
    map(([desired, configMap]) => ({ text: desired(textOf(configMap, key)), configMap, current: textOf(configMap, key) })),
    filter((w): w is { text: string; configMap: KubeObject | undefined; current: string | undefined } => w.text !== undefined && w.text !== w.current),
    map(({ text, configMap }) => ({ text, configMap })),
  );
}

/**
 * Keeps `data[key]` of a ConfigMap where `desired$` wants it (see configMapKeyWrites), through
 * the informer's view of that one map, creating the map when missing. A failed write is
 * reported and retried at the next change. Runs while subscribed; emits nothing.
 */
export function keepConfigMapKey(client: KubeClient, informers: Informers, target: ConfigMapKey, desired$: Observable<DesiredText>, onError: (e: Error) => void): Observable<never> {
  const configMap$ = informers.view<KubeObject>(configMaps, { namespace: target.namespace, fieldSelector: `metadata.name=${target.name}` }).pipe(map((v) => v.items.values().next().value as KubeObject | undefined));
  return configMapKeyWrites(desired$, configMap$, target.key).pipe(
    concatMap(({ text, configMap }) =>
      defer(() =>
        configMap === undefined
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
