import { watch } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { asyncScheduler, defer, EMPTY, from, merge, Observable, of, type SchedulerLike } from 'rxjs';
import { catchError, debounceTime, distinctUntilChanged, filter, map, switchMap } from 'rxjs/operators';

export interface WatchedFileOptions<T> {
  path: string;
  /** The file's text → its value; throws (the message is reported) when the file is invalid. */
  parse: (text: string) => T;
  /** The value of a missing file (and of an invalid one at start). */
  empty: T;
  /** Equal values are not emitted again. */
  same: (a: T, b: T) => boolean;
  /** Times the debounce (default `asyncScheduler`). */
  scheduler?: SchedulerLike;
  /** Quiet time after a change before the file is read again, ms (default 100). */
  debounce?: number;
  /** Told about files that cannot be read or parsed, and a watch that fails; the stream goes on. */
  onError?: (err: Error) => void;
  /**
   * Create a missing directory, as upstream fs.WatchFile does (default true). Without it a
   * missing directory means no file: `empty` is emitted and the stream completes, quietly.
   */
  createDirectory?: boolean;
}

type Read<T> = { ok: true; value: T } | { ok: false };

/**
 * A config file as a stream of its parsed values (upstream sdk fs.WatchFile + its readers: the
 * excluded prefixes, the NSE's policy routes). On subscribe it creates the directory if missing
 * (as upstream does), watches it and emits the current value: the parsed file, or `empty` if
 * there is no file. Then, after any change in the directory has been quiet for `debounce` ms, it
 * reads the file again and emits the value if it differs from the last one emitted:
 *
 * - written in place, replaced by rename (atomic writers), removed and recreated, or swapped
 *   through a symlinked directory (ConfigMap volumes): whatever the event, the file is re-read;
 * - removed → `empty`;
 * - unreadable or invalid → nothing is emitted and the last good value stays; `onError` hears
 *   why. An invalid file at start emits `empty` (nothing good was seen yet).
 *
 * ```
 * file      a----(a')---x------(gone)-
 * debounce   |-q-|      |-q-|  |-q-|
 * values    a---------------------e      (a' equal to a; x invalid: reported, a stays)
 * ```
 *
 * If the directory cannot be watched the stream emits the current value, reports, and completes.
 */
export function watchedFile<T>(options: WatchedFileOptions<T>): Observable<T> {
  const { path, parse, empty } = options;
  const scheduler = options.scheduler ?? asyncScheduler;
  const quiet = options.debounce ?? 100;
  const report = (e: unknown) => options.onError?.(e instanceof Error ? e : new Error(String(e)));
  const dir = dirname(path);

  const read = async (initial: boolean): Promise<Read<T>> => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, value: empty };
      report(new Error(`${path}: ${(e as Error).message}`));
      return initial ? { ok: true, value: empty } : { ok: false };
    }
    try {
      return { ok: true, value: parse(text) };
    } catch (e) {
      report(new Error(`${path}: ${(e as Error).message}`));
      return initial ? { ok: true, value: empty } : { ok: false };
    }
  };

  const changes = new Observable<void>((subscriber) => {
    const watcher = watch(dir, { persistent: true }, () => subscriber.next());
    watcher.on('error', (e) => subscriber.error(e));
    return () => watcher.close();
  });
  const missingDirectory = (e: unknown) => options.createDirectory === false && (e as NodeJS.ErrnoException).code === 'ENOENT';

  const prepare = () => (options.createDirectory === false ? Promise.resolve() : mkdir(dir, { recursive: true }).then(() => undefined, (e: unknown) => report(e)));
  return defer(() => from(prepare())).pipe(
    switchMap(() =>
      merge(
        of(true),
        // Every event counts: the file's own name, a temp file renamed onto it, a `..data`
        // symlink swap. In a busy directory that costs only a debounced re-read, compared.
        changes.pipe(
          catchError((e: unknown) => {
            if (!missingDirectory(e)) report(new Error(`${dir}: cannot watch: ${(e as Error).message}`));
            return EMPTY;
          }),
          debounceTime(quiet, scheduler),
          map(() => false),
        ),
      ),
    ),
    // A newer change makes an older read moot.
    switchMap((initial) => from(read(initial))),
    filter((r): r is { ok: true; value: T } => r.ok),
    map((r) => r.value),
    distinctUntilChanged(options.same),
  );
}
