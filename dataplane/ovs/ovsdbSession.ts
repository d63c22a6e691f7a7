import { asyncScheduler, defer, firstValueFrom, timer, type SchedulerLike } from 'rxjs';
import { retry } from 'rxjs/operators';
import { OvsdbClient, type OvsdbOptions } from './ovsdb.js';

export interface OvsdbSessionOptions extends OvsdbOptions {
  /** Pause between connection attempts, ms (default 1000). */
  readonly retryMs?: number;
  /** Told of every failed attempt (a daemon logs it: why it waits). */
  readonly onRetry?: (e: unknown) => void;
  readonly scheduler?: SchedulerLike;
}

/**
 * A connection to ovsdb-server that is made again when it ends (ovsdb-server restarted, an echo
 * unanswered): `client()` gives the live client, connecting first (trying again every `retryMs`
 * for as long as it takes, each failure told to `onRetry`) when there is none. Callers in flight
 * when the connection ends get its error; the next call connects anew.
 */
export class OvsdbSession {
  private current: Promise<OvsdbClient> | undefined;
  private closed = false;

  constructor(
    readonly url: string,
    private readonly options: OvsdbSessionOptions = {},
  ) {}

  client(): Promise<OvsdbClient> {
    if (this.closed) return Promise.reject(new Error(`OVSDB ${this.url}: the session is closed`));
    if (this.current) return this.current;
    const scheduler = this.options.scheduler ?? asyncScheduler;
    const connecting = firstValueFrom(
      defer(() => OvsdbClient.connect(this.url, this.options)).pipe(
        retry({
          delay: (e: unknown) => {
            if (this.closed) throw e;
            this.options.onRetry?.(e);
            return timer(this.options.retryMs ?? 1000, scheduler);
          },
        }),
      ),
    );
    this.current = connecting;
    void connecting.then(
      (c) => c.closed.then(() => {
        if (this.current === connecting) this.current = undefined;
      }),
      () => {
        if (this.current === connecting) this.current = undefined;
      },
    );
    return connecting;
  }

  /** Ends the live connection and any further use. */
  async close(): Promise<void> {
    this.closed = true;
    const c = await this.current?.catch(() => undefined);
    await c?.close();
  }
}
