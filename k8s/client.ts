import { Agent, request, type RequestOptions } from 'node:https';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { Observable } from 'rxjs';
import { pathOf, resourceName, type KubeObject, type Resource } from './resource.js';

/** Which objects of a kind: a namespace (undefined: all), label and field selectors. */
export interface Selector {
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
}

export interface KubeList<T> {
  readonly items: readonly T[];
  readonly metadata: { readonly resourceVersion: string };
}

/** One line of a watch; BOOKMARK carries only `metadata.resourceVersion`. */
export type WatchEvent<T> = { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly object: T } | { readonly type: 'BOOKMARK'; readonly object: KubeObject };

/**
 * The API server said no (or could not be reached: code 0). The message names the verb and
 * the resource, as `kubectl` would ("cannot create networkserviceendpoints.networkservicemesh.io
 * in namespace nsm-system: …"); `reason` is Kubernetes' (`Forbidden`, `Conflict`, `Expired`, …).
 */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    readonly verb: string,
    readonly resource: string,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }

  /** 410 Gone: the resourceVersion asked for was compacted away; relist. */
  get gone(): boolean {
    return this.code === 410;
  }
}

interface Status {
  readonly kind?: string;
  readonly code?: number;
  readonly reason?: string;
  readonly message?: string;
}

function apiError(verb: string, r: Resource, namespace: string | undefined, code: number, status: Status | undefined, fallback: string): KubeApiError {
  const where = r.namespaced && namespace !== undefined ? ` in namespace ${namespace}` : '';
  const said = status?.message ?? fallback;
  return new KubeApiError(status?.code ?? code, status?.reason ?? (code === 0 ? 'Unreachable' : String(code)), verb, resourceName(r), `cannot ${verb} ${resourceName(r)}${where}: ${said}`);
}

/** The Status inside an ERROR watch event, as an error (410 after compaction: `gone`). */
export function watchError(r: Resource, namespace: string | undefined, status: Status): KubeApiError {
  return apiError('watch', r, namespace, status.code ?? 500, status, 'watch failed');
}

export type PatchType = 'json' | 'merge' | 'strategic';
const patchContentType: Record<PatchType, string> = { json: 'application/json-patch+json', merge: 'application/merge-patch+json', strategic: 'application/strategic-merge-patch+json' };

/**
 * A small typed Kubernetes client over @kubernetes/client-node's KubeConfig (kubeconfig files,
 * in-cluster service-account tokens, exec plugins) and Watch. Objects stay plain JSON; requests
 * share one keep-alive connection pool (`close()` ends it).
 */
export class KubeClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 32 });

  constructor(readonly config: KubeConfig) {}

  /** `kubeconfig` when given, else KUBECONFIG, else in-cluster, else ~/.kube/config (client-go's order). */
  static load(kubeconfig?: string): KubeClient {
    const kc = new KubeConfig();
    if (kubeconfig) kc.loadFromFile(kubeconfig);
    else kc.loadFromDefault();
    return new KubeClient(kc);
  }

  get server(): string {
    return this.config.getCurrentCluster()?.server ?? '(no cluster)';
  }

  /** One API call. `verb` and `r` only name it in errors. */
  async request<T>(verb: string, r: Resource, namespace: string | undefined, method: string, path: string, body?: unknown, contentType = 'application/json', signal?: AbortSignal): Promise<T> {
    const opts: RequestOptions = { method, headers: { accept: 'application/json' }, timeout: 30_000 };
    await this.config.applyToHTTPSOptions(opts);
    opts.agent = this.agent;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) opts.headers = { ...opts.headers, 'content-type': contentType, 'content-length': Buffer.byteLength(payload) };
    if (signal) opts.signal = signal;
    return new Promise<T>((resolve, reject) => {
      const req = request(`${this.server}${path}`, opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (b: Buffer) => chunks.push(b));
        res.on('error', (e) => reject(apiError(verb, r, namespace, 0, undefined, e.message)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let json: unknown;
          try {
            json = text === '' ? undefined : JSON.parse(text);
          } catch {
            json = undefined;
          }
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) resolve(json as T);
          else reject(apiError(verb, r, namespace, code, json as Status | undefined, `${code} ${text.slice(0, 200)}`));
        });
      });
      req.on('timeout', () => req.destroy(new Error('no answer in 30 s')));
      req.on('error', (e) => reject(apiError(verb, r, namespace, 0, undefined, `${this.server} unreachable: ${e.message}`)));
      req.end(payload);
    });
  }

  list<T extends KubeObject>(r: Resource, sel: Selector = {}, signal?: AbortSignal): Promise<KubeList<T>> {
    return this.request<KubeList<T>>('list', r, sel.namespace, 'GET', `${pathOf(r, sel.namespace)}${query({ labelSelector: sel.labelSelector, fieldSelector: sel.fieldSelector })}`, undefined, undefined, signal);
  }

  get<T extends KubeObject>(r: Resource, namespace: string | undefined, name: string): Promise<T> {
    return this.request<T>('get', r, namespace, 'GET', pathOf(r, namespace, name));
  }

  create<T extends KubeObject>(r: Resource, obj: T): Promise<T> {
    return this.request<T>('create', r, obj.metadata.namespace, 'POST', pathOf(r, obj.metadata.namespace), obj);
  }

  /** PUT: `obj.metadata.resourceVersion` makes it conditional (409 Conflict when stale). */
  update<T extends KubeObject>(r: Resource, obj: T): Promise<T> {
    return this.request<T>('update', r, obj.metadata.namespace, 'PUT', pathOf(r, obj.metadata.namespace, obj.metadata.name), obj);
  }

  patch<T extends KubeObject>(r: Resource, namespace: string | undefined, name: string, patch: unknown, type: PatchType = 'merge'): Promise<T> {
    return this.request<T>('patch', r, namespace, 'PATCH', pathOf(r, namespace, name), patch, patchContentType[type]);
  }

  /** DELETE; `resourceVersion` makes it conditional (409 Conflict when the object changed). */
  async delete(r: Resource, namespace: string | undefined, name: string, resourceVersion?: string): Promise<void> {
    const body = resourceVersion === undefined ? undefined : { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { resourceVersion } };
    await this.request<unknown>('delete', r, namespace, 'DELETE', pathOf(r, namespace, name), body);
  }

  /**
   * A watch from `resourceVersion` (with bookmarks). Completes when the server ends it (its
   * timeout); errors with a KubeApiError (410 `gone` when the version was compacted).
   * Unsubscribing closes the connection.
   */
  watch<T extends KubeObject>(r: Resource, sel: Selector, resourceVersion: string, timeoutSeconds: number): Observable<WatchEvent<T>> {
    return new Observable<WatchEvent<T>>((subscriber) => {
      let controller: AbortController | undefined;
      let closed = false;
      const params = { resourceVersion, allowWatchBookmarks: true, timeoutSeconds, labelSelector: sel.labelSelector, fieldSelector: sel.fieldSelector };
      new Watch(this.config)
        .watch(
          pathOf(r, sel.namespace),
          params,
          (type: string, object: unknown) => {
            if (type === 'ERROR') subscriber.error(watchError(r, sel.namespace, object as Status));
            else if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED' || type === 'BOOKMARK') subscriber.next({ type, object: object as T });
          },
          (err: unknown) => {
            if (closed) return;
            if (err === null || err === undefined) subscriber.complete();
            else {
              const code = (err as { statusCode?: number }).statusCode ?? 0;
              subscriber.error(apiError('watch', r, sel.namespace, code, undefined, code === 0 ? `${this.server} unreachable: ${String((err as Error).message ?? err)}` : `HTTP ${code} ${(err as Error).message}`));
            }
          },
        )
        .then((c) => {
          if (closed) c.abort();
          else controller = c;
        }, (e: unknown) => subscriber.error(e));
      return () => {
        closed = true;
        controller?.abort();
      };
    });
  }

  /** Ends the idle keep-alive connections (a stopping component). */
  close(): void {
    this.agent.destroy();
  }
}

function query(params: Readonly<Record<string, string | undefined>>): string {
  const q = Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '');
  return q.length === 0 ? '' : `?${new URLSearchParams(q).toString()}`;
}

/** A Status "AlreadyExists"/"Conflict"/"NotFound" test on any error. */
export function isStatus(e: unknown, code: number): e is KubeApiError {
  return e instanceof KubeApiError && e.code === code;
}
