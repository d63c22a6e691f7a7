import { defer, Subscription } from 'rxjs';
import { tap } from 'rxjs/operators';
import { onSettle } from '../tools/onSettle.js';
import { Context, ContextKey } from '../core/context.js';
import { eventFactoryOf, type EventFactory } from './begin/eventFactory.js';
import type { NetworkServiceElement } from '../core/networkservice.js';

/**
 * Per-connection state that elements keep between calls (upstream metadata). Each element makes
 * its own key, so state never collides; shared facts (the client channel) use exported keys.
 */
export class ConnectionMetadata {
  private readonly values = new Map<ContextKey<unknown>, unknown>();
  get<T>(key: ContextKey<T>): T | undefined {
    return this.values.get(key as ContextKey<unknown>) as T | undefined;
  }
  set<T>(key: ContextKey<T>, value: T): void {
    this.values.set(key as ContextKey<unknown>, value);
  }
  delete<T>(key: ContextKey<T>): T | undefined {
    const v = this.get(key);
    this.values.delete(key as ContextKey<unknown>);
    return v;
  }
  get size(): number {
    return this.values.size;
  }
  /** Releases everything held (timers, streams, channels): the hop died or is shutting down. */
  dispose(): void {
    for (const v of this.values.values()) {
      if (v instanceof Subscription) v.unsubscribe();
      else if (typeof (v as { release?: unknown } | null)?.release === 'function') (v as { release(): void }).release();
    }
    this.values.clear();
  }
}

const metadataKey = new ContextKey<{ id: string; meta: ConnectionMetadata }>('metadata');

/** The metadata of the connection this call is for; `metadata` must run earlier in the chain. */
export function metadataOf(ctx: Context): ConnectionMetadata {
  const m = ctx.get(metadataKey);
  if (m === undefined) throw new Error('metadata element missing from the chain');
  return m.meta;
}

export interface MetadataElement extends NetworkServiceElement {
  readonly connections: ReadonlyMap<string, ConnectionMetadata>;
  /** Drops every connection's state and releases what it holds, its loops in begin too (shutdown). */
  dispose(): void;
}

/**
 * `metadata`: after updatePath and begin. Creates the connection's state on first Request and
 * drops it on Close or on a failed or cancelled first Request. A client chain inside a server chain shares the
 * outer chain's metadata for the same id (they share one path segment).
 */
export function metadata(): MetadataElement {
  const connections = new Map<string, ConnectionMetadata>();
  /** The begin entry of each connection, whose loops go with the hop. */
  const loops = new WeakMap<ConnectionMetadata, EventFactory>();
  return {
    connections,
    dispose: () => {
      for (const meta of connections.values()) {
        loops.get(meta)?.stopLoops();
        meta.dispose();
      }
      connections.clear();
    },
    request: (request, ctx, next) =>
      defer(() => {
        const id = request.connection?.id ?? '';
        const outer = ctx.get(metadataKey);
        if (outer?.id === id) return next.request(request, ctx);
        const existing = connections.get(id);
        const meta = existing ?? new ConnectionMetadata();
        if (!existing) connections.set(id, meta);
        const factory = eventFactoryOf(ctx);
        if (factory) loops.set(meta, factory);
        let established = existing !== undefined;
        return next.request(request, ctx.with(metadataKey, { id, meta })).pipe(
          tap({ next: () => (established = true) }),
          // A first Request that failed or was cancelled leaves nothing behind.
          onSettle(() => {
            if (established || connections.get(id) !== meta) return;
            connections.delete(id);
            meta.dispose();
          }),
        );
      }),
    close: (conn, ctx, next) =>
      defer(() => {
        const outer = ctx.get(metadataKey);
        if (outer?.id === conn.id) return next.close(conn, ctx);
        const meta = connections.get(conn.id) ?? new ConnectionMetadata();
        return next.close(conn, ctx.with(metadataKey, { id: conn.id, meta })).pipe(
          // Whatever an element did not release itself goes now.
          onSettle(() => {
            if (connections.get(conn.id) === meta) connections.delete(conn.id);
            meta.dispose();
          }),
        );
      }),
  };
}
