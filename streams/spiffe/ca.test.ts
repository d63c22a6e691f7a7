import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCa, issueSvid } from './ca.js';

const now = new Date();

describe('createCa / issueSvid', () => {
  const ca = createCa('nsm.local', now, 3_600_000);
  const svid = issueSvid(ca, 'spiffe://nsm.local/ns/default/nsc', now, 600_000);

  it('issues an SVID that chains to the CA and names its SPIFFE ID', () => {
    expect(ca.cert.ca).toBe(true);
    expect(svid.cert.ca).toBe(false);
    expect(svid.cert.subjectAltName).toBe('URI:spiffe://nsm.local/ns/default/nsc');
    expect(svid.cert.checkIssued(ca.cert)).toBe(true);
    expect(svid.cert.verify(ca.cert.publicKey)).toBe(true);
    expect(svid.cert.checkPrivateKey(svid.key)).toBe(true);
    expect(Date.parse(svid.cert.validTo)).toBeLessThanOrEqual(now.getTime() + 600_000);
  });

  it('is accepted by openssl as an SSL client and server certificate of that CA', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nsm-ca-'));
    writeFileSync(join(dir, 'ca.pem'), ca.cert.toString());
    writeFileSync(join(dir, 'svid.pem'), svid.cert.toString());
    for (const purpose of ['sslclient', 'sslserver']) {
      const out = execFileSync('openssl', ['verify', '-purpose', purpose, '-CAfile', join(dir, 'ca.pem'), join(dir, 'svid.pem')]).toString();
      expect(out).toContain('OK');
    }
  });

  it('never outlives its CA, keeps a given key, and refuses IDs that are not workload SPIFFE IDs', () => {
    const long = issueSvid(ca, 'spiffe://nsm.local/long', now, 10 * 3_600_000, svid.key);
    expect(long.cert.validTo).toBe(ca.cert.validTo);
    expect(long.cert.checkPrivateKey(svid.key)).toBe(true);
    expect(() => issueSvid(ca, 'spiffe://nsm.local', now, 1000)).toThrow(/names a trust domain/);
    expect(() => issueSvid(ca, 'http://nsm.local/x', now, 1000)).toThrow(/scheme must be spiffe/);
    expect(() => createCa('Bad_Domain:80', now, 1000)).toThrow(/trust domain/);
  });
});
