import { describe, expect, it } from 'vitest';
import { parseNetworkServices, parseNsUrl } from './nsurl.js';

describe('parseNsUrl: upstream nsurl samples', () => {
  it('vfio://my-service/nsm-1', () => {
    expect(parseNsUrl('vfio://my-service/nsm-1')).toEqual({
      url: 'vfio://my-service/nsm-1',
      networkService: 'my-service',
      mechanism: { cls: 'LOCAL', type: 'VFIO', parameters: { name: 'nsm-1' } },
      labels: {},
    });
  });

  it('vfio://second-service?sriovToken=intel/10G: no interface, a label with a slash', () => {
    const u = parseNsUrl('vfio://second-service?sriovToken=intel/10G');
    expect(u.networkService).toBe('second-service');
    expect(u.mechanism).toEqual({ cls: 'LOCAL', type: 'VFIO', parameters: {} });
    expect(u.labels).toEqual({ sriovToken: 'intel/10G' });
  });

  it('memif://my-vpp-service?A=1&B=2&C=3', () => {
    const u = parseNsUrl('memif://my-vpp-service?A=1&B=2&C=3');
    expect(u.mechanism.type).toBe('MEMIF');
    expect(u.labels).toEqual({ A: '1', B: '2', C: '3' });
  });

  it('kernel://my-service@dc.example.com/ms1: interdomain service', () => {
    const u = parseNsUrl('kernel://my-service@dc.example.com/ms1');
    expect(u.networkService).toBe('my-service@dc.example.com');
    expect(u.mechanism).toEqual({ cls: 'LOCAL', type: 'KERNEL', parameters: { name: 'ms1' } });
  });
});

describe('parseNsUrl: Go url semantics', () => {
  it('the scheme is case-insensitive; the type is upper case', () => {
    expect(parseNsUrl('KeRnEl://ns/x').mechanism.type).toBe('KERNEL');
  });

  it('a repeated key joins its values with commas, in order; a bare key is ""; + is a space; escapes decoded', () => {
    expect(parseNsUrl('kernel://ns/if?color=red&size=1&color=blue&flag&msg=a+b%2Cc').labels).toEqual({
      color: 'red,blue',
      size: '1',
      flag: '',
      msg: 'a b,c',
    });
  });

  it('query pairs Go drops: a bad escape, a semicolon, empty pairs', () => {
    expect(parseNsUrl('kernel://ns/if?a=%zz&b;c=1&&d=2&=e').labels).toEqual({ d: '2', '': 'e' });
  });

  it('the interface is the last path segment (decoded); a trailing slash gives an empty name', () => {
    expect(parseNsUrl('kernel://ns/a/b/nsm-2').mechanism.parameters).toEqual({ name: 'nsm-2' });
    expect(parseNsUrl('kernel://ns/').mechanism.parameters).toEqual({ name: '' });
    expect(parseNsUrl('kernel://ns/my%2Dif').mechanism.parameters).toEqual({ name: 'my-if' });
    expect(parseNsUrl('kernel://ns').mechanism.parameters).toEqual({});
    // + is a space only in the query
    expect(parseNsUrl('kernel://ns/a+b').mechanism.parameters).toEqual({ name: 'a+b' });
  });

  it('a port is dropped from the service (Hostname), a password from the user; the fragment is ignored', () => {
    expect(parseNsUrl('kernel://ns:80/x').networkService).toBe('ns');
    expect(parseNsUrl('kernel://svc:secret@dom.example/x').networkService).toBe('svc@dom.example');
    expect(parseNsUrl('kernel://ns/x?a=1#frag').labels).toEqual({ a: '1' });
  });

  it('a "?" alone ends the URL with no labels', () => {
    expect(parseNsUrl('kernel://ns/x?')).toMatchObject({ networkService: 'ns', labels: {}, mechanism: { parameters: { name: 'x' } } });
  });

  it('surrounding white space is trimmed', () => {
    expect(parseNsUrl('  kernel://ns/x ').networkService).toBe('ns');
  });
});

describe('parseNsUrl: errors name the entry', () => {
  it.each([
    ['my-service', 'missing mechanism'],
    ['://ns/x', 'missing mechanism'],
    ['kernel:ns/x', 'must be followed by "//"'],
    ['kernel:///x', 'missing network service'],
    ['kernel://ns:abc/x', 'invalid port ":abc"'],
    ['kernel://n s/x', 'invalid character " " in host'],
    ['kernel://ns/x%zz', 'invalid URL escape "%zz"'],
    ['kernel://ns/x\tname', 'invalid control character'],
    ['kernel://a b@ns/x', 'invalid userinfo'],
    ['kernel://[::1/x', "missing ']' in host"],
  ])('%s', (entry, why) => {
    expect(() => parseNsUrl(entry)).toThrow(why);
    expect(() => parseNsUrl(entry)).toThrow(`network service URL ${JSON.stringify(entry)}`);
  });
});

describe('parseNetworkServices', () => {
  it('splits the comma-separated list', () => {
    const list = parseNetworkServices('kernel://ns@dom/nsm-1?app=x,kernel://ns2/nsm-2');
    expect(list.map((u) => [u.networkService, u.mechanism.parameters['name'], u.labels])).toEqual([
      ['ns@dom', 'nsm-1', { app: 'x' }],
      ['ns2', 'nsm-2', {}],
    ]);
  });

  it('a blank value is an empty list', () => {
    expect(parseNetworkServices('')).toEqual([]);
    expect(parseNetworkServices('  ')).toEqual([]);
  });

  it('a bad or empty entry is named with its position', () => {
    expect(() => parseNetworkServices('kernel://a/x,nonsense')).toThrow(/^entry 2: network service URL "nonsense": missing mechanism/);
    expect(() => parseNetworkServices('kernel://a/x,,kernel://b/y')).toThrow('entry 2 is empty');
  });
});
