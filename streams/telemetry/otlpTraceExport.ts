import { asyncScheduler, lastValueFrom, of, Subject, type SchedulerLike } from 'rxjs';
import { bufferTime, catchError, concatMap, distinctUntilChanged, filter, map, tap } from 'rxjs/operators';
import { Context } from '../../operators/core/context.js';
import { otlpTraceRequest } from '../../operators/tools/otlpSpans.js';
import type { SpanRecord } from '../../operators/tools/tracing.js';
import { TraceServiceService } from '../../proto/gen/trace_service.js';
import { unaryCall } from '../grpc/call.js';
import { ClientChannel } from '../grpc/clientChannel.js';
import { parseNsmUrl } from '../../operators/tools/nsmUrl.js';

export interface OtlpTraceExportOptions {
  /** A gRPC target: `host:port` (NSM_OPEN_TELEMETRY_ENDPOINT's form) or `unix:///path`. */
  readonly target: string;
  /** The resource's `service.name`: the daemon's NSM_NAME. */
  readonly serviceName: string;
  /** How long spans wait to be batched (OpenTelemetry's batch processor: 5 s; upstream NSM's daemons: 1 s here). */
  readonly delayMs?: number;
  /** Spans per Export at most (OpenTelemetry's default 512). */
  readonly maxBatch?: number;
  /** Spans waiting at most; more are dropped and counted (OpenTelemetry's default 2048). */
  readonly maxQueue?: number;
  /** An Export's deadline. */
  readonly timeoutMs?: number;
  readonly scheduler?: SchedulerLike;
  /** Told when exports start failing (once, until one succeeds again). */
  readonly onError?: (error: Error) => void;
}

export interface OtlpTraceExport {
  /** Queues a finished span (CallTracing's sink). */
  readonly record: (span: SpanRecord) => void;
  /** Spans dropped because the queue was full. */
  readonly dropped: () => number;
  /** Exports what is queued, then closes the channel. */
  shutdown(): Promise<void>;
}

/**
 * Finished spans batched to an OTLP/gRPC collector without TLS, as upstream's daemons export
 * them: a batch goes when `maxBatch` spans wait or `delayMs` after its first, one Export at a
 * time; spans beyond `maxQueue` waiting are dropped rather than held (a collector that is down
 * must not grow the daemon).
 */
export function otlpTraceExport(options: OtlpTraceExportOptions): OtlpTraceExport {
  const { target, serviceName, delayMs = 1000, maxBatch = 512, maxQueue = 2048, timeoutMs = 10_000, scheduler = asyncScheduler, onError } = options;
  const client = new ClientChannel(parseNsmUrl(target));
  const spans = new Subject<SpanRecord>();
  let queued = 0;
  let dropped = 0;
  const exported = spans.pipe(
    bufferTime(delayMs, null, maxBatch, scheduler),
    filter((batch) => batch.length > 0),
    concatMap((batch) =>
      unaryCall({ client }, TraceServiceService.export, otlpTraceRequest(serviceName, batch), Context.background.withDeadline(scheduler.now() + timeoutMs), scheduler).pipe(
        map(() => undefined),
        catchError((e: unknown) => of(e instanceof Error ? e : new Error(String(e)))),
        tap(() => (queued -= batch.length)),
      ),
    ),
    distinctUntilChanged((a, b) => (a === undefined) === (b === undefined)),
    tap((failure) => failure && onError?.(failure)),
  );
  const done = lastValueFrom(exported, { defaultValue: undefined });
  return {
    record: (span) => {
      if (queued >= maxQueue) dropped++;
      else {
        queued++;
        spans.next(span);
      }
    },
    dropped: () => dropped,
    shutdown: async () => {
      spans.complete();
      await done;
      client.close();
    },
  };
}
