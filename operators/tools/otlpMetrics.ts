import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, type DataPoint, type Histogram, type MetricData } from '@opentelemetry/sdk-metrics';

/** One series of a Prometheus metric: a histogram's `_bucket`, `_sum` and `_count` are told apart by `metricName`. */
interface PromValue {
  readonly value: number;
  readonly labels: Partial<Record<string, string | number>>;
  readonly metricName?: string;
}

/**
 * One metric as prom-client's `getMetricsAsJSON` gives it; `type` is `'counter'`, `'gauge'`,
 * `'histogram'` or `'summary'` (prom-client's declarations call it a numeric enum).
 */
export interface PromMetric {
  readonly name: string;
  readonly help: string;
  readonly type: unknown;
  readonly values: readonly PromValue[];
}

const attributesOf = (labels: PromValue['labels'], without = ''): Attributes =>
  Object.fromEntries(Object.entries(labels).filter(([k, v]) => k !== without && v !== undefined));

/** The Prometheus series of one histogram, grouped by their labels but `le`, as OTLP data points. */
function histogramPoints(metric: PromMetric, startTime: HrTime, endTime: HrTime): DataPoint<Histogram>[] {
  const points = new Map<string, { attributes: Attributes; bounds: [number, number][]; sum: number; count: number }>();
  for (const v of metric.values) {
    const attributes = attributesOf(v.labels, 'le');
    const key = JSON.stringify(attributes);
    const point = points.get(key) ?? { attributes, bounds: [], sum: 0, count: 0 };
    points.set(key, point);
    if (v.metricName === `${metric.name}_sum`) point.sum = v.value;
    else if (v.metricName === `${metric.name}_count`) point.count = v.value;
    else if (v.labels['le'] !== '+Inf') point.bounds.push([Number(v.labels['le']), v.value]);
  }
  return [...points.values()].map(({ attributes, bounds, sum, count }) => {
    bounds.sort(([a], [b]) => a - b);
    // Prometheus buckets count everything ≤ le; OTLP's count each interval, the last one (> every bound) included.
    const cumulative = [...bounds.map(([, c]) => c), count];
    const counts = cumulative.map((c, i) => c - (i === 0 ? 0 : cumulative[i - 1] ?? 0));
    return { startTime, endTime, attributes, value: { buckets: { boundaries: bounds.map(([le]) => le), counts }, sum, count } };
  });
}

/**
 * A daemon's Prometheus metrics in OpenTelemetry's model, for OTLP export: counters become
 * cumulative monotonic sums named without Prometheus's `_total` (so the per-connection counters
 * carry upstream's `<segment>_<metric>` names), gauges gauges, histograms explicit-bucket
 * histograms. Every point counts from `startTime` (the daemon's start) to `endTime` (now).
 */
export function otlpMetricsOf(metrics: readonly PromMetric[], startTime: HrTime, endTime: HrTime): MetricData[] {
  const aggregationTemporality = AggregationTemporality.CUMULATIVE;
  return metrics.flatMap((m): MetricData[] => {
    const descriptor = { description: m.help, unit: /_seconds(_total)?$/.test(m.name) ? 's' : '', valueType: ValueType.DOUBLE };
    const numbers = () => m.values.map((v) => ({ startTime, endTime, attributes: attributesOf(v.labels), value: v.value }));
    switch (m.type) {
      case 'counter':
        return [{ descriptor: { ...descriptor, name: m.name.replace(/_total$/, '') }, aggregationTemporality, dataPointType: DataPointType.SUM, isMonotonic: true, dataPoints: numbers() }];
      case 'gauge':
        return [{ descriptor: { ...descriptor, name: m.name }, aggregationTemporality, dataPointType: DataPointType.GAUGE, dataPoints: numbers() }];
      case 'histogram':
        return [{ descriptor: { ...descriptor, name: m.name }, aggregationTemporality, dataPointType: DataPointType.HISTOGRAM, dataPoints: histogramPoints(m, startTime, endTime) }];
      default:
        return []; // summaries: nsm-rx makes none
    }
  });
}
