import { BehaviorSubject, Observable, throwError } from 'rxjs';
import { distinctUntilChanged, map } from 'rxjs/operators';
import {
  HealthService,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthCheckRequest,
  type HealthCheckResponse,
} from '../../proto/gen/health.js';
import { notFound } from '../../operators/core/errors.js';

export { ServingStatus };

/**
 * gRPC health (grpc.health.v1) as upstream registers it: every served service name and the
 * empty name report SERVING; Watch streams changes (e.g. NOT_SERVING during shutdown).
 */
export class HealthState {
  private readonly statuses = new Map<string, BehaviorSubject<ServingStatus>>();

  set(service: string, status: ServingStatus): void {
    const s = this.statuses.get(service);
    if (s) s.next(status);
    else this.statuses.set(service, new BehaviorSubject(status));
  }

  /** Marks every known service (shutdown: NOT_SERVING). */
  setAll(status: ServingStatus): void {
    for (const s of this.statuses.values()) s.next(status);
  }

  check(request: HealthCheckRequest): Observable<HealthCheckResponse> {
    const s = this.statuses.get(request.service);
    if (!s) return throwError(() => notFound(`unknown service "${request.service}"`));
    return new Observable((o) => {
      o.next({ status: s.value });
      o.complete();
    });
  }

  watch(request: HealthCheckRequest): Observable<HealthCheckResponse> {
    const source: Observable<ServingStatus> = this.statuses.get(request.service) ?? new BehaviorSubject(ServingStatus.SERVICE_UNKNOWN);
    return source.pipe(
      distinctUntilChanged(),
      map((status): HealthCheckResponse => ({ status })),
    );
  }

  /** Ends every Watch stream (server stop). */
  complete(): void {
    for (const s of this.statuses.values()) s.complete();
  }
}

export const healthDefinition = HealthService;
