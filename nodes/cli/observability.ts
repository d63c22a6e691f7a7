import { readFileSync } from 'node:fs';
import type { SecureContextOptions } from 'node:tls';
import { combineLatest, defer, of, type Observable } from 'rxjs';
import { filter, map } from 'rxjs/operators';
import type { Logger } from '../../operators/tools/log.js';
import type { Metrics } from '../../operators/tools/metrics.js';
import type { CallTracing } from '../../operators/tools/tracing.js';
import { parseNsmUrl } from '../../operators/tools/nsmUrl.js';
import { servePrometheus, type PrometheusServer } from '../../streams/metrics/prometheusServer.js';
import { serveProfiler } from '../../streams/metrics/profiler.js';
import { chainPem, keyPem } from '../../streams/spiffe/svid.js';
import { defaultEndpointSocket, SPIFFE_ENDPOINT_SOCKET, workloadApiSource } from '../../streams/spiffe/workloadApi.js';
import { watchedFile } from '../../streams/watchedFile.js';
import type { RunContext } from './component.js';
import { parseGoBool } from './config.js';

/**
 * The endpoint's certificate, as upstream chooses it: NSM_PROMETHEUS_CERT_FILE and _KEY_FILE
 * (watched with NSM_PROMETHEUS_MONITOR_CERTIFICATE), else this process's SVID from the Workload
 * API, rotating with it; NSM_PROMETHEUS_CA_FILE makes scrapers show a certificate it signed.
 * NSM_INSECURE: none (plain HTTP, an nsm-rx addition for tests).
 */
function certificates(ctx: RunContext): { tls?: Observable<SecureContextOptions>; stop: () => void } {
  const c = ctx.common;
  if (parseGoBool(ctx.env['NSM_INSECURE'] ?? 'false')) return { stop: () => undefined };
  const ca = c.prometheusCaFile === '' ? {} : { ca: readFileSync(c.prometheusCaFile, 'utf8') };
  if (c.prometheusCertFile !== '' && c.prometheusKeyFile !== '') {
    const file = (path: string) =>
      c.prometheusMonitorCertificate
        ? watchedFile({ path, parse: (text) => text, empty: '', same: (a, b) => a === b, createDirectory: false, onError: (e) => ctx.log.warn('cannot read a Prometheus TLS file', { path, error: e.message }) })
        : defer(() => of(readFileSync(path, 'utf8')));
    const tls = combineLatest([file(c.prometheusCertFile), file(c.prometheusKeyFile)]).pipe(
      filter(([cert, key]) => cert !== '' && key !== ''),
      map(([cert, key]) => ({ cert, key, ...ca })),
    );
    return { tls, stop: () => undefined };
  }
  const { source, stop } = workloadApiSource(parseNsmUrl(ctx.env[SPIFFE_ENDPOINT_SOCKET] ?? defaultEndpointSocket));
  return { tls: source.updates.pipe(map((x) => ({ cert: chainPem(x.svid), key: keyPem(x.svid), ...ca }))), stop };
}

/** Serves the daemon's metrics until shutdown (PROMETHEUS=true; upstream sdk tools/prometheus). */
export async function startPrometheus(ctx: RunContext, metrics: Metrics): Promise<PrometheusServer> {
  const c = ctx.common;
  const { tls, stop } = certificates(ctx);
  let server: PrometheusServer | undefined;
  ctx.lifecycle.onShutdown('Prometheus endpoint', async () => {
    stop();
    await server?.close();
  });
  server = await servePrometheus({
    listenOn: c.prometheusListenOn,
    metrics: () => metrics.text(),
    ...(tls ? { tls } : {}),
    headerTimeoutMs: c.prometheusServerHeaderTimeout,
    maxBindThresholdMs: c.prometheusMaxBindThreshold,
  });
  ctx.log.info('serving Prometheus metrics', { url: server.url });
  return server;
}

/** With NSM_PPROF_ENABLED, serves CPU profiles and heap snapshots until shutdown (upstream pprofutils). */
export async function startProfiler(ctx: RunContext): Promise<void> {
  if (!ctx.common.pprofEnabled) return;
  const server = await serveProfiler(ctx.common.pprofListenOn);
  ctx.lifecycle.onShutdown('profiler', () => server.close());
  ctx.log.info('profiler is enabled', { url: server.url });
}

/** An OTLP/gRPC exporter's URL for upstream's NSM_OPEN_TELEMETRY_ENDPOINT (`host:port`, or `unix:///path`). */
const otlpUrl = (endpoint: string): string => (/^[a-z]+:\/\//.test(endpoint) ? endpoint : `http://${endpoint}`);

/** A gRPC target for upstream's NSM_OPEN_TELEMETRY_ENDPOINT (`host:port`, or a URL such as `unix:///path`). */
const otlpTarget = (endpoint: string): string => endpoint.replace(/^https?:\/\//, '');

/**
 * Spans of gRPC calls batched to `endpoint` over OTLP/gRPC without TLS, as upstream exports them,
 * as service `serviceName`; `shutdown` sends what is batched. Failures to export are logged.
 */
export async function otlpTracing(endpoint: string, serviceName: string, log?: Logger): Promise<{ tracing: CallTracing; url: string; shutdown: () => Promise<void> }> {
  const [{ CallTracing }, { otlpTraceExport }] = await Promise.all([import('../../operators/tools/tracing.js'), import('../../streams/telemetry/otlpTraceExport.js')]);
  const exporter = otlpTraceExport({ target: otlpTarget(endpoint), serviceName, onError: (e) => log?.warn('cannot export traces', { endpoint, error: e.message }) });
  return { tracing: new CallTracing(exporter.record), url: otlpUrl(endpoint), shutdown: () => exporter.shutdown() };
}

/**
 * The daemon's metrics (the same as Prometheus scrapes) pushed to `endpoint` over OTLP/gRPC every
 * `intervalMs`, as upstream's periodic reader pushes them; `shutdown` pushes once more.
 */
export async function otlpMetricsExport(endpoint: string, serviceName: string, metrics: Metrics, intervalMs: number): Promise<{ url: string; shutdown: () => Promise<void> }> {
  const [{ otlpMetricsOf }, { MeterProvider, PeriodicExportingMetricReader }, { OTLPMetricExporter }, { resourceFromAttributes }, { hrTime }, { credentials }] = await Promise.all([
    import('../../operators/tools/otlpMetrics.js'),
    import('@opentelemetry/sdk-metrics'),
    import('@opentelemetry/exporter-metrics-otlp-grpc'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/core'),
    import('@grpc/grpc-js'),
  ]);
  const url = otlpUrl(endpoint);
  const resource = resourceFromAttributes({ 'service.name': serviceName });
  const started = hrTime();
  const fromPrometheus = {
    collect: async () => ({
      resourceMetrics: { resource, scopeMetrics: [{ scope: { name: 'nsm-rx' }, metrics: otlpMetricsOf(await metrics.json(), started, hrTime()) }] },
      errors: [],
    }),
  };
  const reader = new PeriodicExportingMetricReader({
    exporter: new OTLPMetricExporter({ url, credentials: credentials.createInsecure() }),
    exportIntervalMillis: intervalMs,
    exportTimeoutMillis: Math.min(intervalMs, 30_000),
    metricProducers: [fromPrometheus],
  });
  const provider = new MeterProvider({ resource, readers: [reader] });
  return { url, shutdown: () => provider.shutdown() };
}

/**
 * With TELEMETRY=true (upstream's switch), spans of every gRPC call this daemon serves and makes,
 * and its metrics every NSM_METRICS_EXPORT_INTERVAL, to NSM_OPEN_TELEMETRY_ENDPOINT until shutdown.
 */
export async function startTelemetry(ctx: RunContext, serviceName: string, metrics: Metrics | undefined): Promise<CallTracing | undefined> {
  const c = ctx.common;
  if (!c.telemetry) return undefined;
  const { tracing, url, shutdown } = await otlpTracing(c.openTelemetryEndpoint, serviceName, ctx.log);
  ctx.lifecycle.onShutdown('OpenTelemetry traces', shutdown);
  if (metrics) {
    const exported = await otlpMetricsExport(c.openTelemetryEndpoint, serviceName, metrics, c.metricsExportInterval);
    ctx.lifecycle.onShutdown('OpenTelemetry metrics', exported.shutdown);
  }
  ctx.log.info('exporting traces and metrics', { endpoint: url, interval: `${c.metricsExportInterval}ms` });
  return tracing;
}
