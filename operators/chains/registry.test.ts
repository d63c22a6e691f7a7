import { afterAll, beforeAll, describe } from 'vitest';
import { KubeClient } from '../../k8s/client.js';
import { Informers } from '../../k8s/informers.js';
import { k8sUnavailable, startApiServer, type ApiServer } from '../../test/k8s/apiserver.js';
import { installRegistryCrds } from '../../test/k8s/registryCrds.js';
import { registrySuite } from '../../test/registrySuite.js';
import { unsignedTokenGenerator } from '../tools/token.js';
import { memoryRegistry } from './registry.js';
import { k8sRegistry } from './registryK8s.js';

const token = unsignedTokenGenerator('spiffe://nsm.local/registry', 3_600_000, () => Date.now());

describe('the registry suite: registry-memory', () => {
  registrySuite(async (lifetime, proxy) => memoryRegistry({ token, lifetime, ...proxy }), 'mem');
});

describe.skipIf(k8sUnavailable() !== undefined)('the registry suite: registry-k8s on a real kube-apiserver', () => {
  let api: ApiServer;
  beforeAll(async () => {
    api = await startApiServer();
    installRegistryCrds(api, 'nsm-suite');
  });
  afterAll(() => api?.stop());
  let run = 0;
  registrySuite(async (lifetime, proxy) => {
    const client = KubeClient.load(api.kubeconfig);
    const registry = k8sRegistry({ client, informers: new Informers(client), namespace: 'nsm-suite', token, lifetime, ...proxy });
    return {
      ...registry,
      dispose: () => {
        registry.dispose();
        client.close();
      },
    };
  }, `k8s${++run}`);
});
