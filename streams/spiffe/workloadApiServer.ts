import { chmod, mkdir, rm } from 'node:fs/promises';
import http2 from 'node:http2';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { status } from '../../operators/core/status.js';
import { concat, map, NEVER, of, type Observable, type Subscription } from 'rxjs';
import { X509BundlesResponse, X509SVIDResponse } from '../../proto/gen/workload.js';
import type { IssuedCertificate } from './ca.js';
import { peerProcess, type PeerProcess } from './peerProcess.js';
import { spiffeIdOf } from './svid.js';
import { NsmError } from '../../operators/core/errors.js';
import { refuse } from '../grpc/serverCall.js';
import { grpcMessage, lengthPrefixed } from '../grpc/wire.js';

/** What the server needs from the identity provider: SVIDs per workload, and the bundles. */
export interface WorkloadIdentities {
  /** The caller's rotating SVIDs; throws (PERMISSION_DENIED) when it gets no identity. */
  svids(caller: PeerProcess): Observable<IssuedCertificate>;
  readonly trustDomain: string;
  readonly bundle: readonly IssuedCertificate['cert'][];
  /** Federated trust domain → its roots. */
  readonly federated: ReadonlyMap<string, readonly IssuedCertificate['cert'][]>;
}

const der = (certs: readonly IssuedCertificate['cert'][]): Buffer => Buffer.concat(certs.map((c) => c.raw));

/**
 * The SPIFFE Workload API (X.509 profile) on a unix socket, spoken directly over Node's HTTP/2:
 * the server must know which process is calling (its uid, executable, environment) to pick its
 * identity, and grpc-js does not expose a unix socket's peer. Each connection's peer process is
 * looked up when it is accepted; every call on it gets that identity.
 * FetchX509SVID streams the caller's SVID with the bundles and sends a new one at every rotation;
 * FetchX509Bundles streams the bundles; the JWT and WIT profiles answer UNIMPLEMENTED.
 */
export class WorkloadApiServer {
  private readonly h2 = http2.createServer();
  private readonly net: Server;
  private readonly callers = new WeakMap<http2.ServerHttp2Session, Promise<PeerProcess | undefined>>();
  private readonly streams = new Set<Subscription>();
  private pending: Promise<PeerProcess | undefined> | undefined;
  private path: string | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly identities: WorkloadIdentities) {
    this.h2.on('session', (session) => {
      // Emitted synchronously inside `emit('connection')` below, so `pending` is this session's.
      if (this.pending) this.callers.set(session, this.pending);
    });
    this.h2.on('stream', (stream, headers) => this.serve(stream, headers));
    this.net = createServer((socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      this.pending = peerProcess(socket);
      this.h2.emit('connection', socket);
      this.pending = undefined;
    });
  }

  /** Serves on a socket path (a stale file removed, the directory made, mode 0777 like SPIRE's). */
  async listen(path: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    await rm(path, { force: true });
    await new Promise<void>((resolve, reject) => this.net.once('error', reject).listen(path, () => resolve()));
    await chmod(path, 0o777);
    this.path = path;
  }

  /** Stops serving: every open stream is cut (a workload keeps the SVID it has and retries). */
  async close(): Promise<void> {
    for (const s of this.streams) s.unsubscribe();
    this.streams.clear();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => {
      this.net.close(() => resolve());
      this.h2.close();
    });
    if (this.path) await rm(this.path, { force: true });
  }

  /** Ends a call that sent nothing yet with a status (gRPC "trailers-only" response). */
  private fail(stream: http2.ServerHttp2Stream, code: status, message: string): void {
    if (!stream.destroyed && !stream.headersSent) refuse(stream, new NsmError(code, message));
  }

  private serve(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    stream.resume(); // the requests of this API are empty messages
    const path = headers[':path'];
    if (headers['workload.spiffe.io'] !== 'true') return this.fail(stream, status.INVALID_ARGUMENT, 'security header missing from request');
    if (path === '/SpiffeWorkloadAPI/FetchX509SVID') return this.stream(stream, (caller) => this.svidResponses(caller));
    if (path === '/SpiffeWorkloadAPI/FetchX509Bundles') return this.stream(stream, () => this.bundleResponses());
    if (typeof path === 'string' && path.startsWith('/SpiffeWorkloadAPI/')) return this.fail(stream, status.UNIMPLEMENTED, `${path}: this provider serves the X.509-SVID profile only`);
    return this.fail(stream, status.UNIMPLEMENTED, `unknown method ${String(path)}`);
  }

  private stream(stream: http2.ServerHttp2Stream, messages: (caller: PeerProcess) => Observable<Uint8Array>): void {
    const known = this.callers.get(stream.session as http2.ServerHttp2Session) ?? Promise.resolve(undefined);
    void known.then((caller) => {
      if (stream.destroyed) return;
      if (caller === undefined) return this.fail(stream, status.PERMISSION_DENIED, 'no identity issued: the calling process could not be identified');
      let trailers: http2.OutgoingHttpHeaders = { 'grpc-status': String(status.OK) };
      stream.on('wantTrailers', () => stream.sendTrailers(trailers));
      const subscription = messages(caller).subscribe({
        next: (bytes) => {
          if (!stream.headersSent) stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
          stream.write(lengthPrefixed(bytes));
        },
        error: (e: unknown) => {
          const message = e instanceof Error ? e.message : String(e);
          if (!stream.headersSent) return this.fail(stream, status.PERMISSION_DENIED, message);
          trailers = { 'grpc-status': String(status.PERMISSION_DENIED), 'grpc-message': grpcMessage(message) };
          stream.end();
        },
      });
      this.streams.add(subscription);
      stream.on('close', () => {
        subscription.unsubscribe();
        this.streams.delete(subscription);
      });
    });
  }

  private svidResponses(caller: PeerProcess): Observable<Uint8Array> {
    const { bundle, federated } = this.identities;
    const federatedBundles = Object.fromEntries([...federated].map(([td, roots]) => [`spiffe://${td}`, der(roots)]));
    return this.identities.svids(caller).pipe(
      map((svid) => {
        const svids = [{ spiffeId: spiffeIdOf(svid.cert)?.href ?? '', x509Svid: svid.cert.raw, x509SvidKey: svid.key.export({ type: 'pkcs8', format: 'der' }), bundle: der(bundle), hint: '' }];
        return X509SVIDResponse.encode(X509SVIDResponse.fromPartial({ svids, federatedBundles })).finish();
      }),
    );
  }

  /** The bundles do not change while the server runs (the CA does not rotate): one message, then the stream stays open. */
  private bundleResponses(): Observable<Uint8Array> {
    const { bundle, federated } = this.identities;
    const bundles = Object.fromEntries([[`spiffe://${this.identities.trustDomain}`, der(bundle)], ...[...federated].map(([td, roots]) => [`spiffe://${td}`, der(roots)])]);
    return concat(of(X509BundlesResponse.encode(X509BundlesResponse.fromPartial({ bundles })).finish()), NEVER);
  }
}
