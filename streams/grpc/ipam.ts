import type { Observable } from 'rxjs';
import { IPAMService, type PrefixRequest, type PrefixResponse } from '../../proto/gen/ipam.js';
import type { Context } from '../../operators/core/context.js';
import { bidiStreamCall, type CallChannel } from './call.js';
import type { GrpcServer } from './server.js';

/** Serves `ipam.IPAM` (vl3 prefixes) from a function of each NSE's request stream. */
export function serveIpam(server: GrpcServer, managePrefixes: (requests: Observable<PrefixRequest>, ctx: Context) => Observable<PrefixResponse>): GrpcServer {
  return server.serve('ipam.IPAM', IPAMService, { managePrefixes });
}

/** An NSE's ManagePrefixes stream: `requests` go out, the answers come back; unsubscribe ends it. */
export const managePrefixesCall = (channel: CallChannel, requests: Observable<PrefixRequest>, ctx: Context): Observable<PrefixResponse> =>
  bidiStreamCall(channel, IPAMService.managePrefixes, requests, ctx);
