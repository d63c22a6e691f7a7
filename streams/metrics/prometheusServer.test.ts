import { createServer, type Server } from 'node:net';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { BehaviorSubject } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { createCa, ipAddress, issueServerCertificate, type IssuedCertificate } from '../spiffe/ca.js';
import { parseListenOn, servePrometheus, type PrometheusServer } from './prometheusServer.js';

const pem = (c: IssuedCertificate) => ({ cert: c.cert.toString(), key: c.key.export({ type: 'pkcs8', format: 'pem' }).toString() });
const ca = createCa('metrics.test', new Date(), 3600_000);
const leaf = () => pem(issueServerCertificate(ca, 'metrics', [ipAddress('127.0.0.1')], new Date(), 3600_000));
const text = async () => '# TYPE up gauge\nup 1\n';

const open: PrometheusServer[] = [];
const held: Server[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  for (const s of held.splice(0)) s.close();
});
const serve = async (options: Omit<Parameters<typeof servePrometheus>[0], 'metrics'>) => {
  const s = await servePrometheus({ metrics: text, ...options });
  open.push(s);
  return s;
};

/** One HTTPS GET on a fresh connection trusting the test CA: status, body, the served certificate's serial, TLS version. */
const get = (url: string, client: { cert?: string; key?: string } = {}) =>
  new Promise<{ status: number; body: string; serial: string; protocol: string | null }>((resolve, reject) => {
    const req = request(url, { ca: ca.cert.toString(), agent: false, ...client }, (res) => {
      const socket = res.socket as import('node:tls').TLSSocket;
      const [serial, protocol] = [socket.getPeerCertificate().serialNumber, socket.getProtocol()];
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, serial, protocol }));
    });
    req.on('error', reject);
    req.end();
  });

describe('servePrometheus (upstream sdk tools/prometheus)', () => {
  it('plain HTTP without a certificate stream: /metrics is the exposition text; anything else is 404', async () => {
    const s = await serve({ listenOn: '127.0.0.1:0' });
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const ok = await fetch(s.url);
    expect([ok.status, ok.headers.get('content-type'), await ok.text()]).toEqual([200, 'text/plain; version=0.0.4; charset=utf-8', '# TYPE up gauge\nup 1\n']);
    expect((await fetch(s.url.replace('/metrics', '/'))).status).toBe(404);
  });

  it('HTTPS with TLS 1.3 from the certificate stream; a new certificate (a rotated SVID) is served from the next connection on', async () => {
    const first = leaf();
    const certificates = new BehaviorSubject(first);
    const s = await serve({ listenOn: '127.0.0.1:0', tls: certificates });
    const before = await get(s.url);
    expect([before.status, before.protocol, before.body]).toEqual([200, 'TLSv1.3', '# TYPE up gauge\nup 1\n']);
    certificates.next(leaf());
    const after = await get(s.url);
    expect(after.status).toBe(200);
    expect(after.serial).not.toBe(before.serial);
  });

  it('with a CA (NSM_PROMETHEUS_CA_FILE) a scraper must show a certificate it signed', async () => {
    const s = await serve({ listenOn: '127.0.0.1:0', tls: new BehaviorSubject({ ...leaf(), ca: ca.cert.toString() }) });
    await expect(get(s.url)).rejects.toThrow(/certificate required|socket hang up|ECONNRESET/);
    expect((await get(s.url, leaf())).status).toBe(200);
  });

  it('a busy address is tried again every second until NSM_PROMETHEUS_MAX_BIND_THRESHOLD, then fails naming it', async () => {
    const squatter = createServer();
    held.push(squatter);
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    const port = (squatter.address() as AddressInfo).port;
    const started = Date.now();
    await expect(serve({ listenOn: `127.0.0.1:${port}`, maxBindThresholdMs: 1500 })).rejects.toThrow(`Prometheus cannot listen on 127.0.0.1:${port}: listen EADDRINUSE`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000); // tried again once
    // Freed while it waits: it binds.
    const waiting = serve({ listenOn: `127.0.0.1:${port}`, maxBindThresholdMs: 10_000 });
    squatter.close();
    expect((await waiting).url).toBe(`http://127.0.0.1:${port}/metrics`);
  });

  it('NSM_PROMETHEUS_LISTEN_ON must be host:port', () => {
    expect(parseListenOn(':8081')).toEqual([undefined, 8081]);
    expect(parseListenOn('[::1]:9090')).toEqual(['::1', 9090]);
    expect(() => parseListenOn('8081')).toThrow('NSM_PROMETHEUS_LISTEN_ON="8081": expected host:port (e.g. :8081 or 127.0.0.1:8081)');
    expect(() => parseListenOn(':99999')).toThrow('expected host:port');
  });
});
