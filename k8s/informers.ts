import { Observable, ReplaySubject, share } from 'rxjs';
import type { KubeClient, KubeList, Selector } from './client.js';
import { informer, type InformerOptions, type InformerView, type ListWatch } from './informer.js';
import { resourceName, type KubeObject, type Resource } from './resource.js';

/**
 * The list and watch calls of one kind and selector, through `client`; unsubscribing aborts
 * them. The server ends each watch after `watchTimeoutSeconds` (client-go picks 5–10 minutes)
 * and the informer reopens it.
 */
export function listWatchOf<T extends KubeObject>(client: KubeClient, r: Resource, sel: Selector = {}, watchTimeoutSeconds = 300): ListWatch<T> {
  return {
    list: () =>
      new Observable<KubeList<T>>((subscriber) => {
        const abort = new AbortController();
        client.list<T>(r, sel, abort.signal).then(
          (l) => {
            subscriber.next(l);
            subscriber.complete();
          },
          (e: unknown) => subscriber.error(e),
        );
        return () => abort.abort();
      }),
    watch: (resourceVersion) => client.watch<T>(r, sel, resourceVersion, watchTimeoutSeconds),
  };
}

/**
 * The informers of one process: one list+watch per (kind, namespace, selector), shared by every
 * reader, replaying the current view to a new one, and closed when the last reader leaves.
 */
export class Informers {
  private readonly views = new Map<string, Observable<InformerView<KubeObject>>>();

  constructor(
    readonly client: KubeClient,
    private readonly options: InformerOptions & { readonly watchTimeoutSeconds?: number } = {},
  ) {}

  view<T extends KubeObject>(r: Resource, sel: Selector = {}): Observable<InformerView<T>> {
    const key = [resourceName(r), sel.namespace ?? '', sel.labelSelector ?? '', sel.fieldSelector ?? ''].join('|');
    let view = this.views.get(key);
    if (view === undefined) {
      view = informer(listWatchOf(this.client, r, sel, this.options.watchTimeoutSeconds), this.options).pipe(share({ connector: () => new ReplaySubject(1), resetOnRefCountZero: true }));
      this.views.set(key, view);
    }
    return view as Observable<InformerView<T>>;
  }
}
