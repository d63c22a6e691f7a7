import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { BehaviorSubject } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../operators/tools/log.js';
import { createCa, ipAddress, issueServerCertificate } from '../../streams/spiffe/ca.js';
import { admissionPatch, type InjectionConfig } from './patch.js';
import { admissionWebhookServer, type ServingCertificate } from './server.js';

const config: InjectionConfig = {
  annotation: 'networkservicemesh.io',
  labels: {},
  nsurlEnvName: 'NSM_NETWORK_SERVICES',
  initContainerImages: ['ghcr.io/nsm-rx/nsc-init:1.0'],
  containerImages: ['ghcr.io/nsm-rx/nsc:1.0'],
  envs: [],
  resources: { limits: {}, requests: {} },
};
const ca = createCa('webhook.test', new Date(), 3600_000);
const issue = (): ServingCertificate => {
  const leaf = issueServerCertificate(ca, 'webhook', [ipAddress('127.0.0.1')], new Date(), 3600_000);
  return { cert: leaf.cert.toString(), key: leaf.key.export({ type: 'pkcs8', format: 'pem' }).toString() };
};

let close: (() => Promise<void>) | undefined;
afterEach(() => close?.());

async function serve(certificates: BehaviorSubject<ServingCertificate>): Promise<number> {
  const server = admissionWebhookServer(certificates, (r) => admissionPatch(r, config, () => undefined), silentLogger);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return (server.address() as AddressInfo).port;
}

/** One request on a fresh connection, trusting the test CA only; with the certificate served. */
const call = (port: number, method: string, path: string, body?: string) =>
  new Promise<{ status: number; body: string; serial: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, ca: ca.cert.toString(), agent: false }, (res) => {
      const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
      let text = '';
      res.on('data', (b: Buffer) => (text += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, serial }));
    });
    req.on('error', reject);
    req.end(body);
  });
const review = (request: unknown) => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });

describe('admissionWebhookServer', () => {
  it('answers an annotated Pod with an allowed AdmissionReview carrying the base64 JSONPatch; GET /ready is 200', async () => {
    const port = await serve(new BehaviorSubject(issue()));
    expect((await call(port, 'GET', '/ready')).status).toBe(200);
    const res = await call(port, 'POST', '/mutate', review({ uid: 'u1', kind: { kind: 'Pod' }, operation: 'CREATE', namespace: 'a', object: { metadata: { generateName: 'p-', annotations: { 'networkservicemesh.io': 'kernel://s/nsm-1' } }, spec: { containers: [{ name: 'app' }] } } }));
    const { response } = JSON.parse(res.body) as { response: { uid: string; allowed: boolean; patchType: string; patch: string } };
    expect(response).toMatchObject({ uid: 'u1', allowed: true, patchType: 'JSONPatch' });
    const patch = JSON.parse(Buffer.from(response.patch, 'base64').toString()) as { path: string }[];
    expect(patch.map((op) => op.path)).toEqual(['/spec/initContainers', '/spec/containers', '/spec/volumes', '/metadata/labels']);
  });

  it('bad input: not JSON or no request is 400 naming what is wrong; an unknown kind or an object that is not its kind is allowed unpatched; other paths 404', async () => {
    const port = await serve(new BehaviorSubject(issue()));
    expect(await call(port, 'POST', '/mutate', '{not json')).toMatchObject({ status: 400, body: expect.stringMatching(/^malformed AdmissionReview: /) as string });
    expect(await call(port, 'POST', '/mutate', '{}')).toMatchObject({ status: 400, body: 'malformed AdmissionReview: request.uid and request.kind.kind are required\n' });
    const allowed = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u2', allowed: true } };
    expect(JSON.parse((await call(port, 'POST', '/mutate', review({ uid: 'u2', kind: { kind: 'Secret' }, operation: 'CREATE', object: {} }))).body)).toEqual(allowed);
    // Containers that are not a list (the apiserver would never send it; another caller might).
    const broken = { metadata: { annotations: { 'networkservicemesh.io': 'kernel://s/nsm-1' } }, spec: { containers: 5 } };
    expect(JSON.parse((await call(port, 'POST', '/mutate', review({ uid: 'u2', kind: { kind: 'Pod' }, operation: 'CREATE', object: broken }))).body)).toEqual(allowed);
    expect((await call(port, 'GET', '/mutate')).status).toBe(404);
  });

  it('serves the latest certificate of its stream (a rotated SVID) on new connections', async () => {
    const certificates = new BehaviorSubject(issue());
    const port = await serve(certificates);
    const first = (await call(port, 'GET', '/ready')).serial;
    expect(first).toBe(new X509Certificate(certificates.value.cert).serialNumber);
    certificates.next(issue());
    const second = (await call(port, 'GET', '/ready')).serial;
    expect(second).not.toBe(first);
    expect(second).toBe(new X509Certificate(certificates.value.cert).serialNumber);
  });
});
