import { createServer, type Server } from 'node:https';
import type { Observable } from 'rxjs';
import type { Logger } from '../../operators/tools/log.js';
import { admissionPatch, type AdmissionRequest } from './patch.js';

export type Review = (request: AdmissionRequest) => ReturnType<typeof admissionPatch>;

/** A serving certificate chain and its key (PEM). */
export interface ServingCertificate {
  readonly cert: string;
  readonly key: string;
}

/** Largest AdmissionReview read (the apiserver's own request limit is 3 MiB). */
const maxBody = 8 << 20;

/** The AdmissionReview v1 answer: always allowed; patched when there is a patch. */
function answer(uid: string, result: ReturnType<Review>): unknown {
  const patch = 'patch' in result ? { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(result.patch)).toString('base64') } : {};
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true, ...patch } };
}

/**
 * The webhook's HTTPS server (upstream: `:443`): `POST /mutate` answers an AdmissionReview v1,
 * `GET /ready` says 200. A request that is not an AdmissionReview (bad JSON, no `request.uid`)
 * gets 400 naming what is wrong; anything the webhook does not patch (other kinds, operations,
 * unannotated objects, an object that is not what its kind says) is allowed unchanged, so the
 * webhook never blocks a Pod by mistake.
 *
 * It serves the latest of `certificates` (a rotating SVID): handshakes after an emission get the
 * new certificate; the subscription ends with the server. Listen once the first one is there.
 */
export function admissionWebhookServer(certificates: Observable<ServingCertificate>, review: Review, log: Logger): Server {
  const server = createServer({ minVersion: 'TLSv1.2' }, (req, res) => {
    const reply = (code: number, body?: unknown) => {
      res.writeHead(code, body === undefined ? {} : { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' });
      res.end(body === undefined ? undefined : typeof body === 'string' ? `${body}\n` : JSON.stringify(body));
    };
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === '/ready') return reply(200);
    if (req.method !== 'POST' || path !== '/mutate') return reply(404, `no ${req.method} ${path}: the webhook serves POST /mutate and GET /ready`);
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size <= maxBody) chunks.push(b);
    });
    req.on('end', () => {
      if (size > maxBody) return reply(413, `AdmissionReview larger than ${maxBody} bytes`);
      let request: AdmissionRequest | undefined;
      try {
        request = (JSON.parse(Buffer.concat(chunks).toString()) as { request?: AdmissionRequest }).request;
      } catch (e) {
        return reply(400, `malformed AdmissionReview: ${(e as Error).message}`);
      }
      if (typeof request?.uid !== 'string' || typeof request.kind?.kind !== 'string') return reply(400, 'malformed AdmissionReview: request.uid and request.kind.kind are required');
      let result: ReturnType<Review>;
      try {
        result = review(request);
      } catch (e) {
        // Upstream allows an object that does not decode as its kind, unpatched.
        result = { skip: `malformed ${request.kind.kind}: ${(e as Error).message}` };
        log.warn('admission review of a malformed object: allowed unpatched', { uid: request.uid, kind: request.kind.kind, error: (e as Error).message });
      }
      log.debug('admission review', { uid: request.uid, kind: request.kind.kind, namespace: request.namespace, ...('skip' in result ? { unpatched: result.skip } : { patched: result.patch.length }) });
      reply(200, answer(request.uid, result));
    });
  });
  const following = certificates.subscribe({
    next: ({ cert, key }) => server.setSecureContext({ cert, key, minVersion: 'TLSv1.2' }),
    error: (e: unknown) => log.warn('serving certificate stream failed; the last one stays', { error: e instanceof Error ? e.message : String(e) }),
  });
  server.once('close', () => following.unsubscribe());
  return server;
}
