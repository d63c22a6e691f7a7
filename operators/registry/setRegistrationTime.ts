import { asyncScheduler, defer, type SchedulerLike } from 'rxjs';
import { finalize, tap } from 'rxjs/operators';
import type { Timestamp } from '../../proto/gen/google/protobuf/timestamp.js';
import { msToTimestamp } from '../core/path.js';
import type { NSEElement } from '../core/registry.js';

export interface SetRegistrationTimeOptions {
  scheduler?: SchedulerLike;
}

/** `setRegistrationTime` with the times it remembers, by NSE name (for leak checks). */
export interface SetRegistrationTimeElement extends NSEElement {
  readonly names: ReadonlyMap<string, Timestamp>;
}

/**
 * `setregistrationtime` (NSE registry server; upstream registry/common/setregistrationtime):
 * `initial_registration_time` is set once, on the first Register of a name, to the NSE's own value
 * if it sent one, else to `scheduler.now()`; every later Register (refresh) of that name gets the
 * remembered time, whatever it sent. Unregister forgets the name, so registering again starts
 * afresh. A first Register that fails or is cancelled is forgotten too (upstream: the per-NSE
 * metadata of a registration that never succeeded is dropped).
 */
export function setRegistrationTime(options: SetRegistrationTimeOptions = {}): SetRegistrationTimeElement {
  const scheduler = options.scheduler ?? asyncScheduler;
  const names = new Map<string, Timestamp>();
  return {
    names,
    register: (nse, ctx, next) =>
      defer(() => {
        const known = names.get(nse.name);
        const time = known ?? nse.initialRegistrationTime ?? msToTimestamp(scheduler.now());
        // Our own entry: a concurrent Unregister + Register of the name must not be undone below.
        const entry = known ?? { ...time };
        if (known === undefined) names.set(nse.name, entry);
        let accepted = false;
        return next.register({ ...nse, initialRegistrationTime: { ...time } }, ctx).pipe(
          tap(() => (accepted = true)),
          finalize(() => {
            if (known === undefined && !accepted && names.get(nse.name) === entry) names.delete(nse.name);
          }),
        );
      }),
    unregister: (nse, ctx, next) =>
      defer(() => {
        names.delete(nse.name);
        return next.unregister(nse, ctx);
      }),
  };
}
