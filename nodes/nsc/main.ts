import { startSecurity } from '../cli/security.js';
import { asyncScheduler, firstValueFrom, lastValueFrom } from 'rxjs';
import { Connection } from '../../proto/gen/connection.js';
import { Context } from '../../operators/core/context.js';
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
 * connections (refresh, heal, upstream refresh) until it is stopped, when it closes them; runs
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
    ctx.lifecycle.onShutdown('nsc', async () => {
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
      const fresh = requestFor(config.name, i, ns);
      const monitored = await monitorConnections(pool, config.connectTo, fresh.connection?.id ?? '', config.requestTimeout);
      try {
        const conn = await firstValueFrom(retrying(adopting(nsc.handler, monitored.current, liveness, ctx.log)).request(fresh, Context.background));
        connections.push(conn);
        report('connected', conn);
      } finally {
        monitored.stop();
      }
    }
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
  },
});
