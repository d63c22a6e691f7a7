import { EMPTY, map, merge, tap } from 'rxjs';
import { keepConfigMapKey } from '../../k8s/configMapKey.js';
import { excludedPrefixes, formatPrefixes } from '../../k8s/excludedPrefixes.js';
import { writeOutputFile } from '../../k8s/outputFile.js';
import { tryParseCidr } from '../../operators/tools/cidr.js';
import { EXCLUDED_PREFIXES_FILE } from '../../streams/excludedPrefixesFile.js';
import { defineComponent } from '../cli/component.js';
import { InvalidValue, oneOf, splitList, str, variable } from '../cli/config.js';
import { kubeFor, podNamespace } from '../cli/kube.js';

/** Upstream refuses to start on an env prefix that is not a CIDR. */
function cidrList(s: string): string[] {
  const prefixes = splitList(s);
  const bad = prefixes.find((p) => tryParseCidr(p) === undefined);
  if (bad !== undefined) throw new InvalidValue(`${JSON.stringify(bad)} is not a CIDR`);
  return prefixes;
}

const spec = {
  excludedPrefixes: variable({
    env: 'NSM_EXCLUDED_PREFIXES',
    def: '',
    description: 'Prefixes always excluded (comma-separated CIDRs)',
    kind: 'list',
    expected: 'comma-separated CIDRs such as 10.96.0.0/12,fd00::/64',
    parse: cidrList,
    zero: () => [],
  }),
  configMapNamespace: str('NSM_CONFIG_MAP_NAMESPACE', 'default', 'Namespace of the user ConfigMap of excluded prefixes'),
  configMapName: str('NSM_CONFIG_MAP_NAME', 'excluded-prefixes-config', 'Name of the user ConfigMap of excluded prefixes'),
  configMapKey: str('NSM_CONFIG_MAP_KEY', 'excluded_prefixes_input.yaml', 'Key of that ConfigMap holding YAML `prefixes: [...]`'),
  outputConfigMapName: str('NSM_OUTPUT_CONFIG_MAP_NAME', 'nsm-config', 'ConfigMap written in config-map mode (in the pod’s namespace)'),
  outputConfigMapKey: str('NSM_OUTPUT_CONFIG_MAP_KEY', 'excluded_prefixes_output.yaml', 'Its key'),
  outputFilePath: str('NSM_OUTPUT_FILE_PATH', EXCLUDED_PREFIXES_FILE, 'File written in file mode (what the nsmgr reads)'),
  outputType: oneOf('NSM_PREFIXES_OUTPUT_TYPE', ['file', 'config-map'], 'file', 'Where the merged prefixes go'),
};

/**
 * `nsm-rx exclude-prefixes-k8s` (upstream cmd-exclude-prefixes-k8s): the cluster's pod and
 * service prefixes (Nodes, Services, kubeadm-config, the user ConfigMap, NSM_EXCLUDED_PREFIXES)
 * merged into the excluded-prefixes file the nsmgr reads, or into a ConfigMap, rewritten when
 * they change.
 */
export const component = defineComponent({
  name: 'exclude-prefixes-k8s',
  summary: 'writes the cluster’s pod and service prefixes for the nsmgr’s excluded prefixes (upstream cmd-exclude-prefixes-k8s)',
  spec,
  async run(config, ctx) {
    const { client, informers } = kubeFor(ctx);
    const warn = (msg: string, fields: Record<string, unknown>) => ctx.log.warn(msg, fields);
    const prefixes$ = excludedPrefixes(informers, { fixed: config.excludedPrefixes, configMap: { namespace: config.configMapNamespace, name: config.configMapName, key: config.configMapKey } }, warn);
    const written$ =
      config.outputType === 'file'
        ? prefixes$.pipe(
            tap((prefixes) => {
              try {
                writeOutputFile(config.outputFilePath, formatPrefixes(prefixes));
                ctx.log.info('excluded prefixes written', { file: config.outputFilePath, prefixes });
              } catch (e) {
                // Kept watching: the next change writes again (the nsmgr keeps the file it has).
                ctx.log.error('cannot write the excluded prefixes file', { file: config.outputFilePath, why: (e as Error).message });
              }
            }),
          )
        : EMPTY;
    const target = { namespace: podNamespace(ctx, config.configMapNamespace), name: config.outputConfigMapName, key: config.outputConfigMapKey };
    const kept$ = config.outputType === 'config-map' ? keepConfigMapKey(client, informers, target, prefixes$.pipe(map((prefixes) => () => formatPrefixes(prefixes))), (e) => ctx.log.error('cannot write the excluded prefixes ConfigMap', { why: e.message })) : EMPTY;
    const subscription = merge(written$, kept$).subscribe({ error: (e: unknown) => ctx.log.error('excluded prefixes stopped', { why: String(e) }) });
    ctx.log.info('watching', { apiserver: client.server, output: config.outputType === 'file' ? config.outputFilePath : `${target.namespace}/${target.name}` });
    ctx.lifecycle.onShutdown('exclude-prefixes-k8s', () => subscription.unsubscribe());
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
  },
});
