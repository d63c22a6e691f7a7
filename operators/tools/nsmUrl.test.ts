import { describe, expect, it } from 'vitest';
import { parseNsmUrl } from './nsmUrl.js';

describe('parseNsmUrl', () => {
  it.each([
    ['unix:///var/lib/networkservicemesh/nsm.io.sock', { scheme: 'unix', path: '/var/lib/networkservicemesh/nsm.io.sock' }],
    ['unix:/tmp/a.sock', { scheme: 'unix', path: '/tmp/a.sock' }],
    ['unix:///tmp/with%20space.sock', { scheme: 'unix', path: '/tmp/with space.sock' }],
    ['tcp://localhost:5001', { scheme: 'tcp', host: 'localhost', port: 5001, href: 'tcp://localhost:5001' }],
    ['tcp://:5002', { scheme: 'tcp', host: '', port: 5002 }],
    ['tcp://[::1]:5001', { scheme: 'tcp', host: '::1', port: 5001, href: 'tcp://[::1]:5001' }],
    ['TCP://10.0.0.1:5001/', { scheme: 'tcp', host: '10.0.0.1', port: 5001 }],
    ['registry:5002', { scheme: 'tcp', host: 'registry', port: 5002, href: 'tcp://registry:5002' }],
    ['nsmgr-proxy.default.svc:5004', { scheme: 'tcp', host: 'nsmgr-proxy.default.svc', port: 5004 }],
    ['[fe80::1]:80', { scheme: 'tcp', host: 'fe80::1', port: 80 }],
    ['inode://4/1234567', { scheme: 'inode', dev: '4', ino: '1234567', href: 'inode://4/1234567' }],
  ] as const)('%s', (input, want) => expect(parseNsmUrl(input)).toMatchObject(want));

  it.each(['', 'registry', 'unix://relative', 'unix:rel.sock', 'tcp://localhost', 'tcp://host:99999', 'http://x:1', ':5002', 'inode://a/b', 'a b:1'])(
    'rejects %j',
    (input) => expect(() => parseNsmUrl(input)).toThrow(JSON.stringify(input)),
  );
});
