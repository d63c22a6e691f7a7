import type { Subscription } from 'rxjs';
import { auditTime } from 'rxjs/operators';
import { connectionsView } from '../../streams/connectionsView.js';
import { defineComponent } from '../cli/component.js';
import { duration, oneOf, urlList } from '../cli/config.js';
import { securitySpec, startSecurity } from '../cli/security.js';
import { nsmgrMonitor } from './monitor.js';
import { render } from './render.js';

const spec = {
  connectTo: urlList('NSM_CONNECT_TO', 'unix:///var/lib/networkservicemesh/nsm.io.sock', 'The nsmgrs whose connections to show (comma-separated)'),
  output: oneOf('NSM_OUTPUT', ['table', 'json'], 'table', 'table: a screen updated in place; json: the whole view as one JSON line per change (also --json)'),
  maxTokenLifetime: duration('NSM_MAX_TOKEN_LIFETIME', '10m', 'Lifetime of the tokens its calls carry'),
  ...securitySpec,
};

/** Screen updates at most this often, ms: a burst of events is drawn once. */
const FRAME_MS = 200;

/**
 * `nsm-rx connections`: a live view of every connection the nsmgrs at NSM_CONNECT_TO report
 * through MonitorConnections — path, state, addresses, interfaces, per-hop byte rates and the
 * heals seen — redrawn in place on a terminal, or one JSON line per change with `--json`.
 */
export const component = defineComponent({
  name: 'connections',
  summary: 'a live view of the connections of the given nsmgrs (MonitorConnections)',
  spec,
  flags: { '--json': { env: 'NSM_OUTPUT', value: 'json' } },
  async run(config, ctx) {
    const security = await startSecurity({ ...config, name: 'connections' }, ctx);
    const pool = security.pool();
    const tty = process.stdout.isTTY === true && config.output === 'table';
    const views: Subscription = connectionsView([...new Set(config.connectTo.map((u) => u.href))], nsmgrMonitor(pool))
      .pipe(auditTime(FRAME_MS))
      .subscribe((view) => {
        if (config.output === 'json') process.stdout.write(`${JSON.stringify(view)}\n`);
        else process.stdout.write(`${tty ? '\x1b[H\x1b[2J' : '\n'}${render(view)}\n`);
      });
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    views.unsubscribe();
    pool.closeAll();
    security.stop();
  },
});
