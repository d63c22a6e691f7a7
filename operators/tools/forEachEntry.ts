import { Observable, type OperatorFunction, type Subscription } from 'rxjs';

/**
 * Keeps `project(key, value)` subscribed for every entry of the latest view, as long as the
 * entry stays the same (`same`); an entry that leaves, or changes, has its stream unsubscribed
 * first (its teardown runs before anything new starts), and a changed one is started again.
 * Emits nothing; an inner error is the result's error; completes with the source, and then,
 * like on unsubscribe, every inner stream is unsubscribed.
 *
 * ```
 * views    -{a}---{a,b}---{b'}---|
 * a        -^-------------!
 * b              -^--------!
 * b'                      ^------!
 * ```
 */
export function forEachEntry<K, V>(project: (key: K, value: V) => Observable<unknown>, same: (a: V, b: V) => boolean = Object.is): OperatorFunction<ReadonlyMap<K, V>, never> {
  return (views) =>
    new Observable<never>((subscriber) => {
      const running = new Map<K, { value: V; subscription: Subscription }>();
      const stop = (key: K) => {
        running.get(key)?.subscription.unsubscribe();
        running.delete(key);
      };
      const stopAll = () => [...running.keys()].forEach(stop);
      const source = views.subscribe({
        next: (view) => {
          for (const [key, entry] of [...running]) {
            const now = view.get(key);
            if (now === undefined || !same(entry.value, now)) stop(key);
          }
          for (const [key, value] of view) {
            if (running.has(key)) continue;
            const entry = { value, subscription: project(key, value).subscribe({ error: (e: unknown) => subscriber.error(e) }) };
            running.set(key, entry);
          }
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => {
          stopAll();
          subscriber.complete();
        },
      });
      return () => {
        source.unsubscribe();
        stopAll();
      };
    });
}
