import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inCheckout } from '../process/processMesh.js';

/**
 * A real kube-apiserver over a real etcd on loopback, for the Kubernetes tests: upstream's own
 * binaries (test/k8s/build.sh), free ports, certificates made here, an admin kubeconfig (client
 * certificate in system:masters), RBAC on. No controller-manager, scheduler or kubelet run:
 * objects are stored, validated and admitted (webhooks are called) but Pods never run, and a
 * deleted Namespace stays Terminating (tests use fresh names).
 */
export interface ApiServer {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  /** An admin kubeconfig file (cluster-admin through system:masters). */
  readonly kubeconfig: string;
  /** A kubeconfig for another user (client certificate CN=user, O=each group): RBAC applies. */
  kubeconfigFor(user: string, groups?: readonly string[]): string;
  /** Runs Debian's kubectl against this server as admin: its stdout; throws with stderr on failure. */
  kubectl(args: readonly string[], input?: string): string;
  /** Stops the apiserver only (etcd keeps the data); `start()` brings it back on the same port. */
  stopApiServer(): Promise<void>;
  startApiServer(): Promise<void>;
  /** Compacts etcd at its current revision: a watch from an older resourceVersion then gets 410 Gone. */
  compact(): Promise<void>;
  /** Stops both processes and removes every file. */
  stop(): Promise<void>;
}

export interface ApiServerOptions {
  /** More kube-apiserver flags (e.g. `--watch-cache=false`). */
  readonly flags?: readonly string[];
}

/** The directory of kube-apiserver and etcd, built (or found in the cache) by test/k8s/build.sh. */
function binaries(): string {
  return execFileSync(inCheckout('test/k8s/build.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

/**
 * Why the Kubernetes tests cannot run here, or undefined when they can. In CI a missing piece
 * is a failure, elsewhere a loud skip.
 */
export function k8sUnavailable(): string | undefined {
  let why: string | undefined;
  try {
    binaries();
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch (e) {
    why = `kube-apiserver, etcd, kubectl or openssl missing: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (why === undefined) return undefined;
  if (process.env['CI']) throw new Error(why);
  console.warn(`\n!!! SKIPPED Kubernetes tests: ${why}\n`);
  return why;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Every process still running: killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function launch(file: string, args: string[], log: string): ChildProcess {
  const out = `${log}`;
  writeFileSync(out, '');
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const append = (b: Buffer) => writeFileSync(out, b, { flag: 'a' });
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

function kill(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  return exited;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Certificates and keys for one test cluster, made with openssl in `dir`. */
class Pki {
  constructor(private readonly dir: string) {
    this.openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=nsm-rx-test-ca', '-keyout', this.path('ca.key'), '-out', this.path('ca.crt')]);
    this.openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', this.path('sa.key')]);
    this.issue('server', '/CN=kube-apiserver', 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth');
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  /** A certificate `<name>.crt` + key `<name>.key` signed by the CA. */
  issue(name: string, subject: string, extensions = 'extendedKeyUsage=clientAuth'): void {
    const ext = this.path(`${name}.ext`);
    writeFileSync(ext, `${extensions}\n`);
    this.openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', subject, '-keyout', this.path(`${name}.key`), '-out', this.path(`${name}.csr`)]);
    this.openssl(['x509', '-req', '-in', this.path(`${name}.csr`), '-CA', this.path('ca.crt'), '-CAkey', this.path('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', this.path(`${name}.crt`)]);
  }

  private openssl(args: string[]): void {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  }
}

/** Starts etcd and kube-apiserver and waits until /readyz says ok and RBAC's bootstrap roles exist. */
export async function startApiServer(options: ApiServerOptions = {}): Promise<ApiServer> {
  const bin = binaries();
  const dir = mkdtempSync(join(tmpdir(), 'nsm-rx-k8s-'));
  const pki = new Pki(dir);
  const [etcdClient, etcdPeer, securePort] = [await freePort(), await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${etcdClient}`;
  const peerUrl = `http://127.0.0.1:${etcdPeer}`;
  const url = `https://127.0.0.1:${securePort}`;

  const etcd = launch(
    join(bin, 'etcd'),
    ['--name=default', `--data-dir=${join(dir, 'etcd')}`, `--listen-client-urls=${etcdUrl}`, `--advertise-client-urls=${etcdUrl}`, `--listen-peer-urls=${peerUrl}`, `--initial-advertise-peer-urls=${peerUrl}`, `--initial-cluster=default=${peerUrl}`, '--log-level=warn', '--quota-backend-bytes=1073741824'],
    join(dir, 'etcd.log'),
  );

  const apiserverArgs = [
    `--etcd-servers=${etcdUrl}`,
    `--secure-port=${securePort}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    // Required with a loopback advertise address; nothing reconciles the kubernetes Service then.
    '--endpoint-reconciler-type=none',
    `--cert-dir=${join(dir, 'certs')}`,
    `--tls-cert-file=${pki.path('server.crt')}`,
    `--tls-private-key-file=${pki.path('server.key')}`,
    `--client-ca-file=${pki.path('ca.crt')}`,
    `--service-account-key-file=${pki.path('sa.key')}`,
    `--service-account-signing-key-file=${pki.path('sa.key')}`,
    '--service-account-issuer=https://kubernetes.default.svc',
    '--authorization-mode=RBAC',
    '--service-cluster-ip-range=10.96.0.0/16',
    // The forwarder and nsmgr DaemonSets are privileged, as upstream's.
    '--allow-privileged=true',
    // No controller-manager makes a namespace's default ServiceAccount: Pods would be refused.
    '--disable-admission-plugins=ServiceAccount',
    '--v=1',
    ...(options.flags ?? []),
  ];
  let apiserver: ChildProcess | undefined;
  let apiserverLogs = 0;

  const kubeconfigFor = (user: string, groups: readonly string[] = []): string => {
    const name = `user-${user.replace(/[^a-zA-Z0-9-]/g, '-')}`;
    pki.issue(name, `/CN=${user}${groups.map((g) => `/O=${g}`).join('')}`);
    const file = pki.path(`${name}.kubeconfig`);
    const b64 = (f: string) => readFileSync(pki.path(f)).toString('base64');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: test\n  cluster:\n    server: ${url}\n    certificate-authority-data: ${b64('ca.crt')}`,
        'users:',
        `- name: ${name}\n  user:\n    client-certificate-data: ${b64(`${name}.crt`)}\n    client-key-data: ${b64(`${name}.key`)}`,
        'contexts:',
        `- name: test\n  context:\n    cluster: test\n    user: ${name}`,
        'current-context: test',
        '',
      ].join('\n'),
    );
    return file;
  };
  const kubeconfig = kubeconfigFor('admin', ['system:masters']);

  /** GET on the apiserver as admin: status and body, or undefined while it does not answer. */
  const get = (path: string): Promise<{ status: number; body: string } | undefined> =>
    new Promise((resolve) => {
      const req = request(`${url}${path}`, { ca: readFileSync(pki.path('ca.crt')), cert: readFileSync(pki.path('user-admin.crt')), key: readFileSync(pki.path('user-admin.key')), timeout: 2000 }, (res) => {
        let body = '';
        res.on('data', (b: Buffer) => (body += b.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', () => resolve(undefined));
      req.on('timeout', () => req.destroy());
      req.end();
    });

  const startApi = async (): Promise<void> => {
    apiserver = launch(join(bin, 'kube-apiserver'), apiserverArgs, join(dir, `apiserver-${apiserverLogs++}.log`));
    const started = apiserver;
    for (let i = 0; i < 600; i++) {
      if (started.exitCode !== null) throw new Error(`kube-apiserver exited (${started.exitCode}):\n${readFileSync(join(dir, `apiserver-${apiserverLogs - 1}.log`), 'utf8').slice(-3000)}`);
      const ready = await get('/readyz');
      // The bootstrap ClusterRoles (view, edit, …) come a moment after /readyz.
      if (ready?.status === 200 && (await get('/apis/rbac.authorization.k8s.io/v1/clusterroles/view'))?.status === 200) return;
      await sleep(100);
    }
    throw new Error('kube-apiserver did not become ready in 60 s');
  };

  /** etcd's JSON gateway (`/v3/...`). */
  const etcdCall = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(`${etcdUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`etcd ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };

  const stopAll = async (): Promise<void> => {
    await kill(apiserver);
    await kill(etcd);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await startApi();
  } catch (e) {
    const etcdLog = readFileSync(join(dir, 'etcd.log'), 'utf8').slice(-2000);
    await stopAll();
    throw new Error(`${e instanceof Error ? e.message : String(e)}\netcd said:\n${etcdLog}`);
  }

  return {
    url,
    kubeconfig,
    kubeconfigFor,
    kubectl(args, input) {
      try {
        return execFileSync('kubectl', [`--kubeconfig=${kubeconfig}`, ...args], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
      } catch (e) {
        const err = e as { stderr?: string; message: string };
        throw new Error(`kubectl ${args.join(' ')}: ${err.stderr ?? err.message}`);
      }
    },
    stopApiServer: () => kill(apiserver),
    startApiServer: startApi,
    async compact() {
      const range = await etcdCall('/v3/kv/range', { key: Buffer.from('/').toString('base64') });
      const revision = (range['header'] as { revision: string }).revision;
      await etcdCall('/v3/kv/compaction', { revision, physical: true });
    },
    stop: stopAll,
  };
}
