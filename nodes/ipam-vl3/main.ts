import { managePrefixes } from '../../operators/ipam/managePrefixes.js';
import { PrefixPool } from '../../operators/tools/prefixPool.js';
import { serveIpam } from '../../streams/grpc/ipam.js';
import { defineComponent } from '../cli/component.js';
import { ConfigError, duration, str, uint, urlList } from '../cli/config.js';
import { securitySpec, startSecurity } from '../cli/security.js';

const spec = {
  listenOn: urlList('NSM_LISTEN_ON', 'tcp://:5006', 'URLs to serve ipam.IPAM on (vl3-ipam:5006 in upstream’s deployment)'),
  prefix: str('NSM_PREFIX', '169.254.0.0/16', 'The vl3 network: every vl3 NSE gets a block of it'),
  clientPrefixLen: uint('NSM_CLIENT_PREFIX_LEN', '24', 'Prefix length of each vl3 NSE’s block'),
  maxTokenLifetime: duration('NSM_MAX_TOKEN_LIFETIME', '10m', 'Lifetime of the tokens this server issues'),
  ...securitySpec,
};

/** The pool of NSM_PREFIX in blocks of NSM_CLIENT_PREFIX_LEN; a pair that does not fit is a configuration error naming both. */
function poolOf(prefix: string, blockLength: number): PrefixPool {
  try {
    return new PrefixPool(prefix, blockLength);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    const message = `NSM_PREFIX="${prefix}" with NSM_CLIENT_PREFIX_LEN=${blockLength}: ${why}`;
    throw new ConfigError([{ env: 'NSM_CLIENT_PREFIX_LEN', value: String(blockLength), expected: 'a prefix length within NSM_PREFIX', message }]);
  }
}

/**
 * `nsm-rx ipam-vl3` (upstream cmd-ipam-vl3): the vl3 prefix server. Each vl3 NSE holds a
 * `ipam.IPAM/ManagePrefixes` stream; every ALLOCATE gets a block of NSM_CLIENT_PREFIX_LEN from
 * NSM_PREFIX (the one it asks for, when free: NSEs keep theirs across restarts), held while the
 * stream lives.
 */
export const component = defineComponent({
  name: 'ipam-vl3',
  summary: 'the vl3 prefix server: a block of the vl3 network per vl3 NSE (upstream cmd-ipam-vl3)',
  spec,
  async run(config, ctx) {
    const pool = poolOf(config.prefix, config.clientPrefixLen);
    const security = await startSecurity({ ...config, name: 'ipam-vl3' }, ctx);
    const server = security.server();
    serveIpam(server, managePrefixes(pool));
    const urls = await server.listen(config.listenOn);
    ctx.log.info('serving', { urls: urls.map((u) => u.href), prefix: config.prefix, clientPrefixLen: config.clientPrefixLen });
    ctx.lifecycle.onShutdown('ipam-vl3', async () => {
      await server.stop(1000);
      security.stop();
    });
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
  },
});
