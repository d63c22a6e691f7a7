import { startSecurity } from '../cli/security.js';
import { asyncScheduler, EMPTY, firstValueFrom, lastValueFrom } from 'rxjs';
import { Connection } from '../../proto/gen/connection.js';
import { Context } from '../../operators/core/context.js';
import { leavableRequest, type LeavableRequest } from '../../operators/networkservice/leavableRequest.js';
import { nscChain } from './chain.js';
import { requestFor } from './request.js';
import { nscSpec } from './spec.js';
import { adopting, monitorConnections } from './adopt.js';
import { startLocalDns } from './localDns.js';
import { defineComponent } from '../cli/component.js';

/** One line per connection on stdout, for people and scripts. */
export const report = (event: string, conn: Connection): void => {
  process.stdout.write(`${JSON.stringify({ event, connection: Connection.toJSON(conn) })}\n`);
};

/**
 * `nsm-rx nsc` (upstream cmd-nsc): requests every NSM_NETWORK_SERVICES entry with id
 * `<NSM_NAME>-<i>` — adopting the connection of that id the nsmgr already has (nsc-init's,
 * or its own before a restart; see adopting) — retrying until it succeeds, then keeps the
 * connections (refresh, heal, upstream refresh) until it is stopped, when it closes them (one
 * still being requested once its try in flight has ended: the hops may finish it anyway); runs
 * the local DNS server for them (see startLocalDns). Prints each connection as a JSON line on
 * stdout.
 */
export const component = defineComponent({
  name: 'nsc',
  summary: 'a client keeping connections to network services (upstream cmd-nsc)',
  spec: nscSpec,
  async run(config, ctx) {
    const scheduler = asyncScheduler;
    const security = await startSecurity(config, ctx);
    const pool = security.pool();
    // Before the connections' cleanup is registered, so it runs after they are closed.
    const dns = config.localDnsServerEnabled ? await startLocalDns(config, ctx) : undefined;
    const { chain: nsc, retrying, liveness } = nscChain(config, ctx, security, pool, true, dns);
    const connections: Connection[] = [];
    // The first Request under way, if any: stopped mid-Request, the nsc lets the try in flight end
    // and Closes what it made with the rest — the hops may finish it whoever cancels.
    let requesting: LeavableRequest | undefined;
    ctx.lifecycle.onShutdown('nsc', async () => {
      const made = await lastValueFrom(requesting?.leave() ?? EMPTY, { defaultValue: undefined });
      if (made !== undefined) connections.push(made);
      for (const conn of connections) {
        await lastValueFrom(nsc.handler.close(conn, Context.background.withDeadline(scheduler.now() + config.requestTimeout)), { defaultValue: undefined }).catch(
          (e: unknown) => ctx.log.warn('close failed', { id: conn.id, error: String(e) }),
        );
        report('closed', conn);
      }
      nsc.state.metadata.dispose();
      pool.closeAll();
      security.stop();
    });
    for (const [i, ns] of config.networkServices.entries()) {
      if (ctx.signal.aborted) return; // told to stop: no more Requests
      const fresh = requestFor(config.name, i, ns);
      const monitored = await monitorConnections(pool, config.connectTo, fresh.connection?.id ?? '', config.requestTimeout);
      try {
        if (ctx.signal.aborted) return;
        requesting = leavableRequest(adopting(nsc.handler, monitored.current, liveness, ctx.log), retrying, fresh, Context.background);
        const conn = await firstValueFrom(requesting.answer, { defaultValue: undefined });
        // Stopping: what the Request made, if anything, is the shutdown's to Close.
        if (conn === undefined || ctx.signal.aborted) return;
        requesting = undefined;
        connections.push(conn);
        report('connected', conn);
      } finally {
        monitored.stop();
      }
    }
    if (ctx.signal.aborted) return;
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
  },
});
