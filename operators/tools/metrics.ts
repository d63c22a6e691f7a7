import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Path } from '../../proto/gen/connection.js';
import { CallMetrics, promText, type CallObserver } from './callMetrics.js';
import type { PromMetric } from './otlpMetrics.js';

export type { CallObserver } from './callMetrics.js';

/** How a heal re-Requested: the same path again, or a new one from discovery. */
export type HealKind = 'reconnect' | 'reselect';

/** Prometheus allows [a-zA-Z_:][a-zA-Z0-9_:]*: anything else becomes `_` (as OpenTelemetry's exporter does). */
export const promName = (s: string): string => s.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/^([0-9])/, '_$1');

/**
 * One daemon's metrics in Prometheus's model, on a registry of its own (daemons sharing a
 * process, as in the sandbox, keep theirs apart): gRPC calls served and made (grpc-ecosystem's
 * go-grpc-prometheus names), heals, registry sizes, and the per-connection interface counters
 * of upstream's `metrics` element.
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

  private readonly served = new CallMetrics('server');
  private readonly made = new CallMetrics('client');
  /** gRPC calls this daemon serves: grpc_server_{started,handled}_total, grpc_server_handling_seconds. */
  readonly grpcServer: CallObserver = this.served.observe;
  /** gRPC calls this daemon makes: grpc_client_{started,handled}_total, grpc_client_handling_seconds. */
  readonly grpcClient: CallObserver = this.made.observe;

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

  /** Every metric, as prom-client's `getMetricsAsJSON` gives them (what OTLP exports). */
  async json(): Promise<PromMetric[]> {
    return [...(await this.registry.getMetricsAsJSON()), ...this.calls()];
  }

  /** The text exposition format Prometheus scrapes. */
  async text(): Promise<string> {
    return `${await this.registry.metrics()}\n${promText(this.calls())}\n`;
  }

  /** The gRPC call metrics, served and made. */
  private calls(): PromMetric[] {
    return [...this.served.json(), ...this.made.json()];
  }
}
