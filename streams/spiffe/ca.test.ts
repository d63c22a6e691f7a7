import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCa, dnsName, ipAddress, issueServerCertificate, issueSvid, newRsaKey } from './ca.js';

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

  it('issues RSA-2048 server certificates from an RSA CA (the admission webhook\'s), accepted by openssl for their DNS and IP names', () => {
    const rsaCa = createCa('admission-webhook-svc.nsm-system', now, 3_600_000, newRsaKey());
    const leaf = issueServerCertificate(rsaCa, 'admission-webhook-svc.nsm-system.svc', [dnsName('admission-webhook-svc.nsm-system.svc'), ipAddress('127.0.0.1')], now, 3_600_000, newRsaKey());
    expect(leaf.key.asymmetricKeyType).toBe('rsa');
    expect(leaf.key.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(leaf.cert.verify(rsaCa.cert.publicKey)).toBe(true);
    expect(leaf.cert.checkHost('admission-webhook-svc.nsm-system.svc')).toBe('admission-webhook-svc.nsm-system.svc');
    expect(leaf.cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    const dir = mkdtempSync(join(tmpdir(), 'nsm-ca-'));
    writeFileSync(join(dir, 'ca.pem'), rsaCa.cert.toString());
    writeFileSync(join(dir, 'leaf.pem'), leaf.cert.toString());
    const out = execFileSync('openssl', ['verify', '-purpose', 'sslserver', '-verify_ip', '127.0.0.1', '-CAfile', join(dir, 'ca.pem'), join(dir, 'leaf.pem')]).toString();
    expect(out).toContain('OK');
    expect(execFileSync('openssl', ['x509', '-noout', '-text', '-in', join(dir, 'leaf.pem')]).toString()).toContain('sha256WithRSAEncryption');
  });
});
