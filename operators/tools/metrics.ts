import { status } from '@grpc/grpc-js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Path } from '../../proto/gen/connection.js';

/**
 * Watches gRPC calls (e.g. Prometheus counters and latency): told when a call of `method` (its
 * full path) starts, and returns what is told how it ended, once, with its status code.
 */
export type CallObserver = (method: string) => (code: status) => void;

/** How a heal re-Requested: the same path again, or a new one from discovery. */
export type HealKind = 'reconnect' | 'reselect';

/** Prometheus allows [a-zA-Z_:][a-zA-Z0-9_:]*: anything else becomes `_` (as OpenTelemetry's exporter does). */
export const promName = (s: string): string => s.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/^([0-9])/, '_$1');

/** `/pkg.Service/Method` → [`pkg.Service`, `Method`]. */
const splitMethod = (path: string): [string, string] => {
  const [, service = '', method = ''] = path.split('/');
  return [service, method];
};

/** Latency buckets for calls, s: a local Request takes ms, a heal's dial up to seconds. */
const CALL_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * One daemon's metrics in Prometheus's model, on a registry of its own (daemons sharing a
 * process, as in the sandbox, keep theirs apart): gRPC calls served and made (grpc-ecosystem's
 * go-grpc-prometheus names), heals, registry sizes, and the per-connection interface counters
 * of upstream's `metrics` element. Latency is measured with hrtime: it is a measurement, not
 * control logic.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly counters = new Map<string, Counter<'connection'>>();
  /** Last value of each counter per connection: upstream adds the difference. */
  private readonly previous = new Map<string, Map<string, number>>();
  private readonly heals: Counter<'kind'>;

  constructor(options: { readonly processMetrics?: boolean } = {}) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
    this.heals = new Counter({ name: 'nsm_heal_requests_total', help: 'Re-Requests made by heal, by kind (reconnect: same path; reselect: anew)', labelNames: ['kind'], registers: [this.registry] });
  }

  /** gRPC calls this daemon serves: grpc_server_{started,handled}_total, grpc_server_handling_seconds. */
  readonly grpcServer: CallObserver = this.callObserver('server');
  /** gRPC calls this daemon makes: grpc_client_{started,handled}_total, grpc_client_handling_seconds. */
  readonly grpcClient: CallObserver = this.callObserver('client');

  private callObserver(side: 'server' | 'client'): CallObserver {
    const registers = [this.registry];
    const started = new Counter({ name: `grpc_${side}_started_total`, help: `gRPC calls started (${side})`, labelNames: ['grpc_service', 'grpc_method'], registers });
    const handled = new Counter({ name: `grpc_${side}_handled_total`, help: `gRPC calls ended, by status (${side})`, labelNames: ['grpc_service', 'grpc_method', 'grpc_code'], registers });
    const seconds = new Histogram({ name: `grpc_${side}_handling_seconds`, help: `gRPC call duration (${side})`, labelNames: ['grpc_service', 'grpc_method'], buckets: CALL_BUCKETS, registers });
    return (path) => {
      const [grpc_service, grpc_method] = splitMethod(path);
      started.inc({ grpc_service, grpc_method });
      const stop = seconds.startTimer({ grpc_service, grpc_method });
      return (code) => {
        stop();
        handled.inc({ grpc_service, grpc_method, grpc_code: status[code] ?? String(code) });
      };
    };
  }

  /** Counts a heal's re-Request. */
  readonly healed = (kind: HealKind): void => {
    this.heals.inc({ kind });
  };

  /** A gauge read when scraped (e.g. how many NSEs a registry holds). */
  gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /**
   * Upstream's per-connection counters (sdk `metrics` element): every integer metric of every
   * path segment is a counter `<segment name>_<metric>` (in Prometheus's alphabet, `_total`
   * added), labelled with the connection's first id, raised by the growth since last seen.
   * `closed` forgets the connection's series (upstream keeps them forever).
   */
  recordPath(path: Path | undefined, closed = false): void {
    const connection = path?.pathSegments[0]?.id;
    if (path === undefined || connection === undefined) return;
    for (const segment of path.pathSegments) {
      for (const [metric, text] of Object.entries(segment.metrics)) {
        if (!/^-?\d+$/.test(text)) continue; // upstream: integers only
        const name = `${promName(`${segment.name}_${metric}`)}_total`; // as OpenTelemetry's Prometheus exporter names counters
        const counter = this.counterNamed(name);
        const seen = this.previous.get(name) ?? new Map<string, number>();
        this.previous.set(name, seen);
        const value = Number(text);
        const before = seen.get(connection) ?? 0;
        // An interface made anew (a heal) counts from 0 again: all of its count is growth.
        counter.inc({ connection }, value >= before ? value - before : value);
        if (closed) {
          seen.delete(connection);
          counter.remove({ connection });
        } else seen.set(connection, value);
      }
    }
  }

  private counterNamed(name: string): Counter<'connection'> {
    let counter = this.counters.get(name);
    if (counter === undefined) {
      counter = new Counter({ name, help: `Interface counter ${name} of NSM connections (upstream metrics element)`, labelNames: ['connection'], registers: [this.registry] });
      this.counters.set(name, counter);
    }
    return counter;
  }

  /** The text exposition format Prometheus scrapes. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
