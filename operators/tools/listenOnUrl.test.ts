import type { NetworkInterfaceInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { publicUrl, type InterfaceAddresses } from './listenOnUrl.js';
import { parseNsmUrl } from './nsmUrl.js';

const addr = (address: string): NetworkInterfaceInfo =>
  address.includes(':')
    ? { address, family: 'IPv6', netmask: 'ffff:ffff:ffff:ffff::', mac: '00:00:00:00:00:00', internal: address === '::1', cidr: null, scopeid: 0 }
    : { address, family: 'IPv4', netmask: '255.255.0.0', mac: '00:00:00:00:00:00', internal: address.startsWith('127.'), cidr: null };

const interfaces = (spec: Record<string, string[]>): InterfaceAddresses => Object.fromEntries(Object.entries(spec).map(([name, a]) => [name, a.map(addr)]));

const pick = (listenOn: string, spec: Record<string, string[]>): string | undefined =>
  publicUrl(listenOn === '' ? [] : listenOn.split(',').map(parseNsmUrl), interfaces(spec))?.href;

describe('publicUrl (upstream listenonurl.GetPublicURL over net.InterfaceAddrs)', () => {
  const node = { lo: ['127.0.0.1', '::1'], eth0: ['fe80::1', '2001:db8::5'], veth1: ['169.254.7.1', 'fe80::2'] };

  it('fills an empty tcp host with the first non-loopback IPv4 address, whatever IPv6 comes before it', () => {
    expect(pick('unix:///a.sock,tcp://:5001', node)).toBe('tcp://169.254.7.1:5001');
  });

  it('takes IPv4 in interface order', () => {
    expect(pick('tcp://:5001', { lo: ['127.0.0.1'], a: ['169.254.1.1'], b: ['169.254.2.1'] })).toBe('tcp://169.254.1.1:5001');
  });

  it('without IPv4 takes the first global unicast IPv6 address (link-local and loopback skipped)', () => {
    expect(pick('tcp://:5001', { lo: ['::1'], eth0: ['fe80::1', 'fd00::7', '2001:db8::5'] })).toBe('tcp://[fd00::7]:5001');
  });

  it('keeps the URL when no address qualifies', () => {
    expect(pick('tcp://:5001', { lo: ['127.0.0.1', '::1'], eth0: ['fe80::1'] })).toBe('tcp://:5001');
  });

  it.each(['tcp://0.0.0.0:5001', 'tcp://[::]:5001', 'tcp://10.1.2.3:5001'])('advertises %s verbatim, as upstream (only an empty host is filled)', (u) => {
    expect(pick(u, node)).toBe(u);
  });

  it('uses the first tcp URL, else the first URL', () => {
    expect(pick('unix:///a.sock,tcp://127.0.0.1:1,tcp://:2', node)).toBe('tcp://127.0.0.1:1');
    expect(pick('unix:///a.sock,unix:///b.sock', node)).toBe('unix:///a.sock');
    expect(pick('', node)).toBeUndefined();
  });
});
