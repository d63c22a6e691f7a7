import { clusterInfo } from '../../k8s/clusterInfo.js';
import { keepConfigMapKey } from '../../k8s/configMapKey.js';
import { defineComponent } from '../cli/component.js';
import { map, str } from '../cli/config.js';
import { kubeFor } from '../cli/kube.js';

const spec = {
  configMapName: str('NSM_CONFIGMAP_NAME', 'cluster-info', 'ConfigMap the cluster properties are written to'),
  namespace: str('NSM_NAMESPACE', 'default', 'Its namespace'),
  translationMap: map('NSM_TRANSLATION_MAP', 'id.k8s.io:clusterName', 'ClusterProperty name → key written (property:key,…)'),
  fileName: str('NSM_FILE_NAME', 'config.yaml', 'The ConfigMap key holding the YAML map'),
};

/**
 * `nsm-rx cluster-info-k8s` (upstream cmd-cluster-info-k8s): ClusterProperty values
 * (about.k8s.io/v1alpha1, e.g. `id.k8s.io: cluster1`) soft-merged into a ConfigMap's YAML map
 * (`clusterName: cluster1`), which nsmgr-proxy mounts for its clusterinfo labels.
 */
export const component = defineComponent({
  name: 'cluster-info-k8s',
  summary: 'writes ClusterProperty values into the cluster-info ConfigMap (upstream cmd-cluster-info-k8s)',
  spec,
  async run(config, ctx) {
    const { client, informers } = kubeFor(ctx);
    const target = { namespace: config.namespace, name: config.configMapName, key: config.fileName };
    const text$ = clusterInfo(informers, config.translationMap, (msg, fields) => ctx.log.warn(msg, { ...fields, configMap: `${target.namespace}/${target.name}`, key: target.key }));
    const subscription = keepConfigMapKey(client, informers, target, text$, (e) => ctx.log.error('cannot write the cluster-info ConfigMap', { why: e.message })).subscribe();
    ctx.log.info('watching', { apiserver: client.server, configMap: `${target.namespace}/${target.name}` });
    ctx.lifecycle.onShutdown('cluster-info-k8s', () => subscription.unsubscribe());
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
  },
});
