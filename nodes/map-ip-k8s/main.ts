import { networkInterfaces } from 'node:os';
import { tap } from 'rxjs';
import { mapIp } from '../../k8s/mapIp.js';
import { writeOutputFile } from '../../k8s/outputFile.js';
import { defineComponent } from '../cli/component.js';
import { str } from '../cli/config.js';
import { kubeFor } from '../cli/kube.js';

const spec = {
  outputPath: str('NSM_OUTPUT_PATH', 'external_ips.yaml', 'File the address map is written to'),
  nodeName: str('NSM_NODE_NAME', '', 'This pod’s node: its pod IP maps to that node’s address'),
  namespace: str('NSM_NAMESPACE', 'default', 'Namespace of NSM_FROM_CONFIG_MAP'),
  fromConfigMap: str('NSM_FROM_CONFIG_MAP', '', 'A ConfigMap whose data values are YAML maps of extra entries'),
};

/** This pod's first non-loopback address (IPv4 or IPv6, in interface order), as upstream takes it. */
function podIp(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((a) => a !== undefined && !a.internal)?.address;
}

/**
 * `nsm-rx map-ip-k8s` (upstream cmd-map-ip-k8s): the Nodes' internal → external addresses as a
 * YAML map file, which nsmgr-proxy's swap-IP reads.
 */
export const component = defineComponent({
  name: 'map-ip-k8s',
  summary: 'writes the Nodes’ internal → external address map (upstream cmd-map-ip-k8s)',
  spec,
  async run(config, ctx) {
    const { client, informers } = kubeFor(ctx);
    const sources = { nodeName: config.nodeName, podIp: podIp(), ...(config.fromConfigMap ? { fromConfigMap: { namespace: config.namespace, name: config.fromConfigMap } } : {}) };
    const subscription = mapIp(informers, sources, (msg, fields) => ctx.log.warn(msg, fields))
      .pipe(
        tap((text) => {
          // As upstream: a failed write is logged, the next change tries again.
          try {
            writeOutputFile(config.outputPath, text, 0o644);
            ctx.log.info('address map written', { file: config.outputPath, entries: text.split('\n').length - 1 });
          } catch (e) {
            ctx.log.error('cannot write the address map', { file: config.outputPath, why: (e as Error).message });
          }
        }),
      )
      .subscribe({ error: (e: unknown) => ctx.log.error('map-ip stopped', { why: String(e) }) });
    ctx.log.info('watching', { apiserver: client.server, output: config.outputPath, podIp: sources.podIp });
    ctx.lifecycle.onShutdown('map-ip-k8s', () => subscription.unsubscribe());
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
  },
});
