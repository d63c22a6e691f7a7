import { startSecurity } from '../cli/security.js';
import { asyncScheduler, firstValueFrom } from 'rxjs';
import { Context } from '../../operators/core/context.js';
import { messageOf } from '../../operators/core/errors.js';
import { defineComponent } from '../cli/component.js';
import { str } from '../cli/config.js';
import { nscChain } from '../nsc/chain.js';
import { report } from '../nsc/main.js';
import { requestFor } from '../nsc/request.js';
import { nscSpec } from '../nsc/spec.js';

/**
 * `nsm-rx nsc-init` (upstream cmd-nsc-init, an init container): requests every
 * NSM_NETWORK_SERVICES entry as `<NSM_NAME>-<i>`, prints each connection, and exits 0 without
 * closing them — the workload's nsc adopts them by id. A service it cannot get within
 * NSM_REQUEST_TIMEOUT (retrying meanwhile) makes it exit 1, naming the service and the error.
 */
export const component = defineComponent({
  name: 'nsc-init',
  summary: 'requests the connections and exits, leaving them for the nsc (upstream cmd-nsc-init)',
  // Upstream's default name differs from cmd-nsc's; deployments give both the pod's name.
  spec: { ...nscSpec, name: str('NSM_NAME', 'cmd-nsc-init', 'Name of the client; connection i has id <NSM_NAME>-<i> (give the nsc the same name to adopt them)') },
  async run(config, ctx) {
    const scheduler = asyncScheduler;
    const security = await startSecurity(config, ctx);
    const pool = security.pool();
    // No refresh or heal: the connections outlive this process; the nsc takes them over.
    const { chain: nsc, handler } = nscChain(config, ctx, security, pool, false);
    try {
      for (const [i, ns] of config.networkServices.entries()) {
        const request = requestFor(config.name, i, ns);
        const conn = await firstValueFrom(handler.request(request, Context.background.withDeadline(scheduler.now() + config.requestTimeout))).catch((e: unknown) => {
          throw new Error(`${ns.url}: no connection within NSM_REQUEST_TIMEOUT (${config.requestTimeout} ms): ${messageOf(e)}`);
        });
        report('connected', conn);
      }
    } finally {
      nsc.state.metadata.dispose(); // forget, never Close: the connections stay for the nsc
      pool.closeAll();
      security.stop();
    }
  },
});
