import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import { asyncScheduler, defer, firstValueFrom, lastValueFrom, throwError, timer, type Observable, type SchedulerLike, type Subscription } from 'rxjs';
import { retry, skip } from 'rxjs/operators';

export interface PrometheusServerOptions {
  /** NSM_PROMETHEUS_LISTEN_ON: `host:port` (`:8081`: every address). */
  readonly listenOn: string;
  /** The exposition text, read at each scrape. */
  readonly metrics: () => Promise<string>;
  /**
   * The server's certificate and key (and `ca` to require client certificates), as a stream: the
   * first starts HTTPS (TLS 1.3, as upstream), later ones replace it (a rotated SVID, a watched
   * file). Undefined: plain HTTP.
   */
  readonly tls?: Observable<SecureContextOptions>;
  /** NSM_PROMETHEUS_SERVER_HEADER_TIMEOUT, ms. */
  readonly headerTimeoutMs?: number;
  /** NSM_PROMETHEUS_MAX_BIND_THRESHOLD: how long a busy address is tried again (every second), ms. */
  readonly maxBindThresholdMs?: number;
  readonly scheduler?: SchedulerLike;
}

export interface PrometheusServer {
  /** Where it listens, e.g. `https://127.0.0.1:8081/metrics`. */
  readonly url: string;
  close(): Promise<void>;
}

/** `host:port` → [host or undefined for every address, port]; a bad one is an error naming `variable` and the form. */
export function parseListenOn(listenOn: string, variable = 'NSM_PROMETHEUS_LISTEN_ON'): [string | undefined, number] {
  const m = /^(\[[^\]]*\]|[^:]*):(\d{1,5})$/.exec(listenOn);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new Error(`${variable}=${JSON.stringify(listenOn)}: expected host:port (e.g. :8081 or 127.0.0.1:8081)`);
  const host = (m[1] ?? '').replace(/^\[(.*)\]$/, '$1');
  return [host === '' ? undefined : host, port];
}

/** Where a server listens, as a URL's `host:port` (an IPv6 address in brackets). */
export function hostPortOf(server: { address(): AddressInfo | string | null }): string {
  const address = server.address() as AddressInfo;
  return `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}

/**
 * Serves `/metrics` in Prometheus's text format (upstream sdk tools/prometheus): HTTPS with TLS
 * 1.3 from the `tls` stream, or HTTP without one. A busy address is tried again every second
 * for up to `maxBindThresholdMs` (a predecessor still holding it), then fails.
 */
export async function servePrometheus(options: PrometheusServerOptions): Promise<PrometheusServer> {
  const [host, port] = parseListenOn(options.listenOn);
  const scheduler = options.scheduler ?? asyncScheduler;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      return;
    }
    options.metrics().then(
      (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e instanceof Error ? e.message : String(e)}\n`),
    );
  };
  let server: Server;
  let rotation: Subscription | undefined;
  if (options.tls) {
    const first = await firstValueFrom(options.tls);
    const https = createHttpsServer({ ...first, minVersion: 'TLSv1.3', requestCert: first.ca !== undefined, rejectUnauthorized: first.ca !== undefined }, handler);
    rotation = options.tls.pipe(skip(1)).subscribe((next) => https.setSecureContext({ ...next, minVersion: 'TLSv1.3' }));
    server = https;
  } else server = createHttpServer(handler);
  server.headersTimeout = options.headerTimeoutMs ?? 5000;
  const threshold = options.maxBindThresholdMs ?? 120_000;
  const listen = defer(
    () =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      }),
  );
  try {
    await lastValueFrom(
      listen.pipe(retry({ delay: (e: unknown, n) => ((e as { code?: string }).code === 'EADDRINUSE' && n * 1000 < threshold ? timer(1000, scheduler) : throwError(() => new Error(`Prometheus cannot listen on ${options.listenOn}: ${(e as Error).message}`))) })),
      { defaultValue: undefined },
    );
  } catch (e) {
    rotation?.unsubscribe();
    throw e;
  }
  return {
    url: `${options.tls ? 'https' : 'http'}://${hostPortOf(server)}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        rotation?.unsubscribe();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
