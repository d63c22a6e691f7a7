import { defer, Observable, type Subscription } from 'rxjs';

interface Task {
  readonly start: () => Subscription;
  inner?: Subscription;
}

/**
 * Runs Observable-returning work one at a time in FIFO order (the Go sdk's serialize.Executor).
 * `exec` is cold: work is queued on subscribe; unsubscribing a queued task drops it, unsubscribing
 * the running one cancels it and lets the next start. Work must not wait on its own executor.
 */
export class SerialExecutor {
  private readonly queue: Task[] = [];
  private active: Task | undefined;
  private draining = false;

  /** True when nothing is running or waiting. */
  get idle(): boolean {
    return this.active === undefined && this.queue.length === 0;
  }

  exec<T>(work: () => Observable<T>): Observable<T> {
    return new Observable<T>((subscriber) => {
      let settled = false;
      const task: Task = {
        // defer: work that throws while being created errors this task, not the executor.
        start: () =>
          defer(work).subscribe({
            next: (v) => subscriber.next(v),
            // The caller hears the result before the next task starts, so it acts on settled state.
            error: (e: unknown) => {
              settled = true;
              subscriber.error(e);
              this.finish(task);
            },
            complete: () => {
              settled = true;
              subscriber.complete();
              this.finish(task);
            },
          }),
      };
      this.queue.push(task);
      this.drain();
      return () => {
        if (settled) return;
        const i = this.queue.indexOf(task);
        if (i >= 0) {
          this.queue.splice(i, 1);
          return;
        }
        task.inner?.unsubscribe();
        this.finish(task);
      };
    });
  }

  /**
   * As `exec`, but detached from its caller once started: unsubscribed while queued it is
   * dropped, once started it runs to its end (upstream begin's CancelContext: a Request a
   * connection's loop asked for replaces that very loop, and must still be remembered).
   */
  execToEnd<T>(work: () => Observable<T>): Observable<T> {
    return new Observable<T>((subscriber) => {
      let started = false;
      const run = this.exec(() => {
        started = true;
        return work();
      }).subscribe({ next: (v) => subscriber.next(v), error: (e: unknown) => subscriber.error(e), complete: () => subscriber.complete() });
      return () => started || run.unsubscribe();
    });
  }

  private finish(task: Task): void {
    if (this.active !== task) return;
    this.active = undefined;
    this.drain();
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.active === undefined && this.queue.length > 0) {
        const task = this.queue.shift() as Task;
        this.active = task;
        const inner = task.start();
        // A task that settled synchronously has already cleared `active`; one that was
        // unsubscribed while starting (before `inner` was known) must still be torn down.
        if (this.active === task) task.inner = inner;
        else inner.unsubscribe();
      }
    } finally {
      this.draining = false;
    }
  }
}
