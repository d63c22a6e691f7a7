import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { formatDuration } from '../../operators/tools/duration.js';
import { parseEntries } from '../../streams/spiffe/entries.js';
import { identityProvider, loadOrCreateCa } from '../../streams/spiffe/identityProvider.js';
import { certificatesFromPem } from '../../streams/spiffe/svid.js';
import { defaultEndpointSocket, SPIFFE_ENDPOINT_SOCKET } from '../../streams/spiffe/workloadApi.js';
import { WorkloadApiServer } from '../../streams/spiffe/workloadApiServer.js';
import { defineComponent } from '../cli/component.js';
import { duration, InvalidValue, map, str, url, variable } from '../cli/config.js';
import { isSpiffeId } from '../../streams/spiffe/spiffeId.js';

const spec = {
  socket: url(SPIFFE_ENDPOINT_SOCKET, defaultEndpointSocket, 'Unix socket to serve the SPIFFE Workload API on (the variable its clients read)'),
  trustDomain: variable({
    env: 'NSM_TRUST_DOMAIN',
    def: 'nsm.local',
    description: 'Trust domain of the CA and of every SVID it issues',
    kind: 'trust domain',
    expected: 'a lowercase trust domain name such as example.org',
    parse: (s) => {
      if (!isSpiffeId(`spiffe://${s}`) || s.includes('/')) throw new InvalidValue(`"${s}" is not a trust domain name`);
      return s;
    },
  }),
  dir: str('NSM_IDENTITY_DIR', '/var/lib/nsm-rx/identity', 'Where the CA certificate and key are kept across restarts'),
  caTtl: duration('NSM_CA_TTL', '8760h', 'Lifetime of a newly made CA'),
  svidTtl: duration('NSM_SVID_TTL', '1h', 'Lifetime of each X.509-SVID; a new one is sent at half of it'),
  entriesFile: str('NSM_IDENTITY_ENTRIES', '', 'File of registration entries: "<spiffe id> <selector>…" per line (unix:uid:N, unix:gid:N, unix:path:P, arg:W, env:K=V); unmatched workloads get spiffe://<td>/uid/<uid>/<NSM_NAME or executable>'),
  federatedBundles: map('NSM_FEDERATED_BUNDLES', '', 'Trusted roots of other trust domains, trust-domain:pem-file pairs'),
};

/**
 * `nsm-rx identity`: a local SPIFFE identity provider, in the place of a SPIRE agent. A CA of
 * NSM_TRUST_DOMAIN (kept in NSM_IDENTITY_DIR) issues each calling process a short-lived,
 * rotating X.509-SVID over the Workload API on SPIFFE_ENDPOINT_SOCKET; the caller is told by
 * its process (uid, executable, argv, environment), as SPIRE's unix workload attestor does.
 */
export const component = defineComponent({
  name: 'identity',
  summary: 'a SPIFFE identity provider: local CA serving the Workload API (in place of a SPIRE agent)',
  spec,
  async run(config, ctx) {
    if (config.socket.scheme !== 'unix') throw new Error(`${SPIFFE_ENDPOINT_SOCKET} must be a unix:///path socket, not ${config.socket.href}`);
    const entries = config.entriesFile === '' ? [] : parseEntries(await readFile(config.entriesFile, 'utf8'), config.entriesFile);
    const federated = new Map<string, X509Certificate[]>();
    for (const [td, file] of Object.entries(config.federatedBundles)) federated.set(td, certificatesFromPem(await readFile(file, 'utf8')));
    const { ca, created } = await loadOrCreateCa(config.dir, config.trustDomain, config.caTtl, new Date());
    const server = new WorkloadApiServer(
      identityProvider({
        ca,
        trustDomain: config.trustDomain,
        svidTtlMs: config.svidTtl,
        entries,
        federated,
        onIssue: (caller, id) => ctx.log.info('issued', { id, pid: caller.pid, uid: caller.uid }),
      }),
    );
    await server.listen(config.socket.path);
    ctx.log.info('serving the Workload API', {
      socket: config.socket.href,
      trustDomain: config.trustDomain,
      ca: created ? 'created' : 'loaded',
      caExpires: ca.cert.validTo,
      svidTtl: formatDuration(config.svidTtl),
      entries: entries.length,
      federated: [...federated.keys()],
    });
    ctx.lifecycle.onShutdown('identity', () => server.close());
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
  },
});
