import { asyncScheduler, combineLatest, defer, EMPTY, filter, map, retry, switchMap, timer, type Observable, type ObservableInput, type SchedulerLike } from 'rxjs';
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

const backoff = { initial: 200, max: 5_000 };

/**
 * Applies each write, the latest one winning (a newer write drops one still retrying). A failed
 * write is reported and tried again after a growing delay (200 ms doubling up to 5 s, as the
 * informers), so an apiserver that restarts or a permission granted later is caught up with
 * even when nothing changes meanwhile; a conflict (the map created by someone else) ends it:
 * the informer shows that map and the next write patches it.
 *
 * ```
 * writes: a------b--
 * write:  #-#---|-|-   (a fails twice, then succeeds; b at once)
 * ```
 */
export function applyWrites<W>(writes$: Observable<W>, write: (w: W) => ObservableInput<unknown>, onError: (e: Error) => void, scheduler: SchedulerLike = asyncScheduler): Observable<never> {
  return writes$.pipe(
    switchMap((w) =>
      defer(() => write(w)).pipe(
        retry({
          delay: (e: unknown, count: number) => {
            if (isStatus(e, 409)) return EMPTY;
            onError(e as Error);
            return timer(Math.min(backoff.max, backoff.initial * 2 ** (count - 1)), scheduler);
          },
        }),
      ),
    ),
    filter((): false => false),
  ) as Observable<never>;
}

/**
 * Keeps `data[key]` of a ConfigMap where `desired$` wants it (see configMapKeyWrites), through
 * the informer's view of that one map, creating the map when missing (see applyWrites for
 * failures). Runs while subscribed; emits nothing.
 */
export function keepConfigMapKey(client: KubeClient, informers: Informers, target: ConfigMapKey, desired$: Observable<DesiredText>, onError: (e: Error) => void, scheduler?: SchedulerLike): Observable<never> {
  const configMap$ = informers.view<KubeObject>(configMaps, { namespace: target.namespace, fieldSelector: `metadata.name=${target.name}` }).pipe(map((v) => v.items.values().next().value as KubeObject | undefined));
  return applyWrites(
    configMapKeyWrites(desired$, configMap$, target.key),
    ({ text, configMap }) =>
      configMap === undefined
        ? client.create(configMaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: target.name, namespace: target.namespace }, data: { [target.key]: text } })
        : client.patch(configMaps, target.namespace, target.name, { data: { [target.key]: text } }),
    onError,
    scheduler,
  );
}
