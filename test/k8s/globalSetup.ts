import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { inCheckout } from '../process/processMesh.js';

/**
 * Before any test: builds the real kube-apiserver and etcd of the Kubernetes tests (cached
 * outside the repository; the first build takes about 8 minutes, later runs a moment), so no
 * test's hook waits for a compiler. Without Go the Kubernetes tests say so themselves.
 */
export default function setup(): void {
  if (!existsSync('/usr/local/go/bin/go') && !process.env['PATH']?.split(':').some((d) => existsSync(`${d}/go`))) return;
  console.log('== kube-apiserver and etcd for the Kubernetes tests (test/k8s/build.sh; the first build takes minutes)');
  execFileSync(inCheckout('test/k8s/build.sh'), { stdio: ['ignore', 'ignore', 'inherit'] });
}
