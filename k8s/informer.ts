import { asyncScheduler, concat, defer, EMPTY, filter, map, Observable, of, repeat, retry, switchMap, timer, type SchedulerLike } from 'rxjs';
import type { KubeList, WatchEvent } from './client.js';
import { keyOf, type KubeObject } from './resource.js';

/** The two calls an informer makes: a list, and a watch from a resourceVersion. */
export interface ListWatch<T> {
  /** One list, then complete. */
  list(): Observable<KubeList<T>>;
  /** Events from `resourceVersion`; completes when the server ends the watch (its timeout). */
  watch(resourceVersion: string): Observable<WatchEvent<T>>;
}

export interface InformerChange<T> {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: T;
}

/**
 * A consistent view of a kind: every object by `namespace/name`, and what changed since the
 * previous view (the first view lists everything as ADDED). A view is never mutated.
 */
export interface InformerView<T> {
  readonly items: ReadonlyMap<string, T>;
  readonly changes: readonly InformerChange<T>[];
  readonly resourceVersion: string;
}

export interface InformerOptions {
  readonly scheduler?: SchedulerLike;
  /** Reconnect delays: `initial`, doubling up to `max` (ms). */
  readonly backoff?: { readonly initial: number; readonly max: number };
  /** Told why the informer waits before it lists again (an unreachable apiserver, RBAC, …). */
  readonly onRetry?: (error: unknown, delayMs: number) => void;
}

const defaultBackoff = { initial: 200, max: 5_000 };

/** The view after a (re)list: its changes are the diff against the previous items. */
function relisted<T extends KubeObject>(previous: InformerView<T> | undefined, list: KubeList<T>): InformerView<T> {
  const items = new Map(list.items.map((o) => [keyOf(o), o]));
  const changes: InformerChange<T>[] = [];
  for (const [key, object] of items) {
    const before = previous?.items.get(key);
    if (before === undefined) changes.push({ type: 'ADDED', object });
    else if (before.metadata.resourceVersion !== object.metadata.resourceVersion) changes.push({ type: 'MODIFIED', object });
  }
  for (const [key, object] of previous?.items ?? []) if (!items.has(key)) changes.push({ type: 'DELETED', object });
  return { items, changes, resourceVersion: list.metadata.resourceVersion };
}

/** The view after one watch event (BOOKMARK: only the resourceVersion moves). */
function applied<T extends KubeObject>(view: InformerView<T>, event: WatchEvent<T>): InformerView<T> {
  const resourceVersion = event.object.metadata.resourceVersion ?? view.resourceVersion;
  if (event.type === 'BOOKMARK') return { ...view, changes: [], resourceVersion };
  const key = keyOf(event.object);
  const items = new Map(view.items);
  if (event.type === 'DELETED') {
    if (!items.delete(key)) return { ...view, changes: [], resourceVersion };
  } else items.set(key, event.object);
  return { items, changes: [{ type: event.type, object: event.object }], resourceVersion };
}

/**
 * An informer as a stream: list, then watch from the list's resourceVersion; a watch the server
 * ends is reopened from the last resourceVersion seen (bookmarks included); 410 Gone (compacted)
 * relists at once; any other failure relists after a backoff (200 ms doubling to 5 s, reset by
 * a view). A relist emits only what changed meanwhile, so readers never see a gap or a
 * duplicate. Unsubscribing closes the watch.
 *
 * ```
 * list:      -L|                       L = {a}, rv 1
 * watch(1):    --b--B--|               b = ADDED b (rv 2), B = BOOKMARK rv 3
 * watch(3):            --x             x = 410 Gone
 * list:                  -L'|          L' = {a, c}, rv 5
 * watch(5):                 ----
 * informer:  -v--v--------w---         v = {a}, then {a, b} (+b); w = {a, c} (+c −b)
 * ```
 */
export function informer<T extends KubeObject>(source: ListWatch<T>, options: InformerOptions = {}): Observable<InformerView<T>> {
  const scheduler = options.scheduler ?? asyncScheduler;
  const { initial, max } = options.backoff ?? defaultBackoff;
  return defer(() => {
    // The last view emitted, or kept by a bookmark: relists diff against it, watches resume from it.
    let current: InformerView<T> | undefined;
    const keep = (v: InformerView<T>): InformerView<T> => (current = v);
    const watchRounds = defer(() => source.watch((current as InformerView<T>).resourceVersion)).pipe(
      map((event) => keep(applied(current as InformerView<T>, event))),
      filter((v) => v.changes.length > 0),
      repeat(),
    );
    const session = defer(() => source.list()).pipe(
      switchMap((list) => {
        // The first view is emitted even when empty: readers know the informer has synced.
        const first = current === undefined;
        const view = keep(relisted(current, list));
        return concat(first || view.changes.length > 0 ? of(view) : EMPTY, watchRounds);
      }),
    );
    return session.pipe(
      retry({
        resetOnSuccess: true,
        delay: (error: unknown, count: number) => {
          const gone = (error as { gone?: boolean }).gone === true && count === 1;
          const wait = gone ? 0 : Math.min(max, initial * 2 ** (count - 1));
          options.onRetry?.(error, wait);
          return timer(wait, scheduler);
        },
      }),
    );
  });
}
