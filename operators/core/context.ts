/**
 * Per-call context, the rxjs twin of Go's context.Context as NSM uses it: an optional deadline
 * (the call's time budget, in the injected scheduler's milliseconds) and typed values that
 * elements hand to elements further down the chain (client URL, per-connection metadata, the
 * begin event factory, gRPC metadata). Cancellation is not here: in nsm-rx it is unsubscription.
 *
 * Immutable and parent-linked, so `with` is O(1) and a value set below never leaks upward.
 */
export class ContextKey<T> {
  /** Phantom field so that keys of different T are not assignable to each other. */
  declare readonly type: T;
  constructor(readonly name: string) {}
}

export class Context {
  static readonly background = new Context(undefined, undefined, undefined, undefined);

  private constructor(
    private readonly parent: Context | undefined,
    private readonly key: ContextKey<unknown> | undefined,
    private readonly value: unknown,
    /** Absolute deadline in scheduler time (ms), or undefined for no deadline. */
    readonly deadline: number | undefined,
  ) {}

  with<T>(key: ContextKey<T>, value: T): Context {
    return new Context(this, key as ContextKey<unknown>, value, this.deadline);
  }

  get<T>(key: ContextKey<T>): T | undefined {
    for (let c: Context | undefined = this; c !== undefined; c = c.parent) {
      if (c.key === key) return c.value as T;
    }
    return undefined;
  }

  /** A context whose deadline is the earlier of the current one and `deadline`. */
  withDeadline(deadline: number | undefined): Context {
    if (deadline === undefined) return this;
    if (this.deadline !== undefined && this.deadline <= deadline) return this;
    return new Context(this, undefined, undefined, deadline);
  }

  /** The same values with no deadline, e.g. for work that must outlive the call (postponed Close). */
  withoutDeadline(): Context {
    return this.deadline === undefined ? this : new Context(this, undefined, undefined, undefined);
  }

  /** Same values, a fresh deadline `budget` ms after `now` (begin's events reuse the first budget). */
  withBudget(now: number, budget: number | undefined): Context {
    return new Context(this, undefined, undefined, budget === undefined ? undefined : now + budget);
  }

  /** Milliseconds left before the deadline at scheduler time `now` (Infinity without one). */
  remaining(now: number): number {
    return this.deadline === undefined ? Infinity : this.deadline - now;
  }
}
