import { createPrivateKey } from 'node:crypto';
import { Metadata } from '../../operators/core/callMetadata.js';
import { defer, finalize, map, retry, timer, type Observable } from 'rxjs';
import { SpiffeWorkloadAPIService, type X509SVIDResponse } from '../../proto/gen/workload.js';
import { Context } from '../../operators/core/context.js';
import type { NsmUrl } from '../../operators/tools/nsmUrl.js';
import { outgoingMetadataKey, serverStreamCall } from '../grpc/call.js';
import { ClientChannel } from '../grpc/clientChannel.js';
import { certificatesFromDer, StreamedX509Source, x509Svid, type X509Context } from './svid.js';

/** The variable naming the Workload API socket, and its default (the SPIRE agent's). */
export const SPIFFE_ENDPOINT_SOCKET = 'SPIFFE_ENDPOINT_SOCKET';
export const defaultEndpointSocket = 'unix:///run/spire/sockets/agent.sock';

const trustDomainOf = (key: string): string => key.replace(/^spiffe:\/\//, '');

/** A FetchX509SVID message as an X.509 context: its first (default) SVID, own and federated bundles. */
export function x509ContextOf(response: X509SVIDResponse): X509Context {
  const [first] = response.svids;
  if (first === undefined) throw new Error('the Workload API sent no X.509-SVID');
  const svid = x509Svid(certificatesFromDer(first.x509Svid), createPrivateKey({ key: Buffer.from(first.x509SvidKey), format: 'der', type: 'pkcs8' }));
  const bundles = new Map([[svid.id.trustDomain, certificatesFromDer(first.bundle)]]);
  for (const [td, roots] of Object.entries(response.federatedBundles)) bundles.set(trustDomainOf(td), certificatesFromDer(roots));
  return { svid, bundles };
}

/**
 * `fetchX509Contexts(socket)`: the Workload API's FetchX509SVID stream as X.509 contexts (the
 * current one, then one per rotation). Every call carries the `workload.spiffe.io: true` header
 * the API demands.
 */
export function fetchX509Contexts(socket: NsmUrl): Observable<X509Context> {
  return defer(() => {
    const client = new ClientChannel(socket);
    const header = new Metadata();
    header.set('workload.spiffe.io', 'true');
    return serverStreamCall({ client }, SpiffeWorkloadAPIService.fetchX509Svid, {}, Context.background.with(outgoingMetadataKey, header)).pipe(
      map(x509ContextOf),
      finalize(() => client.close()),
    );
  });
}

/**
 * This process's identity from the Workload API, kept current: the stream is re-opened after
 * any error (the agent restarting, not up yet) every `retryMs` (250 ms); `onError` hears why.
 */
export function workloadApiSource(socket: NsmUrl, options: { retryMs?: number; onError?: (e: unknown) => void } = {}): { source: StreamedX509Source; stop: () => void } {
  const source = new StreamedX509Source();
  const subscription = fetchX509Contexts(socket)
    .pipe(
      retry({
        delay: (e: unknown) => {
          options.onError?.(e);
          return timer(options.retryMs ?? 250);
        },
      }),
    )
    .subscribe((ctx) => source.push(ctx));
  return { source, stop: () => subscription.unsubscribe() };
}
