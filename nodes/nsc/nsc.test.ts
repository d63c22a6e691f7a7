import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { heldAnswersMesh } from '../../test/sandbox/holdAnswers.js';
import { useSandbox } from '../../test/sandbox/harness.js';
import { main } from '../cli/main.js';
import { parseNsUrl } from '../../operators/tools/nsurl.js';
import { ownNetnsUrl } from '../../dataplane/kernel/netns.js';
import { loadConfig } from '../cli/config.js';
import { requestFor } from './request.js';
import { nscSpec } from './spec.js';

const bin = resolve(import.meta.dirname, '../../bin/nsm-rx.js');

describe('nsm-rx nsc', () => {
  it('builds <NSM_NAME>-<i> requests from NSM_NETWORK_SERVICES entries: service, labels, mechanism and interface name', () => {
    const r = requestFor('app', 1, parseNsUrl('kernel://icmp-responder@my.cluster2/nsm-2?color=red&zone=a'));
    expect(r.connection?.id).toBe('app-1');
    expect(r.connection?.networkService).toBe('icmp-responder@my.cluster2');
    expect(r.connection?.labels).toEqual({ color: 'red', zone: 'a' });
    expect(r.mechanismPreferences).toEqual([{ cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'nsm-2', inodeURL: ownNetnsUrl() } }]);
    expect(ownNetnsUrl()).toBe(`file:///proc/${process.pid}/ns/net`); // a path any root peer can open: no fd passing needed
  });

  it('refuses a malformed NSM_NETWORK_SERVICES entry, naming the variable and the expected form', async () => {
    const child = spawn(process.execPath, [bin, 'nsc'], { env: { ...process.env, NSM_NETWORK_SERVICES: 'kernel://icmp-responder/nsm-1,not a url' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    expect(await new Promise<number | null>((r) => child.on('exit', r))).toBe(2);
    expect(err).toMatch(/NSM_NETWORK_SERVICES="kernel:\/\/icmp-responder\/nsm-1,not a url": expected comma-separated mechanism:\/\/network-service/);
  });

  it('applies upstream authorize.NewClient() policies by default (common + client); NSM_CLIENT_POLICIES="" turns them off', () => {
    expect(loadConfig(nscSpec, {}).clientPolicies).toEqual([
      'etc/nsm/opa/common/tokens_valid.rego',
      'etc/nsm/opa/common/tokens_chained.rego',
      'etc/nsm/opa/common/tokens_expired.rego',
      'etc/nsm/opa/client/next_token_signed.rego',
    ]);
    expect(loadConfig(nscSpec, { NSM_CLIENT_POLICIES: '' }).clientPolicies).toEqual([]);
  });

  it('accepts NSM_LABELS in upstream form (k1=v1,k2=v2) and in the k:v form, and, as upstream, does not put them into requests', () => {
    expect(loadConfig(nscSpec, { NSM_LABELS: 'app=icmp, zone=a' }).labels).toEqual(['app=icmp', 'zone=a']);
    expect(loadConfig(nscSpec, { NSM_LABELS: 'spiffe.io/spiffe-id:true' }).labels).toEqual(['spiffe.io/spiffe-id:true']);
    expect(requestFor('app', 0, parseNsUrl('kernel://icmp-responder/nsm-1')).connection?.labels).toEqual({});
  });
});

/** A process for `main` in-process: signals are emitted by the test, exits recorded. */
class FakeProcess extends EventEmitter {
  readonly exits: number[] = [];
  exit(code = 0): void {
    this.exits.push(code);
  }
}

describe('nsm-rx nsc in a sandbox (NSM_INSECURE, no-op datapath)', () => {
  const h = useSandbox({ secure: false });

  it('stopped (SIGTERM) while its Request is in flight, Closes the connection once the hops have finished it', async () => {
    const { mesh, answers, nse, closedAtNse } = await heldAnswersMesh(h.sandbox);
    const proc = new FakeProcess();
    const env = {
      NSM_NAME: 'app',
      NSM_CONNECT_TO: mesh.nodes[0]!.nsmgr.url.href,
      NSM_NETWORK_SERVICES: 'kernel://ns/nsm-1',
      NSM_INSECURE: 'true',
      NSM_CLIENT_POLICIES: '',
      NSM_LIVENESS_CHECK_ENABLED: 'false',
      NSM_LOCAL_DNS_SERVER_ENABLED: 'false',
      NSM_REQUEST_TIMEOUT: '5s',
    };
    const running = main({ argv: ['nsc'], env, proc, out: () => undefined, err: () => undefined, logWrite: () => undefined, shutdownTimeoutMs: 10_000 });
    await answers.held;
    expect(nse.leftovers()).not.toEqual([]); // the NSE has it; nobody upstream has heard yet
    proc.emit('SIGTERM', 'SIGTERM');
    answers.release();
    expect(await running).toBe(0);
    expect(proc.exits).toEqual([0]);
    expect(closedAtNse).toEqual(['app-0']);
    expect(nse.leftovers()).toEqual([]);
  });
});
